"""Monitoring: the prediction log, window by window, against the model's reference: data
quality, drift (per feature, on outputs, multivariate), estimated performance (CBPE) and loss
(DLE), realised performance, alerts. Results are typed documents
(:mod:`goldenpath.monitoring.results`)."""

from __future__ import annotations

from goldenpath.monitoring.drift import DriftThresholds, FeatureDrift, window_drift
from goldenpath.monitoring.estimation import EstimatedPerformance
from goldenpath.monitoring.loss_estimation import EstimatedLoss, LossEstimator
from goldenpath.monitoring.monitor import MonitorRun, run_monitor
from goldenpath.monitoring.multivariate import DomainDrift
from goldenpath.monitoring.profile import FrameProfile, profile_frame
from goldenpath.monitoring.reference import Reference, reference
from goldenpath.monitoring.results import (
    Alert,
    AlertEvent,
    MonitoringReport,
    MonitoringWindow,
    MonitorOutput,
)

__all__ = [
    "Alert",
    "AlertEvent",
    "DomainDrift",
    "DriftThresholds",
    "EstimatedLoss",
    "EstimatedPerformance",
    "FeatureDrift",
    "FrameProfile",
    "LossEstimator",
    "MonitorOutput",
    "MonitorRun",
    "MonitoringReport",
    "MonitoringWindow",
    "Reference",
    "profile_frame",
    "reference",
    "run_monitor",
    "window_drift",
]
