"""Evaluation: metrics with bootstrap confidence intervals, slices, calibration, fairness."""

from __future__ import annotations

from goldenpath.evaluation.bootstrap import Estimate, bootstrap
from goldenpath.evaluation.evaluate import SCHEMA_VERSION, EvaluationResult, evaluate
from goldenpath.evaluation.metrics import METRICS, Metric, Scored, metrics_for
from goldenpath.evaluation.record import RecordedEvaluation, record_evaluation

__all__ = [
    "METRICS",
    "SCHEMA_VERSION",
    "Estimate",
    "EvaluationResult",
    "Metric",
    "RecordedEvaluation",
    "Scored",
    "bootstrap",
    "evaluate",
    "metrics_for",
    "record_evaluation",
]
