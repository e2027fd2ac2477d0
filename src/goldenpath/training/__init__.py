"""Training: the entrypoint, runs with lineage in MLflow, and reproduction of runs."""

from __future__ import annotations

from goldenpath.training.entrypoint import Entrypoint, load_entrypoint
from goldenpath.training.reproduce import DEFAULT_TOLERANCE, ReproduceResult, reproduce
from goldenpath.training.run import FittedModel, TrainResult, fit_model, train
from goldenpath.training.tracking import RunSummary, find_run, list_runs, tracking_uri

__all__ = [
    "DEFAULT_TOLERANCE",
    "Entrypoint",
    "FittedModel",
    "ReproduceResult",
    "RunSummary",
    "TrainResult",
    "find_run",
    "fit_model",
    "list_runs",
    "load_entrypoint",
    "reproduce",
    "tracking_uri",
    "train",
]
