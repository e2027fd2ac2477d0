"""Serving controls: what on-call people and guardrails impose on every server of a project,
over whatever the aliases say.

* a **halt** of a challenger version: its share goes to 0 (a guardrail breached, see
  :mod:`goldenpath.monitoring.guardrails`);
* a **pin** of one version: promotions and rollbacks are refused and the servers serve that
  version as the champion, with no challenger (``goldenpath incident pin``);
* **safe mode**: every request is answered by ``serving.fallback`` (``goldenpath incident
  safe-mode``).

The state is one row of the store's ``gp_settings`` (key ``serving.controls:<project>``, the
canonical JSON of :class:`ServingControls`), bound into the audit chain like every state row:
each change is one transaction that takes the chain's lock, rewrites the row and appends the
audit event naming it. Servers read it at every poll (:func:`serving_controls`), so a change
reaches every server within one poll interval. A row edited outside goldenpath is refused
(:class:`~goldenpath.errors.AuditChainBroken`) by every read.

Each mitigation records the alert it answers (``--alert ID``, else the latest open alert of the
project) and the seconds from that alert's opening to the mitigation, so MTTR can be reported
(:attr:`ServingControls.mitigations`, :func:`mttr_seconds`). Acting needs role ``developer``:
on-call people must act at 3 a.m. without waiting for an approver, and every act is audited with
the actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from goldenpath.auth.principal import Principal, acting
from goldenpath.errors import PromotionRefused, RecordNotFound
from goldenpath.project import Project
from goldenpath.store import Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import canonical_json, lock_chain, now
from goldenpath.store.bindings import require_bound
from goldenpath.store.credentials import get_setting, set_setting
from goldenpath.store.engine import store_exists
from goldenpath.store.monitoring import Alert, insert_alert, list_alerts
from goldenpath.store.records import current_version, promotion_history
from goldenpath.store.schema import settings as settings_table

__all__ = [
    "GUARDRAILS_ACTOR",
    "Halt",
    "Mitigation",
    "ServingControls",
    "halt_challenger",
    "mttr_seconds",
    "pin",
    "require_unpinned",
    "resume",
    "safe_mode",
    "serving_controls",
]

SCHEMA_VERSION = 1
GUARDRAILS_ACTOR = Principal("goldenpath-guardrails", "local")
_HISTORY = 200  # mitigations kept in the row (every one is in the audit chain too)

Action = Literal["halt", "pin", "safe_mode", "resume"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Halt(_Model):
    """A challenger version whose share is 0, and why."""

    version: str
    at: str
    actor: str
    reason: str
    evidence: dict[str, object] = Field(default_factory=dict)


class Mitigation(_Model):
    """One act of an incident: who did what when, and how long after which alert."""

    action: Action
    at: str
    actor: str
    reason: str
    version: str | None = None
    alert_id: int | None = None
    alerted_at: str | None = None
    seconds_since_alert: float | None = None  # what MTTR averages (None: no alert to time from)


class ServingControls(_Model):
    """What the project's servers must do over the aliases (see the module)."""

    schema_version: int = SCHEMA_VERSION
    project: str
    pinned: str | None = None  # the version every server serves; promotions refused
    pinned_at: str | None = None
    safe_mode: bool = False
    safe_mode_at: str | None = None
    halted: dict[str, Halt] = Field(default_factory=dict)  # challenger version -> its halt
    readmitted: dict[str, str] = Field(default_factory=dict)  # version -> when its halt lifted
    mitigations: list[Mitigation] = Field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.pinned is not None or self.safe_mode or bool(self.halted)


def _key(project: str) -> str:
    return f"serving.controls:{project}"


def _read(connection: Connection, project: str) -> ServingControls:
    raw = get_setting(connection, _key(project))
    if raw is None:
        return ServingControls(project=project)
    # as goldenpath wrote it: a row edited in the database is refused (AuditChainBroken), so
    # servers keep the controls they last read and promotions stop until it is restored
    require_bound(
        connection, [(settings_table, (_key(project),))], relying=f"{project}'s serving controls"
    )
    return ServingControls.model_validate_json(raw)


def _write(
    connection: Connection,
    controls: ServingControls,
    *,
    actor: Principal,
    action: str,
    subject: str,
    payload: dict[str, object],
) -> None:
    key = _key(controls.project)
    set_setting(connection, key, canonical_json(controls.model_dump(mode="json")), by=actor.name)
    record(
        connection,
        actor=actor,
        action=action,
        project=controls.project,
        subject=subject,
        payload=payload,
        rows=[(settings_table, (key,))],
    )


