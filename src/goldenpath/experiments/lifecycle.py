"""The life of an online experiment: start, stop, decide, list.

``start`` (role developer) resolves the spec entry's arms to versions (the control must be the
champion: what users get today; the treatment needs a passing gate decision under the gates in
force, compared with that champion) and records a ``running`` row in ``gp_experiments``: the
server routes by it from its next poll. At most one experiment runs per project; a name runs
once (a new experiment is a new name, and so a new salt).

``stop`` ends the routing: ``decide --stop`` by a person, or :func:`stop_experiment` by a
guardrail, as goldenpath's own service principal (no role asked: a stop only takes the
treatment away from users, as a guardrail's halt of a canary does). ``decide --ship`` promotes
the treatment to champion through :func:`goldenpath.registry.promotion.promote`, with every
check and approval that promotion asks for (risk tier high: an approver's independent approval
of the treatment's decision), then marks the experiment shipped. Each write is an audit event
that binds the row (``experiment.start``, ``experiment.stop``, ``experiment.decide``), so
``audit verify`` names a row edited in the database, and the server refuses to route by one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection

from goldenpath.auth.principal import Principal, identify
from goldenpath.errors import ExperimentRefused, RecordNotFound
from goldenpath.store import Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import canonical_json, lock_chain, now
from goldenpath.store.bindings import require_bound
from goldenpath.store.experiments import (
    Experiment,
    experiments_of,
    get_experiment,
    insert_experiment,
    running_experiment,
    update_experiment,
)
from goldenpath.store.records import current_version, decisions_of, promotion_history
from goldenpath.store.schema import decisions as decisions_table
from goldenpath.store.schema import experiments as experiments_table

if TYPE_CHECKING:
    from goldenpath.project import Project
    from goldenpath.spec.experiments import ExperimentSpec

__all__ = [
    "ExperimentDecision",
    "ExperimentEntry",
    "active_experiment",
    "decide_experiment",
    "experiment_record",
    "list_experiments",
    "spec_sha256",
    "start_experiment",
    "stop_experiment",
]


def _spec_of(project: Project, name: str) -> ExperimentSpec:
    for entry in project.spec.experiments:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in project.spec.experiments) or "none"
    raise RecordNotFound(
        f"project {project.name!r} has no experiment {name!r} in {project.spec_path.name} "
        f"(experiments: {known})",
        hint="add it under experiments: (docs/experiments.md, The spec)",
    )


def _spec_text(entry: ExperimentSpec) -> str:
    return canonical_json(entry.model_dump(mode="json"))


def spec_sha256(entry: ExperimentSpec) -> str:
    """SHA-256 of the spec entry's canonical JSON (what a started experiment records)."""
    return hashlib.sha256(_spec_text(entry).encode("utf-8")).hexdigest()


def _subject(name: str) -> str:
    return f"experiments/{name}"


def _bound(connection: Connection, experiment: Experiment, relying: str) -> None:
    require_bound(connection, [(experiments_table, (experiment.experiment_id,))], relying=relying)


def _resolve(connection: Connection, project: Project, ref: str, arm: str) -> str:
    if ref not in ("champion", "challenger"):
        return ref
    version = current_version(connection, project.name, ref)
    if version is None:
        hint = (
            "promote a model first: goldenpath promote NAME/VERSION"
            if ref == "champion"
            else f"promote the candidate: goldenpath promote {project.name}/VERSION --to "
            "challenger, or name its version as the treatment"
        )
        raise ExperimentRefused(
            f"the {arm} is the {ref}, and project {project.name!r} has no {ref}", hint=hint
        )
    return version


