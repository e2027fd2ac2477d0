"""Repositories over the store's tables: they take a connection (the caller's transaction) and
return frozen dataclasses (and, for decisions, the pydantic decision document), never ORM
rows."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, select, text, update

from goldenpath.store.schema import approvals, decisions, promotions, users

__all__ = [
    "ROLES",
    "Approval",
    "Decision",
    "DecisionDocument",
    "ExpectedArtifact",
    "Promotion",
    "Role",
    "RuleResult",
    "User",
    "add_approval",
    "add_user",
    "approvals_of",
    "current_version",
    "decisions_of",
    "end_promotion",
    "expected_artifact",
    "get_decision",
    "get_user",
    "insert_decision",
    "list_users",
    "lock_users",
    "pending_promotions",
    "promotion_history",
    "set_role",
    "start_promotion",
]

Role = Literal["viewer", "developer", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "developer", "approver", "admin")  # each includes the last


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: str
    created_by: str
    role_granted_by: str | None = None  # who last changed their role (None: nobody since)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def has_role(self, needed: Role) -> bool:
        """Whether this user's role includes ``needed`` (roles are ordered)."""
        return ROLES.index(self.role) >= ROLES.index(needed)

    def sponsors(self) -> set[str]:
        """Who made this user what they are: the one who added them and the one who last gave
        them their role. Neither may be the other side of a four-eyes approval they give."""
        return {self.created_by} | ({self.role_granted_by} if self.role_granted_by else set())


def _user(row: Any) -> User:
    return User(row.name, row.role, row.created_at, row.created_by, row.role_granted_by)


def get_user(connection: Connection, name: str) -> User | None:
    row = connection.execute(select(users).where(users.c.name == name)).first()
    return None if row is None else _user(row)


def list_users(connection: Connection) -> list[User]:
    return [_user(r) for r in connection.execute(select(users).order_by(users.c.name))]