def serving_controls(project: Project | str, *, store: Store | None = None) -> ServingControls:
    """The project's controls as they stand (a read: what servers poll)."""
    name = project if isinstance(project, str) else project.name
    if store is None:
        assert isinstance(project, Project)
        if not store_exists(project):  # nothing was ever controlled; a read creates nothing
            return ServingControls(project=name)
        store = open_store(project)
    with store.reading() as connection:
        return _read(connection, name)


def require_unpinned(connection: Connection, project: str, *, doing: str) -> None:
    """PromotionRefused while the project is pinned (promotion, rollback)."""
    controls = _read(connection, project)
    if controls.pinned is not None:
        raise PromotionRefused(
            f"{project} is pinned to v{controls.pinned} since {controls.pinned_at} "
            f"(goldenpath incident pin), so it cannot {doing}",
            hint="once the incident is over: goldenpath incident resume",
            details={"pinned": controls.pinned, "pinned_at": controls.pinned_at},
        )


def _since(alerted_at: str | None, at: str) -> float | None:
    if alerted_at is None:
        return None
    seconds = (datetime.fromisoformat(at) - datetime.fromisoformat(alerted_at)).total_seconds()
    return max(0.0, seconds)


def _alert(connection: Connection, project: str, alert_id: int | None) -> Alert | None:
    """The alert a mitigation answers: ``alert_id``, else the latest open one (None: none)."""
    if alert_id is None:
        latest = list_alerts(connection, project, status="open", limit=1)
        return latest[0] if latest else None
    for found in list_alerts(connection, project, limit=None):
        if found.id == alert_id:
            return found
    raise RecordNotFound(
        f"{project} has no alert {alert_id}", hint="list them with: goldenpath alerts"
    )


def _mitigation(
    connection: Connection,
    project: str,
    action: Action,
    actor: Principal,
    reason: str,
    *,
    version: str | None = None,
    alert_id: int | None = None,
    alert: Alert | None = None,
) -> Mitigation:
    at = now()
    answered = alert if alert is not None else _alert(connection, project, alert_id)
    return Mitigation(
        action=action,
        at=at,
        actor=actor.name,
        reason=reason,
        version=version,
        alert_id=None if answered is None else answered.id,
        alerted_at=None if answered is None else answered.opened_at,
        seconds_since_alert=None if answered is None else _since(answered.opened_at, at),
    )


def _with(controls: ServingControls, mitigation: Mitigation, **changes: object) -> ServingControls:
    history = [*controls.mitigations, mitigation][-_HISTORY:]
    return controls.model_copy(update={**changes, "mitigations": history})


def _act(project: Project, store: Store | None, doing: str) -> tuple[Store, Principal]:
    store = store or open_store(project)
    actor = acting(store)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action=doing)
    return store, actor


def _pinnable(connection: Connection, project: Project, version: str) -> None:
    """PromotionRefused unless ``version`` is the champion, a former champion, or the
    fallback: versions that served (or were chosen to back up) production."""
    name = project.name
    champions = {
        p.to_version
        for p in promotion_history(connection, name)
        if p.alias == "champion" and p.state == "completed"
    }
    fallback = project.spec.serving.fallback
    allowed = champions | ({fallback.version} if fallback and fallback.version else set())
    if version not in allowed:
        current = current_version(connection, name, "champion")
        raise PromotionRefused(
            f"v{version} of {name} was never its champion nor is it serving.fallback, so it "
            "cannot be pinned",
            hint="pin the champion"
            + (f" (v{current})" if current else "")
            + " or a former champion: "
            + (", ".join(f"v{v}" for v in sorted(champions, key=str)) or "there is none"),
        )


def pin(
    project: Project,
    version: str,
    *,
    reason: str = "",
    alert_id: int | None = None,
    store: Store | None = None,
) -> Mitigation:
    """Freeze promotions and hot swaps: every server serves ``version`` (the champion or a
    former champion) with no challenger until :func:`resume`."""
    version = version.rsplit("/", 1)[-1].lstrip("v")
    store, actor = _act(project, store, "pin a version")
    with store.transaction() as connection:
        lock_chain(connection)
        authorize(connection, actor, "developer", project=project.name, action="pin a version")
        _pinnable(connection, project, version)
        controls = _read(connection, project.name)
        done = _mitigation(
            connection, project.name, "pin", actor, reason, version=version, alert_id=alert_id
        )
        controls = _with(controls, done, pinned=version, pinned_at=done.at)
        _write(
            connection,
            controls,
            actor=actor,
            action="incident.pin",
            subject=f"{project.name}/{version}",
            payload=done.model_dump(mode="json"),
        )
    return done


