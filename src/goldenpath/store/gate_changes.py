"""Gate changes as the store records them (repositories over ``gp_gate_changes``; they take the
caller's connection and return frozen dataclasses): the gates of a project as committed in git,
who proposed them and who approved them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from goldenpath.store.schema import gate_changes

__all__ = [
    "GateChange",
    "approve_change",
    "approved_change",
    "changes_of",
    "get_change",
    "insert_change",
    "pending_change",
]

ChangeState = Literal["proposed", "approved"]


@dataclass(frozen=True)
class GateChange:
    """One proposed set of gates: their fingerprint and canonical JSON (the gates and the risk
    tier, what :func:`goldenpath.gates.gates_fingerprint` hashes), the commit the spec was read
    from, the proposer, and once approved the approver, when, with which credential (None: no
    token) and their comment."""

    change_id: str
    project: str
    gates_sha256: str
    gates: str
    git_commit: str
    proposed_by: str
    proposed_at: str
    state: ChangeState
    approved_by: str | None = None
    approved_at: str | None = None
    credential: str | None = None
    comment: str | None = None

    @property
    def approved(self) -> bool:
        return self.state == "approved"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _change(row: Any) -> GateChange:
    return GateChange(**dict(row._mapping))


def insert_change(connection: Connection, change: GateChange) -> None:
    connection.execute(gate_changes.insert().values(**asdict(change)))


def get_change(connection: Connection, change_id: str) -> GateChange | None:
    row = connection.execute(
        select(gate_changes).where(gate_changes.c.change_id == change_id)
    ).first()
    return None if row is None else _change(row)


def changes_of(connection: Connection, project: str) -> list[GateChange]:
    """The project's gate changes, newest first."""
    rows = connection.execute(
        select(gate_changes)
        .where(gate_changes.c.project == project)
        .order_by(gate_changes.c.proposed_at.desc(), gate_changes.c.change_id)
    )
    return [_change(r) for r in rows]


def approved_change(connection: Connection, project: str, gates_sha256: str) -> GateChange | None:
    """The newest approved change of the project with these gates (None: none is approved)."""
    row = connection.execute(
        select(gate_changes)
        .where(
            gate_changes.c.project == project,
            gate_changes.c.gates_sha256 == gates_sha256,
            gate_changes.c.state == "approved",
        )
        .order_by(gate_changes.c.approved_at.desc(), gate_changes.c.change_id)
    ).first()
    return None if row is None else _change(row)


def pending_change(
    connection: Connection, project: str, gates_sha256: str | None = None
) -> GateChange | None:
    """The newest change of the project still waiting for approval (with these gates only,
    when given)."""
    query = select(gate_changes).where(
        gate_changes.c.project == project, gate_changes.c.state == "proposed"
    )
    if gates_sha256 is not None:
        query = query.where(gate_changes.c.gates_sha256 == gates_sha256)
    order = (gate_changes.c.proposed_at.desc(), gate_changes.c.change_id)
    row = connection.execute(query.order_by(*order)).first()
    return None if row is None else _change(row)


def approve_change(
    connection: Connection,
    change_id: str,
    *,
    approved_by: str,
    approved_at: str,
    credential: str | None,
    comment: str,
) -> bool:
    """Mark a proposed change approved; False when it was not (any longer) proposed (another
    approver got there first)."""
    done = connection.execute(
        gate_changes.update()
        .where(gate_changes.c.change_id == change_id, gate_changes.c.state == "proposed")
        .values(
            state="approved",
            approved_by=approved_by,
            approved_at=approved_at,
            credential=credential,
            comment=comment,
        )
    )
    return done.rowcount == 1
