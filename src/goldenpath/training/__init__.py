"""Training: the entrypoint, runs with lineage in MLflow, and reproduction of runs.

The mechanics live here; the public verbs :func:`goldenpath.train` and
:func:`goldenpath.reproduce` (in :mod:`goldenpath.workflows`) add the role check and the audit.
"""

from __future__ import annotations

from goldenpath.training.entrypoint import Entrypoint, load_entrypoint
from goldenpath.training.reproduce import DEFAULT_TOLERANCE, ReproduceResult, reproduce_run
from goldenpath.training.run import FittedModel, TrainResult, fit_model, train_run
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
    "reproduce_run",
    "tracking_uri",
    "train_run",
]
