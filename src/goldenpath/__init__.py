"""goldenpath: the golden path for shipping machine-learning models.

The library behind the ``goldenpath`` command; every command is one call here::

    import goldenpath

    project = goldenpath.open_project("my-churn")
    goldenpath.validate(project)                                     # goldenpath validate
    result = goldenpath.train(project)                               # goldenpath train
    goldenpath.list_runs(project)                                    # goldenpath runs
    goldenpath.reproduce(project, result.run_id)                     # goldenpath reproduce
    goldenpath.evaluate(project, result.run_id)                      # goldenpath evaluate
    decision = goldenpath.gate(project, "my-churn/1")                # goldenpath gate
    goldenpath.approve(project, decision.decision_id)                # goldenpath approve
    goldenpath.promote(project, "my-churn/1", to="champion")         # goldenpath promote
    goldenpath.rollback(project)                                     # goldenpath rollback
    goldenpath.history(project)                                      # goldenpath history
    goldenpath.write_model_card(project, "my-churn/1")               # goldenpath card

Names are imported lazily so that ``goldenpath --help`` does not pay for pandas and MLflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from goldenpath._version import __version__

if TYPE_CHECKING:
    from goldenpath.data import Dataset, load_dataset
    from goldenpath.errors import GoldenpathError
    from goldenpath.evaluation import EvaluationResult, RecordedEvaluation
    from goldenpath.gates import gate
    from goldenpath.project import Project, open_project
    from goldenpath.registry import approve, history, promote, rollback
    from goldenpath.reports.model_card import write_model_card
    from goldenpath.scaffold import available_examples, init_project
    from goldenpath.spec import Spec, load_spec, parse_spec
    from goldenpath.store import Decision, Promotion
    from goldenpath.training import ReproduceResult, RunSummary, TrainResult, list_runs
    from goldenpath.workflows import Validation, evaluate, reproduce, train, validate

__all__ = [
    "Dataset",
    "Decision",
    "EvaluationResult",
    "GoldenpathError",
    "Project",
    "Promotion",
    "RecordedEvaluation",
    "ReproduceResult",
    "RunSummary",
    "Spec",
    "TrainResult",
    "Validation",
    "__version__",
    "approve",
    "available_examples",
    "evaluate",
    "gate",
    "history",
    "init_project",
    "list_runs",
    "load_dataset",
    "load_spec",
    "open_project",
    "parse_spec",
    "promote",
    "reproduce",
    "rollback",
    "train",
    "validate",
    "write_model_card",
]

_LOCATIONS = {
    "Dataset": "goldenpath.data",
    "load_dataset": "goldenpath.data",
    "GoldenpathError": "goldenpath.errors",
    "EvaluationResult": "goldenpath.evaluation",
    "RecordedEvaluation": "goldenpath.evaluation",
    "evaluate": "goldenpath.workflows",
    "Project": "goldenpath.project",
    "open_project": "goldenpath.project",
    "available_examples": "goldenpath.scaffold",
    "init_project": "goldenpath.scaffold",
    "Spec": "goldenpath.spec",
    "load_spec": "goldenpath.spec",
    "parse_spec": "goldenpath.spec",
    "ReproduceResult": "goldenpath.training",
    "RunSummary": "goldenpath.training",
    "TrainResult": "goldenpath.training",
    "list_runs": "goldenpath.training",
    "reproduce": "goldenpath.workflows",
    "train": "goldenpath.workflows",
    "Validation": "goldenpath.workflows",
    "validate": "goldenpath.workflows",
    "gate": "goldenpath.gates",
    "approve": "goldenpath.registry",
    "history": "goldenpath.registry",
    "promote": "goldenpath.registry",
    "rollback": "goldenpath.registry",
    "write_model_card": "goldenpath.reports.model_card",
    "Decision": "goldenpath.store",
    "Promotion": "goldenpath.store",
}


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'goldenpath' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