def _check_treatment(connection: Connection, project: Project, version: str, champion: str) -> str:
    """The id of the decision that lets ``version`` be the treatment; ExperimentRefused when it
    has none that passes under the gates in force, compared with the champion."""
    from goldenpath.gates.decision import gates_fingerprint

    target = f"{project.name}/{version}"
    found = decisions_of(connection, project.name, version)
    if not found:
        raise ExperimentRefused(
            f"the treatment {target} has no gate decision: only a model that passed its gates "
            "meets users",
            hint=f"goldenpath evaluate {target} --against champion, then goldenpath gate {target}",
        )
    decision = found[0]
    require_bound(
        connection,
        [(decisions_table, (decision.decision_id,))],
        relying=f"starting an experiment on decision {decision.decision_id}",
    )
    if decision.gates_sha256 != gates_fingerprint(project):
        raise ExperimentRefused(
            f"the latest decision on the treatment {target} ({decision.decision_id}) was taken "
            "under other gates (the spec's gates or risk tier changed since)",
            hint=f"gate it again: goldenpath gate {target}",
        )
    if decision.verdict == "fail":
        raise ExperimentRefused(
            f"the treatment {target} failed its gates (decision {decision.decision_id}, "
            f"{len(decision.failing)} blocking rule(s): "
            f"{', '.join(r.rule for r in decision.failing)})",
            hint="a candidate that fails its gates does not meet users; change what the rules "
            "name, then evaluate and gate it again",
            details={"decision_id": decision.decision_id},
        )
    if decision.compared_with != champion:
        compared = (
            "was not compared with any model"
            if decision.compared_with is None
            else f"was compared with v{decision.compared_with}"
        )
        raise ExperimentRefused(
            f"the evaluation behind decision {decision.decision_id} on the treatment {target} "
            f"{compared}, but the control is the champion v{champion}",
            hint=f"goldenpath evaluate {target} --against champion, then goldenpath gate {target}",
        )
    return decision.decision_id


def start_experiment(project: Project, name: str, *, store: Store | None = None) -> Experiment:
    """Start the spec's experiment ``name`` (role developer): the server routes by it from its
    next poll. ExperimentRefused when another experiment runs, when ``name`` ran before, when
    the control is not the champion or the treatment has no passing gate decision compared
    with it; RecordNotFound when the spec has no such experiment."""
    entry = _spec_of(project, name)
    store = store or open_store(project)
    action = f"start experiment {name}"
    with store.transaction() as connection:
        actor = identify(connection)
        authorize(connection, actor, "developer", project=project.name, action=action)
        lock_chain(connection)  # one start at a time: the check below holds until commit
        running = running_experiment(connection, project.name)
        if running is not None:
            raise ExperimentRefused(
                f"experiment {running.name!r} is running in project {project.name!r} (started "
                f"{running.started_at} by {running.started_by}); one experiment runs at a time",
                hint=f"decide it first: goldenpath experiment decide {running.name} --ship|--stop "
                '--reason "..."',
            )
        before = get_experiment(connection, project.name, name)
        if before is not None:
            raise ExperimentRefused(
                f"experiment {name!r} already ran ({before.status}, started {before.started_at}): "
                "an experiment runs once, so that its units and readout are its own",
                hint="give the next experiment a new name in the spec (its salt follows it)",
            )
        champion = current_version(connection, project.name, "champion")
        control = _resolve(connection, project, entry.control, "control")
        treatment = _resolve(connection, project, entry.treatment, "treatment")
        if control != champion:
            raise ExperimentRefused(
                f"the control v{control} is not the champion ("
                + ("there is none" if champion is None else f"v{champion}")
                + "): the control arm is what users get today",
                hint="name control: champion in the spec",
            )
        if treatment == control:
            raise ExperimentRefused(
                f"the treatment and the control are both v{control}",
                hint="name another version as the treatment (or promote one --to challenger)",
            )
        decision_id = _check_treatment(connection, project, treatment, control)
        unit = entry.unit or project.spec.data.id_column
        assert unit is not None  # the spec's validator asks for one
        experiment = Experiment(
            experiment_id=uuid.uuid4().hex,
            project=project.name,
            name=name,
            spec_sha256=spec_sha256(entry),
            spec=_spec_text(entry),
            control_version=control,
            treatment_version=treatment,
            unit=unit,
            allocation=float(entry.allocation),
            salt=entry.assignment_salt,
            status="running",
            started_at=now(),
            started_by=actor.name,
        )
        insert_experiment(connection, experiment)
        record(
            connection,
            actor=actor,
            action="experiment.start",
            project=project.name,
            subject=_subject(name),
            payload={
                "experiment_id": experiment.experiment_id,
                "spec_sha256": experiment.spec_sha256,
                "control_version": control,
                "treatment_version": treatment,
                "treatment_decision": decision_id,
                "allocation": experiment.allocation,
                "unit": unit,
            },
            rows=[(experiments_table, (experiment.experiment_id,))],
        )
    return experiment