def safe_mode(
    project: Project,
    *,
    reason: str = "",
    alert_id: int | None = None,
    store: Store | None = None,
) -> Mitigation:
    """Route every request to ``serving.fallback`` until :func:`resume`."""
    fallback = project.spec.serving.fallback
    if fallback is None:
        raise PromotionRefused(
            f"{project.name} has no serving.fallback, so safe mode has nothing to route to",
            hint="add serving.fallback (a version or a constant) to goldenpath.yaml, restart the "
            "servers, then: goldenpath incident safe-mode",
        )
    store, actor = _act(project, store, "switch to safe mode")
    with store.transaction() as connection:
        lock_chain(connection)
        authorize(connection, actor, "developer", project=project.name, action="safe mode")
        controls = _read(connection, project.name)
        target = fallback.version if fallback.version is not None else "constant"
        done = _mitigation(
            connection, project.name, "safe_mode", actor, reason, version=target, alert_id=alert_id
        )
        controls = _with(controls, done, safe_mode=True, safe_mode_at=done.at)
        _write(
            connection,
            controls,
            actor=actor,
            action="incident.safe_mode",
            subject=f"{project.name}@fallback",
            payload=done.model_dump(mode="json"),
        )
    return done


def resume(
    project: Project,
    *,
    reason: str = "",
    readmit: bool = False,
    store: Store | None = None,
) -> Mitigation:
    """Lift the pin and safe mode (``readmit``: and every guardrail halt, so the halted
    challenger answers its share again; its guardrails then judge only rows after now).
    RecordNotFound when there is nothing to lift."""
    store, actor = _act(project, store, "resume")
    with store.transaction() as connection:
        lock_chain(connection)
        authorize(connection, actor, "developer", project=project.name, action="resume")
        controls = _read(connection, project.name)
        lifted = [
            *(["pin"] if controls.pinned is not None else []),
            *(["safe_mode"] if controls.safe_mode else []),
            *([f"halt of v{v}" for v in sorted(controls.halted)] if readmit else []),
        ]
        if not lifted:
            raise RecordNotFound(
                f"{project.name} has no pin or safe mode to lift"
                + ("" if readmit or not controls.halted else " (halted challengers: --readmit)"),
                hint="see: goldenpath incident status",
            )
        at = now()
        done = Mitigation(
            action="resume", at=at, actor=actor.name, reason=reason or ", ".join(lifted)
        )
        readmitted = dict(controls.readmitted)
        halted = dict(controls.halted)
        if readmit:
            readmitted.update(dict.fromkeys(halted, at))
            halted = {}
        controls = _with(
            controls,
            done,
            pinned=None,
            pinned_at=None,
            safe_mode=False,
            safe_mode_at=None,
            halted=halted,
            readmitted=readmitted,
        )
        _write(
            connection,
            controls,
            actor=actor,
            action="incident.resume",
            subject=project.name,
            payload={**done.model_dump(mode="json"), "lifted": lifted},
        )
    return done


def halt_challenger(
    project: Project,
    version: str,
    *,
    reason: str,
    evidence: dict[str, object],
    alert: Alert,
    store: Store | None = None,
    actor: Principal = GUARDRAILS_ACTOR,
) -> tuple[Mitigation, Alert] | None:
    """Set challenger ``version``'s share to 0 (a guardrail breached), record ``alert`` (its
    id is given by the store) and audit why, in one transaction. None when it was already
    halted (another server got there first): nothing is written."""
    store = store or open_store(project)
    with store.transaction() as connection:
        lock_chain(connection)
        controls = _read(connection, project.name)
        if version in controls.halted:
            return None
        stored = insert_alert(connection, alert)
        done = _mitigation(
            connection, project.name, "halt", actor, reason, version=version, alert=stored
        )
        halt = Halt(version=version, at=done.at, actor=actor.name, reason=reason, evidence=evidence)
        controls = _with(controls, done, halted={**controls.halted, version: halt})
        _write(
            connection,
            controls,
            actor=actor,
            action="guardrail.rollback",
            subject=f"{project.name}/{version}",
            payload={**done.model_dump(mode="json"), "evidence": evidence},
        )
    return done, stored


def mttr_seconds(controls: ServingControls) -> float | None:
    """Mean seconds from alert to mitigation over the recorded mitigations that answer an
    alert (the first mitigation of each alert); None when there is none."""
    first: dict[int, float] = {}
    for m in controls.mitigations:
        if m.alert_id is not None and m.seconds_since_alert is not None:
            first.setdefault(m.alert_id, m.seconds_since_alert)
    return sum(first.values()) / len(first) if first else None