def lock_users(connection: Connection) -> None:
    """Serialise changes that depend on who the users are (the first admin, the last admin)
    until the transaction ends: a table lock on PostgreSQL (other writers of users wait, readers
    do not); nothing on SQLite, whose write transactions are serialised already (BEGIN
    IMMEDIATE)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE gp_users IN SHARE ROW EXCLUSIVE MODE"))


def add_user(connection: Connection, user: User) -> None:
    connection.execute(users.insert().values(**asdict(user)))


def set_role(connection: Connection, name: str, role: Role, granted_by: str) -> None:
    connection.execute(
        update(users).where(users.c.name == name).values(role=role, role_granted_by=granted_by)
    )


Outcome = Literal["pass", "warn", "fail", "skipped"]
Severity = Literal["block", "warn"]  # as goldenpath.spec.gates.Severity
DECISION_SCHEMA_VERSION: Final = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class RuleResult(_Frozen):
    """One gate rule judged on one evaluation: what was observed, the bound it had to meet,
    where in ``evaluation.json`` (or the run's tags) the evidence is, and the outcome."""

    rule: str
    kind: str  # metric, non_regression, slices, worst_slice, fairness, ...
    severity: Severity
    observed: float | str | None
    bound: str
    evidence: str
    outcome: Outcome
    detail: str = ""


class DecisionDocument(_Frozen):
    """The gates' verdict on one evaluation of one model version, with every rule; its JSON
    is what ``goldenpath gate --json`` prints (``goldenpath schema --kind decision``)."""

    schema_version: Literal[1] = DECISION_SCHEMA_VERSION
    decision_id: str
    project: str
    model_name: str
    model_version: str
    run_id: str
    evaluation_id: str
    evaluation_sha256: str
    compared_with: str | None  # the champion version the evaluation was compared with
    verdict: Literal["pass", "warn", "fail"]
    rules: tuple[RuleResult, ...]
    gates_sha256: str
    actor: str
    created_at: str
    # the digest of the model artefact the evaluation was of, checked by gate (None: older)
    artifact_sha256: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON-compatible decision document."""
        return self.model_dump(mode="json")

    @property
    def failing(self) -> list[RuleResult]:
        return [r for r in self.rules if r.outcome == "fail"]

    @property
    def warnings(self) -> list[RuleResult]:
        return [r for r in self.rules if r.outcome == "warn"]


Decision = DecisionDocument  # the store's name for it


def _decision(row: Any) -> Decision:
    values = dict(row._mapping)
    values["rules"] = json.loads(values["rules"])
    return Decision.model_validate(values)


def insert_decision(connection: Connection, decision: Decision) -> None:
    values = decision.model_dump(mode="json", exclude={"schema_version"})
    values["rules"] = json.dumps(values["rules"], sort_keys=True)
    connection.execute(decisions.insert().values(**values))


def get_decision(connection: Connection, decision_id: str) -> Decision | None:
    row = connection.execute(
        select(decisions).where(decisions.c.decision_id == decision_id)
    ).first()
    return None if row is None else _decision(row)


def decisions_of(connection: Connection, model_name: str, version: str) -> list[Decision]:
    """Decisions on one model version, newest first."""
    rows = connection.execute(
        select(decisions)
        .where(decisions.c.model_name == model_name, decisions.c.model_version == version)
        .order_by(decisions.c.created_at.desc())
    )
    return [_decision(r) for r in rows]


@dataclass(frozen=True)
class Approval:
    decision_id: str
    approver: str
    comment: str
    created_at: str
    credential: str | None = None  # the token the approver acted with (None: none, or older)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def add_approval(connection: Connection, approval: Approval) -> None:
    connection.execute(approvals.insert().values(**asdict(approval)))


def approvals_of(connection: Connection, decision_id: str) -> list[Approval]:
    rows = connection.execute(
        select(approvals)
        .where(approvals.c.decision_id == decision_id)
        .order_by(approvals.c.created_at)
    )
    return [
        Approval(r.decision_id, r.approver, r.comment, r.created_at, r.credential) for r in rows
    ]


@dataclass(frozen=True)
class Promotion:
    """One move of an alias: ``pending`` (intent recorded), then ``completed`` or
    ``abandoned``."""

    id: int
    project: str
    model_name: str
    alias: str
    from_version: str | None
    to_version: str
    kind: str  # promote or rollback
    decision_id: str | None
    actor: str
    reason: str
    state: str
    owner: str  # host:pid of the process that started it
    created_at: str
    completed_at: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _promotion(row: Any) -> Promotion:
    values = dict(row._mapping)
    values.pop("lock")
    return Promotion(**values)


def start_promotion(connection: Connection, **values: Any) -> int:
    """Record the intent; the unique ``lock`` (the model name) makes a second pending
    promotion of the same model fail with DuplicateRecord."""
    result = connection.execute(
        promotions.insert().values(state="pending", lock=values["model_name"], **values)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def end_promotion(connection: Connection, promotion_id: int, state: str, at: str) -> bool:
    """End a pending promotion; False when it had already ended (someone else settled it)."""
    result = connection.execute(
        update(promotions)
        .where(promotions.c.id == promotion_id, promotions.c.state == "pending")
        .values(state=state, lock=None, completed_at=at)
    )
    return bool(result.rowcount)


def pending_promotions(connection: Connection, model_name: str) -> list[Promotion]:
    rows = connection.execute(
        select(promotions).where(
            promotions.c.model_name == model_name, promotions.c.state == "pending"
        )
    )
    return [_promotion(r) for r in rows]


def promotion_history(connection: Connection, model_name: str) -> list[Promotion]:
    """Every promotion of the model (any state), oldest first."""
    rows = connection.execute(
        select(promotions).where(promotions.c.model_name == model_name).order_by(promotions.c.id)
    )
    return [_promotion(r) for r in rows]


def current_version(connection: Connection, model_name: str, alias: str) -> str | None:
    """The version the store says ``alias`` points at: the last completed move."""
    row = connection.execute(
        select(promotions.c.to_version)
        .where(
            promotions.c.model_name == model_name,
            promotions.c.alias == alias,
            promotions.c.state == "completed",
        )
        .order_by(promotions.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else str(row.to_version)


@dataclass(frozen=True)
class ExpectedArtifact:
    """What the store vouches for as a version's model files: the digest recorded by the
    decision a promotion of that version named (``None`` for a decision taken before store
    revision 0005, which recorded none)."""

    decision_id: str
    promotion_id: int
    artifact_sha256: str | None


def expected_artifact(
    connection: Connection, model_name: str, version: str
) -> ExpectedArtifact | None:
    """The artefact digest the store expects for ``version``: the ``artifact_sha256`` of the
    decision named by the newest completed promotion that moved any alias to it and names a
    decision. A ``promote`` names the decision it was allowed by; a ``rollback`` names the
    decision of the newest earlier move to its target (or none); a ``restore`` names none: moves
    naming none are passed over, so a rollback or restore without a decision is vouched for by
    the newest decision-bearing move to the same version. ``None`` when no completed promotion
    to the version names a decision (a version never promoted)."""
    row = connection.execute(
        select(promotions.c.id, decisions.c.decision_id, decisions.c.artifact_sha256)
        .join(decisions, decisions.c.decision_id == promotions.c.decision_id)
        .where(
            promotions.c.model_name == model_name,
            promotions.c.to_version == version,
            promotions.c.state == "completed",
        )
        .order_by(promotions.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return ExpectedArtifact(str(row.decision_id), int(row.id), row.artifact_sha256)
