"""``goldenpath gate``: judge one evaluation of a model version by the spec's gates and record
the decision (every rule with its evidence, and the verdict) in the store, audited."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from goldenpath.auth.principal import acting
from goldenpath.errors import RecordNotFound
from goldenpath.evaluation.artifact import model_digest
from goldenpath.evaluation.evaluate import ModelRef, resolve_model
from goldenpath.evaluation.record import load_evaluation
from goldenpath.gates.changes import enforce_change_control, gates_sha256, gates_text
from goldenpath.gates.evidence import check_artifact, recorded_evaluation
from goldenpath.gates.rules import Lineage, apply_gates, check_gates, verdict
from goldenpath.project import Project
from goldenpath.store import Decision, Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import latest_event, now
from goldenpath.store.records import current_version, insert_decision
from goldenpath.store.schema import decisions as decisions_table

__all__ = ["gate", "gates_fingerprint"]


def gates_fingerprint(project: Project) -> str:
    """SHA-256 of the rules in force (the gates and the risk tier they depend on): a decision
    taken under other rules does not count for promotion."""
    return gates_sha256(gates_text(project.spec))


def _recorded_lineage(connection: Connection, project: str, model: ModelRef) -> Lineage:
    """The version's lineage facts from the audit trail: its ``train`` event and its run's
    newest ``reproduce`` event (not the run's tags in MLflow, which anyone can set)."""
    subject = f"{model.name}/{model.version}"
    return Lineage.from_events(
        subject=subject,
        run_id=model.run_id,
        train=latest_event(connection, project=project, action="train", subject=subject),
        reproduce=latest_event(
            connection, project=project, action="reproduce", subject=model.run_id
        ),
    )


def gate(
    project: Project,
    ref: str,
    *,
    evaluation_id: str | None = None,
    store: Store | None = None,
) -> Decision:
    """Apply the spec's gates to evaluation ``evaluation_id`` (default: the latest) of model
    version ``ref`` (``name/version``, ``name@alias`` or a run id) and record the decision.

    Only an evaluation the store recorded for this version is judged, and only if its
    ``evaluation.json`` in MLflow and the model's artefact files are still the ones recorded
    (:mod:`goldenpath.gates.evidence`): else :class:`RecordNotFound` or :class:`RegistryDrift`,
    and nothing is written. The decision names the artefact digest it checked. For risk tier
    high the gates must be the committed ones and approved (:mod:`goldenpath.gates.changes`):
    else :class:`GatesUncommitted` or :class:`GatesNotApproved`, and nothing is written."""
    check_gates(project.spec)
    store = store or open_store(project)
    actor = acting(store)
    with store.transaction() as connection:  # fail fast, before reading MLflow
        authorize(connection, actor, "developer", project=project.name, action="gate a model")
        enforce_change_control(connection, project)  # risk tier high: committed, approved gates
    model = resolve_model(project, ref)
    if model.version is None:
        raise RecordNotFound(
            f"{ref} is a run without a registered model version; gates judge versions",
            hint=f"name the version: {project.name}/VERSION",
        )
    loaded = load_evaluation(project, model.run_id, evaluation_id)
    with store.reading() as connection:
        kept = recorded_evaluation(connection, project.name, model, loaded)
    digest = model_digest(project, model.uri)
    check_artifact(kept, model, digest)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action="gate a model")
        enforce_change_control(connection, project, committed=False)  # still approved
        champion = current_version(connection, model.name, "champion")
        lineage = _recorded_lineage(connection, project.name, model)
        results = apply_gates(
            project.spec.gates,
            loaded.document,
            lineage=lineage,
            risk_tier=project.spec.project.risk_tier,
            champion=champion,
        )
        comparison = loaded.document.comparison
        decision = Decision(
            decision_id=uuid.uuid4().hex,
            project=project.name,
            model_name=model.name,
            model_version=model.version,
            run_id=model.run_id,
            evaluation_id=loaded.evaluation_id,
            evaluation_sha256=loaded.sha256,
            compared_with=None if comparison is None else comparison.against.version,
            verdict=verdict(results),
            rules=tuple(results),
            gates_sha256=gates_fingerprint(project),
            actor=actor.name,
            created_at=now(),
            artifact_sha256=digest,
        )
        insert_decision(connection, decision)
        record(
            connection,
            actor=actor,
            action="gate",
            project=project.name,
            subject=f"{model.name}/{model.version}",
            payload={
                "decision_id": decision.decision_id,
                "verdict": decision.verdict,
                "evaluation_id": decision.evaluation_id,
                "evaluation_sha256": decision.evaluation_sha256,
                "artifact_sha256": decision.artifact_sha256,
                "failing": [r.rule for r in decision.failing],
                "warnings": [r.rule for r in decision.warnings],
            },
            rows=[(decisions_table, (decision.decision_id,))],
        )
    return decision
