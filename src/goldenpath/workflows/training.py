"""``train`` and ``reproduce`` as the library's public verbs: role, work, record, audit."""

from __future__ import annotations

from goldenpath.project import Project
from goldenpath.registry.access import audit, authorized_actor
from goldenpath.training.reproduce import DEFAULT_TOLERANCE, ReproduceResult, reproduce_run
from goldenpath.training.run import StepCallback, TrainResult, train_run

__all__ = ["REPRODUCE_STEPS", "TRAIN_STEPS", "reproduce", "train"]

# How many times each verb calls ``on_step``: a progress bar's length.
TRAIN_STEPS = 6
REPRODUCE_STEPS = 6


def _noop(_: str) -> None:
    return None


def train(project: Project, *, on_step: StepCallback = _noop) -> TrainResult:
    """Train the project's model (role ``developer``): fit it, record the run with its lineage
    in MLflow, register the model version, keep the monitoring reference with the run, and
    audit ``train``. Nothing is written when the caller may not train."""
    from goldenpath.monitoring import reference

    actor = authorized_actor(project, "train")
    result = train_run(project, on_step=on_step)
    on_step("Profiling the reference for monitoring")
    reference(project, result.run_id)  # kept with the run: monitoring never re-reads the data
    audit(
        project,
        actor,
        "train",
        f"{result.model_name}/{result.model_version}",
        result.audit_payload(),  # what gate's lineage rules read: not the run's mutable tags
    )
    return result


def reproduce(
    project: Project,
    run: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    label_tolerance: float = 0.0,
    on_step: StepCallback = _noop,
) -> ReproduceResult:
    """Retrain run ``run`` (an id or ``latest``) from its recorded inputs and compare its test
    predictions (role ``developer``); the verdict is tagged on the run and audited (the
    audited verdict is what ``gate``'s ``reproduced`` rule reads)."""
    actor = authorized_actor(project, "reproduce a run")
    result = reproduce_run(
        project, run, tolerance=tolerance, label_tolerance=label_tolerance, on_step=on_step
    )
    audit(
        project,
        actor,
        "reproduce",
        result.run_id,
        {
            "reproduced": result.reproduced,
            "tolerance": result.tolerance,
            "label_tolerance": result.label_tolerance,
        },
    )
    return result
