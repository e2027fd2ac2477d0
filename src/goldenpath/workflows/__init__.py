"""The public verbs that span layers: ``validate``, ``train``, ``reproduce`` and ``evaluate``.

Each one is what its command is, whoever calls it (the CLI, a notebook, a scheduler): it checks
the caller's role before any work, does the work through the layers below, records what it did
(MLflow, the project's files) and appends the audit event. The CLI only parses, calls one of
these and formats the result.

``gate``, ``approve``, ``promote``, ``rollback`` and ``write_model_card`` follow the same rule
in their own layers (:mod:`goldenpath.gates`, :mod:`goldenpath.registry`,
:mod:`goldenpath.reports.model_card`): they need nothing above them.
"""

from __future__ import annotations

from goldenpath.workflows.evaluation import evaluate, evaluate_steps
from goldenpath.workflows.training import REPRODUCE_STEPS, TRAIN_STEPS, reproduce, train
from goldenpath.workflows.validation import Validation, validate

__all__ = [
    "REPRODUCE_STEPS",
    "TRAIN_STEPS",
    "Validation",
    "evaluate",
    "evaluate_steps",
    "reproduce",
    "train",
    "validate",
]
