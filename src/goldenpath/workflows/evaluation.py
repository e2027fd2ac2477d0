"""``evaluate`` as the library's public verb: role, evaluation, report, record, audit."""

from __future__ import annotations

from goldenpath.evaluation.evaluate import evaluate as compute_evaluation
from goldenpath.evaluation.record import RecordedEvaluation, record_evaluation
from goldenpath.project import Project
from goldenpath.registry.access import authorized_actor
from goldenpath.registry.evaluations import keep_evaluation
from goldenpath.reports import render_evaluation_html
from goldenpath.training.run import StepCallback

__all__ = ["evaluate", "evaluate_steps"]


def evaluate_steps(*, against: str | None) -> int:
    """How many times :func:`evaluate` calls ``on_step``: a progress bar's length."""
    return 11 if against is None else 12


def _noop(_: str) -> None:
    return None


def evaluate(
    project: Project,
    ref: str = "latest",
    *,
    data: str | None = None,
    against: str | None = None,
    on_step: StepCallback = _noop,
) -> RecordedEvaluation:
    """Evaluate model ``ref`` (role ``developer``) on its run's held-out rows or on ``data``,
    compared with ``against`` if given; keep ``evaluation.json`` and ``evaluation.html`` in the
    project and in the model's MLflow run (where ``gate`` and the model card read them), and
    record the evaluation in the store (the SHA-256 of its JSON, the digest of the model
    artefact it evaluated, the rows' fingerprint: what ``gate`` checks) together with the
    ``evaluate`` audit event. Nothing is written when the caller may not evaluate."""
    actor = authorized_actor(project, "evaluate")
    result = compute_evaluation(project, ref, data=data, against=against, on_step=on_step)
    on_step("Writing the report")
    html = render_evaluation_html(result, min_support=project.spec.evaluation.min_slice_support)
    saved = record_evaluation(project, result, html=html)
    keep_evaluation(project, actor, saved)
    return saved