def _started(connection: Connection, project: Project, name: str) -> Experiment:
    found = get_experiment(connection, project.name, name)
    if found is None:
        raise RecordNotFound(
            f"experiment {name!r} of project {project.name!r} was never started",
            hint=f"goldenpath experiment start {name}",
        )
    return found


def stop_experiment(
    project: Project,
    name: str,
    *,
    reason: str,
    actor: Principal | None = None,
    details: Mapping[str, object] | None = None,
    store: Store | None = None,
) -> Experiment:
    """Stop experiment ``name``'s routing now, undecided: the guardrails' stop (``details`` say
    what was breached, recorded in the ``experiment.stop`` event).

    ``actor``: a service principal acting for goldenpath itself (the guardrails'
    :data:`goldenpath.registry.controls.GUARDRAILS_ACTOR`), recorded as the one who stopped it
    with no role asked: a stop only takes the treatment away from users, as a guardrail's halt
    does. Without it, the principal acting now stops it and needs role developer. An
    experiment that is not running is returned as it is, and nothing is written (a guardrail
    may fire again before the server's next poll)."""
    store = store or open_store(project)
    service = actor is not None
    with store.transaction() as connection:
        if actor is None:
            actor = identify(connection)
            action = f"stop experiment {name}"
            authorize(connection, actor, "developer", project=project.name, action=action)
        lock_chain(connection)
        experiment = _started(connection, project, name)
        if not experiment.running:
            return experiment
        _bound(connection, experiment, f"stopping experiment {name!r}")
        at = now()
        if not update_experiment(
            connection,
            experiment.experiment_id,
            expected="running",
            status="stopped",
            stopped_at=at,
            stopped_by=actor.name,
            reason=reason,
        ):
            return _started(connection, project, name)  # stopped meanwhile
        record(
            connection,
            actor=actor,
            action="experiment.stop",
            project=project.name,
            subject=_subject(name),
            payload={
                "experiment_id": experiment.experiment_id,
                "reason": reason,
                "details": dict(details or {}),
                "service": service,  # goldenpath's own principal: no role was asked
            },
            rows=[(experiments_table, (experiment.experiment_id,))],
        )
        return _started(connection, project, name)


@dataclass(frozen=True)
class ExperimentDecision:
    """What ``decide`` did: the experiment as it now stands, and for a ship the promotion that
    moved the champion (None when the champion was already the treatment)."""

    experiment: Experiment
    promotion_id: int | None

    def to_dict(self) -> dict[str, object]:
        return {**self.experiment.to_dict(), "shipped_by_promotion": self.promotion_id}


def _champion_move(connection: Connection, project: Project, version: str) -> int | None:
    """The newest completed move of the champion to ``version`` (its promotion id)."""
    moves = [
        p
        for p in promotion_history(connection, project.name)
        if p.alias == "champion" and p.to_version == version and p.state == "completed"
    ]
    return moves[-1].id if moves else None


