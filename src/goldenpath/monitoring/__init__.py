"""Monitoring: profiles of the reference and of windows of traffic, drift and data quality."""

from __future__ import annotations

from goldenpath.monitoring.drift import DriftThresholds, FeatureDrift, window_drift
from goldenpath.monitoring.monitor import MonitorResult, monitor, reference_profile
from goldenpath.monitoring.profile import FrameProfile, profile_frame

__all__ = [
    "DriftThresholds",
    "FeatureDrift",
    "FrameProfile",
    "MonitorResult",
    "monitor",
    "profile_frame",
    "reference_profile",
    "window_drift",
]
