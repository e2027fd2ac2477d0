"""Promotion and rollback: moving ``champion`` / ``challenger`` only on evidence, crash-safely.

The store is the source of truth; the MLflow alias is the pointer serving systems read. A move
is a small state machine, each step its own transaction:

1. *intent*: a ``pending`` promotion row holding the model's lock (a unique column, so a second
   concurrent promotion of the same model fails at once), plus a ``promotion.requested`` audit
   event. Inside the same transaction the alias is re-read: if it moved since the checks, the
   promotion is a conflict (no lost update).
2. *alias moved*: ``set_registered_model_alias`` in MLflow.
3. *completed*: the row is marked ``completed``, the lock released, and the ``promote`` (or
   ``rollback``) event appended, in one transaction.

A process killed between steps leaves a ``pending`` row whose owner is dead (*stalled*). It is
settled by :func:`recover`, which ``promote`` and ``rollback`` run first (after checking the
actor's role) and ``goldenpath recover`` (:func:`recover_promotions`, role developer) runs alone:
if the MLflow alias already points at the new version the move is completed, otherwise it is
abandoned (the alias never moved); both are audited, as done by whoever settled it, so alias,
history and audit agree again. Read paths (:func:`history`, :func:`check_aliases`) never settle
anything: they run in read-only transactions, show a stalled move as ``pending`` and say how to
settle it, and do not count the alias a pending move is moving as drift.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import psutil
from sqlalchemy import Connection

from goldenpath.auth.principal import Principal, acting, identify
from goldenpath.errors import (
    DuplicateRecord,
    PromotionConflict,
    PromotionRefused,
    RecordNotFound,
    RegistryDrift,
)
from goldenpath.project import Project
from goldenpath.registry.controls import require_unpinned
from goldenpath.store import Decision, Promotion, Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import has_event, now
from goldenpath.store.bindings import require_bound
from goldenpath.store.credentials import get_credential
from goldenpath.store.records import (
    Approval,
    RuleResult,
    approvals_of,
    current_version,
    decisions_of,
    end_promotion,
    get_user,
    pending_promotions,
    promotion_history,
    start_promotion,
)
from goldenpath.store.schema import approvals as approvals_table
from goldenpath.store.schema import decisions as decisions_table
from goldenpath.store.schema import promotions as promotions_table

if TYPE_CHECKING:
    from goldenpath.training.tracking import RunRecord, Tracking

# Evaluation, gates and MLflow are imported by the functions that need them: `history` and the
# store-only commands built on this module must start without pandas, scikit-learn or MLflow.

__all__ = [
    "ALIASES",
    "Alias",
    "Drift",
    "champion_lineage",
    "check_aliases",
    "history",
    "promote",
    "recover",
    "recover_promotions",
    "rollback",
    "stalled",
    "verified_alias",
]

Alias = Literal["champion", "challenger"]
ALIASES: tuple[Alias, ...] = ("champion", "challenger")
_FOREIGN_OWNER_GRACE = timedelta(minutes=15)  # a pending move from another host: presumed alive

StepCallback = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def _owner() -> str:
    process = psutil.Process()
    return f"{socket.gethostname()}:{process.pid}:{process.create_time():.3f}"


def _owner_alive(owner: str, created_at: str) -> bool:
    host, pid, started = owner.rsplit(":", 2)
    if host != socket.gethostname():
        age = datetime.now(UTC) - datetime.fromisoformat(created_at)
        return age < _FOREIGN_OWNER_GRACE
    try:
        return f"{psutil.Process(int(pid)).create_time():.3f}" == started
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _alias_target(client: Tracking, name: str, alias: str) -> str | None:
    found = client.get_model_version_by_alias(name, alias)
    return None if found is None else found.version


def stalled(promotion: Promotion) -> bool:
    """A ``pending`` move whose process has ended (or, started on another host, is older than
    the grace period): what :func:`recover` settles."""
    return promotion.state == "pending" and not _owner_alive(promotion.owner, promotion.created_at)


def recover(
    project: Project, store: Store, client: Tracking, *, actor: Principal | None = None
) -> list[Promotion]:
    """Finish or abandon the project's stalled promotions, as ``actor`` (default: the principal
    acting now), each audited; returns them settled. Callers check the actor's role first: this
    writes (``promote``, ``rollback`` and :func:`recover_promotions` call it, never a read)."""
    with store.reading() as connection:
        stale = [p for p in pending_promotions(connection, project.name) if stalled(p)]
    if not stale:
        return []
    actor = actor or acting(store)
    settled = []
    for promotion in stale:
        target = _alias_target(client, promotion.model_name, promotion.alias)
        extra: dict[str, object] = {"recovered": True}
        done = _settle(project, store, promotion, target, extra=extra, actor=actor)
        if done is not None:
            settled.append(done)
    return settled


def recover_promotions(project: Project, *, store: Store | None = None) -> list[Promotion]:
    """``goldenpath recover``: settle the promotions a dead process left pending (role
    developer; each settled move is audited as done by the caller, for the user who asked for
    it). Returns the settled moves; an empty list when there was nothing to settle. A move
    whose process is still running is left alone."""
    from goldenpath.training.tracking import open_tracking

    store = store or open_store(project)
    with store.transaction() as connection:
        actor = identify(connection)
        authorize(connection, actor, "developer", project=project.name, action="settle promotions")
    with store.reading() as connection:
        pending = pending_promotions(connection, project.name)
    if not any(stalled(p) for p in pending):
        return []
    client = open_tracking(project, create=False)
    if client is None:
        raise RecordNotFound(
            f"project {project.name!r} has a pending promotion but no MLflow registry to read "
            "its alias from",
            hint="check MLFLOW_TRACKING_URI: it must name the registry the promotion moved",
        )
    return recover(project, store, client, actor=actor)


def _move_payload(p: Promotion) -> dict[str, object]:
    return {
        "promotion_id": p.id,
        "alias": p.alias,
        "from_version": p.from_version,
        "to_version": p.to_version,
        "kind": p.kind,
        "decision_id": p.decision_id,
        "reason": p.reason,
    }


def _rule_lines(rules: list[RuleResult]) -> str:
    def shown(value: object) -> str:
        if value is None:
            return "nothing (no evidence)"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return "\n".join(
        f"  - {r.rule}: observed {shown(r.observed)}, needs {r.bound}"
        + (f" ({r.detail})" if r.detail else "")
        for r in rules
    )


def _check_promotable(
    connection: Connection,
    project: Project,
    *,
    version: str,
    alias: Alias,
    actor: Principal,
) -> Decision:
    """The decision that allows ``version`` to become ``alias``; PromotionRefused otherwise."""
    from goldenpath.gates.changes import change_controlled, require_approved_gates
    from goldenpath.gates.decision import gates_fingerprint

    name = project.name
    target = f"{name}/{version}"
    if current_version(connection, name, alias) == version:
        raise PromotionRefused(f"{target} is already the {alias}")
    found = decisions_of(connection, name, version)
    if not found:
        raise PromotionRefused(
            f"{target} has no gate decision, so it cannot become {alias}",
            hint=f"evaluate it (with --against champion once there is one), then: "
            f"goldenpath gate {target}",
        )
    decision = found[0]
    given = approvals_of(connection, decision.decision_id)
    require_bound(  # the decision and its approvals, as goldenpath wrote them
        connection,
        [
            (decisions_table, (decision.decision_id,)),
            *((approvals_table, (a.decision_id, a.approver)) for a in given),
        ],
        relying=f"promoting {target} on decision {decision.decision_id}",
    )
    if decision.gates_sha256 != gates_fingerprint(project):
        raise PromotionRefused(
            f"the latest decision on {target} ({decision.decision_id}) was taken under other "
            "gates (the spec's gates or risk tier changed since)",
            hint=f"gate it again: goldenpath gate {target}",
        )
    if alias == "champion" and change_controlled(connection, project):
        require_approved_gates(  # risk tier high: the decision's gates were approved
            connection,
            name,
            decision.gates_sha256,
            relying=f"promoting {target} on decision {decision.decision_id}",
        )
    if decision.verdict == "fail":
        raise PromotionRefused(
            f"{target} cannot become {alias}: decision {decision.decision_id} failed "
            f"{len(decision.failing)} blocking rule(s):\n{_rule_lines(decision.failing)}",
            hint="each rule says what it needs; change what it names (the model, the data, the "
            "evaluation or the spec's gates), then evaluate and gate again",
            details={
                "decision_id": decision.decision_id,
                "failing": [r.model_dump(mode="json") for r in decision.failing],
            },
        )
    champion = current_version(connection, name, "champion")
    if champion is not None and champion not in (version, decision.compared_with):
        compared = (
            "was not compared with any model"
            if decision.compared_with is None
            else f"was compared with v{decision.compared_with}"
        )
        raise PromotionRefused(
            f"{target} cannot become {alias}: the evaluation behind decision "
            f"{decision.decision_id} {compared}, but the champion is v{champion}",
            hint=f"goldenpath evaluate {target} --against champion, then goldenpath gate {target}",
            details={"decision_id": decision.decision_id, "champion": champion},
        )
    if alias == "champion" and project.spec.project.risk_tier == "high":
        approvers = [a.approver for a in given]
        if not [a for a in given if _independent(connection, a, actor.name)]:
            raise PromotionRefused(
                f"{target} cannot become champion yet: risk tier high needs an approval of "
                f"decision {decision.decision_id} by someone other than {actor.name} whom "
                f"{actor.name} neither added nor gave their role, with a token {actor.name} did "
                "not create",
                hint=f"an approver runs: goldenpath approve {decision.decision_id}",
                details={"decision_id": decision.decision_id, "approved_by": approvers},
            )
    return decision


def _independent(connection: Connection, approval: Approval, promoter: str) -> bool:
    """Whether ``approval`` is a second person's for ``promoter``: by someone who is still an
    approver (a demoted approver's approval no longer counts), not the promoter, nor someone the
    promoter added or gave their role, nor made with a token the promoter created (separation
    of duties)."""
    if approval.approver == promoter:
        return False
    user = get_user(connection, approval.approver)
    if user is None or not user.has_role("approver") or promoter in user.sponsors():
        return False
    token = None if approval.credential is None else get_credential(connection, approval.credential)
    return token is None or token.created_by != promoter


def _check_trained(connection: Connection, project: Project, version: str, run: RunRecord) -> None:
    """PromotionRefused unless ``version`` comes from a training that finished: its MLflow run
    ended FINISHED and the store holds its audited ``train`` event (a ``train`` killed after
    registering the model has neither)."""
    target = f"{project.name}/{version}"
    if run.status != "FINISHED":
        raise PromotionRefused(
            f"{target} comes from run {run.run_id}, which is {run.status}, not FINISHED: its "
            "training did not complete",
            hint="train again (goldenpath train) and promote the new version",
        )
    if not has_event(connection, project=project.name, action="train", subject=target):
        raise PromotionRefused(
            f"{target} has no audited train event: it was not registered by a completed "
            "goldenpath train",
            hint="train again (goldenpath train) and promote the new version",
        )


def _still_allowed(
    connection: Connection, project: Project, values: dict[str, Any], actor: Principal
) -> None:
    """Inside the transaction that records the intent: the actor still has the role, and a
    promotion's decision is still the version's latest and still allows it (with approvers who
    still are approvers), so a decision or a demotion that landed while it was being checked
    stops it."""
    alias = values["alias"]
    authorize(connection, actor, "developer", project=project.name, action=f"move the {alias}")
    require_unpinned(connection, project.name, doing=f"move the {alias}")  # incident pin
    if values["kind"] != "promote":
        return
    version = values["to_version"]
    latest = _check_promotable(connection, project, version=version, alias=alias, actor=actor)
    if latest.decision_id != values["decision_id"]:
        raise PromotionConflict(
            f"a new decision on {project.name}/{version} ({latest.decision_id}) was taken while "
            "this promotion was being checked",
            hint="look at it (goldenpath history, the decision) and promote again",
        )


def _move(
    project: Project,
    store: Store,
    client: Tracking,
    *,
    alias: Alias,
    expected_from: str | None,
    to_version: str,
    kind: str,
    decision_id: str | None,
    actor: Principal,
    reason: str,
    on_step: StepCallback,
    audit_extra: dict[str, object],
) -> Promotion:
    name = project.name
    values: dict[str, Any] = {
        "project": project.name,
        "model_name": name,
        "alias": alias,
        "from_version": expected_from,
        "to_version": to_version,
        "kind": kind,
        "decision_id": decision_id,
        "actor": actor.name,
        "reason": reason,
        "owner": _owner(),
        "created_at": now(),
        "completed_at": None,
    }
    try:
        with store.transaction() as connection:
            promotion_id = start_promotion(connection, **values)
            moved_to = current_version(connection, name, alias)
            if moved_to != expected_from:
                raise PromotionConflict(
                    f"the {alias} of {name} moved to v{moved_to} while this promotion was "
                    "being checked",
                    hint="look at `goldenpath history` and decide again",
                )
            _still_allowed(connection, project, values, actor)
            record(
                connection,
                actor=actor,
                action="promotion.requested",
                project=project.name,
                subject=f"{name}@{alias}",
                payload={"promotion_id": promotion_id, **values, **audit_extra},
                rows=[(promotions_table, (promotion_id,))],
            )
    except DuplicateRecord:
        with store.transaction() as connection:
            busy = pending_promotions(connection, name)
        who = f" ({busy[0].actor}, since {busy[0].created_at})" if busy else ""
        raise PromotionConflict(
            f"another promotion of {name} is in progress{who}",
            hint="wait for it to finish and look at `goldenpath history`; a promotion whose "
            "process died is finished or undone by: goldenpath recover",
        ) from None
    promotion = Promotion(id=promotion_id, state="pending", **values)
    on_step("intent recorded")
    try:
        client.set_registered_model_alias(name, alias, to_version)
    except BaseException:
        _settle_after_failure(project, store, client, promotion, actor)
        raise
    on_step("alias moved")
    completed_at = now()
    with store.transaction() as connection:
        end_promotion(connection, promotion_id, "completed", completed_at)
        record(
            connection,
            actor=actor,
            action=kind,
            project=project.name,
            subject=f"{name}@{alias}",
            payload={**_move_payload(promotion), **audit_extra},
            rows=[(promotions_table, (promotion_id,))],
        )
    on_step("completed")
    return Promotion(**{**asdict(promotion), "state": "completed", "completed_at": completed_at})


def _settle_after_failure(
    project: Project, store: Store, client: Tracking, p: Promotion, actor: Principal
) -> None:
    """Moving the alias raised (MLflow down, a timeout, Ctrl-C): the alias may or may not have
    moved. Read it and settle the promotion accordingly; if even that fails, leave it pending
    for :func:`recover` (``goldenpath recover``, or the next promote or rollback, once this
    process has ended)."""
    try:
        target = _alias_target(client, p.model_name, p.alias)
    except Exception:  # MLflow unreachable: recovery settles it later
        return
    _settle(project, store, p, target, extra={"why": "moving the MLflow alias raised"}, actor=actor)


def _settle(
    project: Project,
    store: Store,
    p: Promotion,
    target: str | None,
    *,
    extra: dict[str, object],
    actor: Principal,
) -> Promotion | None:
    """End pending promotion ``p`` by where MLflow's alias points now: ``completed`` when it
    reached the new version, else ``abandoned``; audited as done by ``actor`` (who settles it)
    for ``p.actor`` (who asked). Returns it ended; None when it had already ended."""
    state = "completed" if target == p.to_version else "abandoned"
    ended_at = now()
    with store.transaction() as connection:
        if not end_promotion(connection, p.id, state, ended_at):
            return None
        record(
            connection,
            actor=actor,
            action=p.kind if state == "completed" else "promotion.abandoned",
            project=project.name,
            subject=f"{p.model_name}@{p.alias}",
            payload={
                **_move_payload(p),
                **extra,
                "requested_by": p.actor,
                "alias_found_at": target,
            },
            rows=[(promotions_table, (p.id,))],
        )
    return Promotion(**{**asdict(p), "state": state, "completed_at": ended_at})


def _open(project: Project, store: Store | None) -> tuple[Store, Tracking, Principal]:
    from goldenpath.training.tracking import open_tracking

    store = store or open_store(project)
    client = open_tracking(project, create=False)
    if client is None:
        raise RecordNotFound(
            f"project {project.name!r} has no models yet", hint="train one: goldenpath train"
        )
    return store, client, acting(store)


def promote(
    project: Project,
    ref: str,
    *,
    to: Alias = "champion",
    reason: str = "",
    store: Store | None = None,
    on_step: StepCallback = _noop,
) -> Promotion:
    """Move alias ``to`` to model version ``ref``, if its latest gate decision allows it.

    Promoting the version the store already has as ``to`` while MLflow's alias points elsewhere
    (moved outside goldenpath) restores the alias (an audited ``restore``)."""
    from goldenpath.evaluation.evaluate import resolve_model

    store, client, actor = _open(project, store)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action=f"promote to {to}")
        require_unpinned(connection, project.name, doing=f"promote to {to}")
    recover(project, store, client, actor=actor)
    model = resolve_model(project, ref)
    if model.version is None:
        raise RecordNotFound(
            f"{ref} is a run without a registered model version",
            hint=f"name the version: {project.name}/VERSION",
        )
    with store.transaction() as connection:
        stored = current_version(connection, project.name, to)
    if stored == model.version:
        pointed = _alias_target(client, project.name, to)
        if pointed != stored:  # moved outside goldenpath: put the alias back where it belongs
            return _move(
                project,
                store,
                client,
                alias=to,
                expected_from=stored,
                to_version=stored,
                kind="restore",
                decision_id=None,
                actor=actor,
                reason=reason or f"@{to} was moved outside goldenpath (to {pointed})",
                on_step=on_step,
                audit_extra={"alias_found_at": pointed},
            )
    run = client.get_run(model.run_id)
    with store.transaction() as connection:
        _check_trained(connection, project, model.version, run)
        decision = _check_promotable(
            connection, project, version=model.version, alias=to, actor=actor
        )
        expected_from = current_version(connection, project.name, to)
        approvers = [a.approver for a in approvals_of(connection, decision.decision_id)]
    return _move(
        project,
        store,
        client,
        alias=to,
        expected_from=expected_from,
        to_version=model.version,
        kind="promote",
        decision_id=decision.decision_id,
        actor=actor,
        reason=reason,
        on_step=on_step,
        audit_extra={
            "verdict": decision.verdict,
            "warnings": [r.rule for r in decision.warnings],
            "approved_by": approvers,
        },
    )


def rollback(
    project: Project,
    *,
    to: str | None = None,
    reason: str = "",
    store: Store | None = None,
    on_step: StepCallback = _noop,
) -> Promotion:
    """Move the champion back to the version it replaced (or to ``to``, any former champion)."""
    store, client, actor = _open(project, store)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action="roll back")
        require_unpinned(connection, project.name, doing="roll back")
    recover(project, store, client, actor=actor)
    with store.transaction() as connection:
        moves = [
            p
            for p in promotion_history(connection, project.name)
            if p.alias == "champion" and p.state == "completed"
        ]
    if not moves:
        raise PromotionRefused(f"{project.name} has no champion to roll back")
    lineage = champion_lineage(moves)
    current = lineage[-1]
    former = {p.to_version for p in moves} - {current}
    if to is None:
        if len(lineage) < 2:
            raise PromotionRefused(
                f"v{current} has no earlier champion to roll back to",
                hint="name a former champion with --to"
                + (f": {', '.join(f'v{v}' for v in sorted(former, key=int))}" if former else ""),
            )
        target = lineage[-2]
    else:
        target = to.rsplit("/", 1)[-1].lstrip("v")
    if target not in former:
        raise PromotionRefused(
            f"v{target} was never the champion of {project.name} (or is the champion now)",
            hint="roll back to a former champion: "
            + (", ".join(f"v{v}" for v in sorted(former, key=int)) or "there is none"),
        )
    decision_id = next(p.decision_id for p in reversed(moves) if p.to_version == target)
    return _move(
        project,
        store,
        client,
        alias="champion",
        expected_from=current,
        to_version=target,
        kind="rollback",
        decision_id=decision_id,
        actor=actor,
        reason=reason,
        on_step=on_step,
        audit_extra={},
    )


def champion_lineage(moves: list[Promotion]) -> list[str]:
    """The champions a rollback walks back through, oldest first: a promotion pushes its
    version, a rollback returns to an earlier one (dropping those above it, or pushing a former
    champion that is no longer on the stack)."""
    stack: list[str] = []
    for move in moves:
        if move.kind == "rollback" and move.to_version in stack:
            del stack[stack.index(move.to_version) + 1 :]
        elif not stack or stack[-1] != move.to_version:
            stack.append(move.to_version)
    return stack


def history(project: Project, *, store: Store | None = None) -> list[Promotion]:
    """Every move of the project's aliases (completed, abandoned or pending), newest first.
    A read: a move a dead process left pending is listed as ``pending`` (see :func:`stalled`),
    not settled (that is ``goldenpath recover``)."""
    with (store or open_store(project)).reading() as connection:
        return list(reversed(promotion_history(connection, project.name)))


@dataclass(frozen=True)
class Drift:
    """An alias whose MLflow target differs from the store's promotion history."""

    alias: str
    store_version: str | None
    mlflow_version: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def message(self) -> str:
        expected = "unset" if self.store_version is None else f"v{self.store_version}"
        found = "unset" if self.mlflow_version is None else f"v{self.mlflow_version}"
        return (
            f"@{self.alias} points at {found} in MLflow, but goldenpath's history says "
            f"{expected}: it was moved outside goldenpath"
        )


def check_aliases(project: Project, *, store: Store | None = None) -> list[Drift]:
    """Compare each alias in MLflow with the store; an empty list means they agree. A read: an
    alias that a pending promotion (in progress, or stalled) is moving is not drift."""
    from goldenpath.training.tracking import open_tracking

    store = store or open_store(project)
    client = open_tracking(project, create=False)
    if client is None:
        return []
    drift = []
    with store.reading() as connection:
        expected = {a: current_version(connection, project.name, a) for a in ALIASES}
        moving = {(p.alias, p.to_version) for p in pending_promotions(connection, project.name)}
    for alias in ALIASES:
        found = _alias_target(client, project.name, alias)
        # a promotion in progress has moved the alias but not yet recorded its completion
        if found != expected[alias] and (alias, found) not in moving:
            drift.append(Drift(alias, expected[alias], found))
    return drift


def verified_alias(project: Project, alias: Alias, *, store: Store | None = None) -> str | None:
    """The version ``alias`` points at, when MLflow and the store agree (what a server may
    load); :class:`RegistryDrift` when the alias was moved outside goldenpath."""
    for drift in check_aliases(project, store=store):
        if drift.alias == alias:
            raise RegistryDrift(
                drift.message,
                hint=(
                    f"restore it: goldenpath promote {project.name}/{drift.store_version} "
                    f"--to {alias}"
                    if drift.store_version
                    else "see goldenpath history --check"
                ),
                details=drift.to_dict(),
            )
    store = store or open_store(project)
    with store.reading() as connection:
        return current_version(connection, project.name, alias)
