"""Monitoring: the prediction log, window by window, against the model's reference: data
quality, drift (per feature, on outputs, multivariate), estimated and realised performance,
alerts."""

from __future__ import annotations

from goldenpath.monitoring.drift import DriftThresholds, FeatureDrift, window_drift
from goldenpath.monitoring.monitor import MonitorRun, run_monitor
from goldenpath.monitoring.profile import FrameProfile, profile_frame
from goldenpath.monitoring.reference import Reference, reference

__all__ = [
    "DriftThresholds",
    "FeatureDrift",
    "FrameProfile",
    "MonitorRun",
    "Reference",
    "profile_frame",
    "reference",
    "run_monitor",
    "window_drift",
]
