"""Evaluation: metrics with bootstrap confidence intervals, slices, calibration, fairness."""

from __future__ import annotations

from goldenpath.evaluation.bootstrap import bootstrap
from goldenpath.evaluation.document import SCHEMA_VERSION, Estimate, EvaluationDocument
from goldenpath.evaluation.evaluate import EvaluationResult, evaluate
from goldenpath.evaluation.metrics import METRICS, Metric, Scored, metrics_for
from goldenpath.evaluation.record import RecordedEvaluation, record_evaluation

__all__ = [
    "METRICS",
    "SCHEMA_VERSION",
    "Estimate",
    "EvaluationDocument",
    "EvaluationResult",
    "Metric",
    "RecordedEvaluation",
    "Scored",
    "bootstrap",
    "evaluate",
    "metrics_for",
    "record_evaluation",
]