def decide_experiment(
    project: Project, name: str, *, ship: bool, reason: str, store: Store | None = None
) -> ExperimentDecision:
    """Record the decision on experiment ``name`` (role developer), with ``reason``: ``ship``
    promotes the treatment to champion (every check and approval of ``promote`` applies; a
    refusal changes nothing), otherwise it is stopped. Either way the server stops routing by
    it at its next poll. An experiment a guardrail stopped can still be decided; one decided
    already cannot (ExperimentRefused)."""
    if not reason.strip():
        raise ExperimentRefused(
            f"deciding experiment {name!r} needs a reason",
            hint='say why: --reason "..." (it is recorded in the audit trail)',
        )
    decision = "ship" if ship else "stop"
    store = store or open_store(project)
    action = f"decide experiment {name}"
    with store.transaction() as connection:
        actor = identify(connection)
        authorize(connection, actor, "developer", project=project.name, action=action)
        experiment = _started(connection, project, name)
        _bound(connection, experiment, f"deciding experiment {name!r}")
        if experiment.decision is not None:
            raise ExperimentRefused(
                f"experiment {name!r} was already decided: {experiment.decision} by "
                f"{experiment.decided_by} at {experiment.decided_at}",
                hint="an experiment is decided once; start a new one to test again",
            )
        champion = current_version(connection, project.name, "champion")
    promotion_id: int | None = None
    if ship and champion != experiment.treatment_version:
        from goldenpath.registry.promotion import promote

        moved = promote(
            project,
            f"{project.name}/{experiment.treatment_version}",
            to="champion",
            reason=f"experiment {name} shipped: {reason}",
            store=store,
        )
        promotion_id = moved.id
    with store.transaction() as connection:
        experiment = _started(connection, project, name)
        if experiment.decision is not None:
            raise ExperimentRefused(f"experiment {name!r} was decided meanwhile")
        if ship and promotion_id is None:  # the champion was the treatment already
            promotion_id = _champion_move(connection, project, experiment.treatment_version)
        at = now()
        values: dict[str, object] = {
            "status": "shipped" if ship else "stopped",
            "decision": decision,
            "decided_by": actor.name,
            "decided_at": at,
            "decision_reason": reason,
            "promotion_id": promotion_id,
        }
        if experiment.running:
            values.update(stopped_at=at, stopped_by=actor.name, reason=reason)
        if not update_experiment(
            connection, experiment.experiment_id, expected=experiment.status, **values
        ):
            raise ExperimentRefused(f"experiment {name!r} changed meanwhile; try again")
        record(
            connection,
            actor=actor,
            action="experiment.decide",
            project=project.name,
            subject=_subject(name),
            payload={
                "experiment_id": experiment.experiment_id,
                "decision": decision,
                "reason": reason,
                "was": experiment.status,
                "promotion_id": promotion_id,
                "treatment_version": experiment.treatment_version,
            },
            rows=[(experiments_table, (experiment.experiment_id,))],
        )
        decided = _started(connection, project, name)
    return ExperimentDecision(decided, promotion_id)


ListedStatus = Literal["not_started", "running", "stopped", "shipped"]


@dataclass(frozen=True)
class ExperimentEntry:
    """One experiment as ``list`` shows it: in the spec, in the store, or both; ``spec_changed``
    when the spec entry differs from the one it was started with."""

    name: str
    status: ListedStatus
    in_spec: bool
    spec_changed: bool
    record: Experiment | None

    def to_dict(self) -> dict[str, object]:
        started = {} if self.record is None else self.record.to_dict()
        return {
            **started,
            "name": self.name,
            "status": self.status,
            "in_spec": self.in_spec,
            "spec_changed": self.spec_changed,
        }


def list_experiments(project: Project, *, store: Store | None = None) -> list[ExperimentEntry]:
    """The spec's experiments in spec order (each with its state), then experiments the store
    holds that the spec no longer names, newest first (a read: writes nothing)."""
    with (store or open_store(project)).reading() as connection:
        started = {e.name: e for e in experiments_of(connection, project.name)}
    out = []
    for entry in project.spec.experiments:
        found = started.pop(entry.name, None)
        out.append(
            ExperimentEntry(
                entry.name,
                "not_started" if found is None else found.status,
                True,
                found is not None and found.spec_sha256 != spec_sha256(entry),
                found,
            )
        )
    out.extend(ExperimentEntry(e.name, e.status, False, False, e) for e in started.values())
    return out


def experiment_record(project: Project, name: str, *, store: Store | None = None) -> Experiment:
    """The started experiment ``name`` as the store holds it (versions, unit, allocation, salt,
    times); RecordNotFound when it was never started."""
    with (store or open_store(project)).reading() as connection:
        return _started(connection, project, name)


def active_experiment(project: Project, *, store: Store | None = None) -> Experiment | None:
    """The running experiment the server routes by (None: none runs);
    :class:`~goldenpath.errors.AuditChainBroken` when its row was changed outside goldenpath."""
    with (store or open_store(project)).reading() as connection:
        found = running_experiment(connection, project.name)
        if found is not None:
            _bound(connection, found, f"routing by experiment {found.name!r}")
        return found
