"""Keep an evaluation in the store: the record ``gate`` checks an ``evaluation.json`` against,
written in the same transaction as the ``evaluate`` audit event."""

from __future__ import annotations

from goldenpath.auth.principal import Principal
from goldenpath.errors import RunError
from goldenpath.evaluation.record import RecordedEvaluation
from goldenpath.project import Project
from goldenpath.store import Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import now
from goldenpath.store.evaluations import EvaluationRecord, insert_evaluation
from goldenpath.store.schema import evaluations as evaluations_table

__all__ = ["keep_evaluation"]


def keep_evaluation(
    project: Project, actor: Principal, saved: RecordedEvaluation, *, store: Store | None = None
) -> EvaluationRecord:
    """Record evaluation ``saved`` (written to the project and its MLflow run) in the store and
    audit ``evaluate`` with its SHA-256 and the model artefact's digest, in one transaction;
    the role (``developer``) is checked again there, claiming an unclaimed store."""
    result = saved.result
    model = result.model
    if model.artifact_sha256 is None:
        raise RunError(
            f"evaluation {result.evaluation_id} names no model artefact digest, so it cannot be "
            "recorded",
            hint="evaluate the model with this goldenpath: goldenpath evaluate <model>",
        )
    kept = EvaluationRecord(
        evaluation_id=result.evaluation_id,
        project=project.name,
        model_name=model.name,
        model_version=model.version,
        run_id=model.run_id,
        evaluation_sha256=saved.sha256,
        artifact_sha256=model.artifact_sha256,
        data_fingerprint=result.data.fingerprint,
        created_at=now(),
        actor=actor.name,
    )
    store = store or open_store(project)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action="evaluate")
        insert_evaluation(connection, kept)
        record(
            connection,
            actor=actor,
            action="evaluate",
            project=project.name,
            subject=model.run_id if model.version is None else f"{model.name}/{model.version}",
            payload={
                "evaluation_id": result.evaluation_id,
                "run_id": model.run_id,
                "data": result.data.fingerprint,
                "evaluation_sha256": saved.sha256,
                "artifact_sha256": model.artifact_sha256,
                "against": None
                if result.comparison is None
                else result.comparison.against.model_dump(mode="json"),
            },
            rows=[(evaluations_table, (kept.evaluation_id,))],
        )
    return kept
