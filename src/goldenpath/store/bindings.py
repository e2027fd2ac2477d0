"""State rows bound into the audit chain, so that a row edited, inserted or deleted outside
goldenpath is caught.

The chain (:mod:`goldenpath.store.audit`) proves the events were not changed; the decisions,
approvals and promotions that promotion trusts live in their own tables. Every write of such a
*bound* row is audited by an event whose payload lists, under ``rows``, each row it wrote:
``{"table": "gp_decisions", "key": "<key>", "sha256": "<row hash>"}`` (``sha256`` null: the row
was deleted). The row hash is the SHA-256 of the canonical JSON of the row's non-null
columns (less its table's bookkeeping columns, :data:`BOUND`), read back in the writer's
transaction, so it is the row as committed.

:func:`verify_rows` re-hashes every bound row and compares it with the newest event that names
it: a row no event names was inserted outside goldenpath, a row whose hash differs was edited,
a row an event names but the table lacks was deleted. Since the events are chained, forging a
binding means rewriting the chain, which a signed checkpoint catches. :func:`check_bound` does
the same for the few rows an operation is about to rely on (promotion: its decision and
approvals).

Rows written before store revision 0006 were bound by that migration's ``store.bind`` event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, MetaData, Table, and_, inspect, select

from goldenpath.store.audit import canonical_json
from goldenpath.store.schema import (
    approvals,
    audit_events,
    credentials,
    decisions,
    evaluations,
    experiments,
    gate_changes,
    promotions,
    settings,
    users,
)

__all__ = [
    "BOUND",
    "BoundTable",
    "RowProblem",
    "RowsReport",
    "all_bindings",
    "binding",
    "check_bound",
    "require_bound",
    "row_hash",
    "verify_rows",
]


@dataclass(frozen=True)
class BoundTable:
    """A table whose rows the chain binds: its key columns, and the columns left out of the
    hash (bookkeeping that changes without a decision: a token's last use)."""

    table: Table
    key: tuple[str, ...]
    unhashed: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.table.name

    def key_of(self, row: Mapping[Any, Any]) -> str:
        """The key as text: the value of a one-column key, the JSON list of a composite one."""
        values = [row[c] for c in self.key]
        return str(values[0]) if len(values) == 1 else canonical_json(values)


BOUND: Final[dict[str, BoundTable]] = {
    b.name: b
    for b in (
        BoundTable(users, ("name",)),
        BoundTable(decisions, ("decision_id",)),
        # the surrogate id is not the approval: (decision, approver) is, and is unique
        BoundTable(approvals, ("decision_id", "approver"), frozenset({"id"})),
        BoundTable(promotions, ("id",)),
        BoundTable(evaluations, ("evaluation_id",)),
        BoundTable(credentials, ("id",), frozenset({"last_used_at"})),
        BoundTable(settings, ("key",)),
        BoundTable(gate_changes, ("change_id",)),
        BoundTable(experiments, ("experiment_id",)),
    )
}


def row_hash(bound: BoundTable, row: Mapping[Any, Any]) -> str:
    """SHA-256 of the canonical JSON of the row's hashed columns that are not null (so a
    nullable column added by a later revision leaves the hashes of older rows unchanged)."""
    values = {str(c): v for c, v in row.items() if c not in bound.unhashed and v is not None}
    return hashlib.sha256(canonical_json(values).encode("utf-8")).hexdigest()


def _bound(table: Table) -> BoundTable:
    found = BOUND.get(table.name)
    if found is None:
        raise ValueError(f"{table.name} is not a bound table")
    return found


def _where(bound: BoundTable, key: Sequence[object]) -> Any:
    if len(key) != len(bound.key):
        raise ValueError(f"{bound.name}'s key is {bound.key}, got {tuple(key)}")
    return and_(*(bound.table.c[c] == v for c, v in zip(bound.key, key, strict=True)))


def binding(connection: Connection, table: Table, *key: object) -> dict[str, str | None]:
    """What an event says of the row of ``table`` with key ``key``, as it is now in the
    caller's transaction (``sha256`` None: there is no such row)."""
    bound = _bound(table)
    row = connection.execute(select(bound.table).where(_where(bound, key))).first()
    text = str(key[0]) if len(key) == 1 else canonical_json(list(key))
    return {
        "table": bound.name,
        "key": text,
        "sha256": None if row is None else row_hash(bound, row._mapping),
    }


def all_bindings(connection: Connection) -> list[dict[str, str | None]]:
    """A binding of every row of every bound table, read with the columns the database has
    now (the baseline a migration records for rows written before rows were bound)."""
    out: list[dict[str, str | None]] = []
    for bound in BOUND.values():
        if not inspect(connection).has_table(bound.name):
            continue  # created by a later revision than the one migrating now
        present = Table(bound.name, MetaData(), autoload_with=connection)
        for row in connection.execute(select(present)):
            values = row._mapping
            key, digest = bound.key_of(values), row_hash(bound, values)
            out.append({"table": bound.name, "key": key, "sha256": digest})
    return out


@dataclass(frozen=True)
class RowProblem:
    """A bound row that differs from what the chain says of it."""

    table: str
    key: str
    problem: str  # inserted, edited or deleted
    event: int | None  # the event that last bound the row (None: none did)
    detail: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class RowsReport:
    """Every bound row checked against the chain."""

    rows: int
    problems: tuple[RowProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "rows": self.rows, "problems": [p.to_dict() for p in self.problems]}


_ROWS_MARK = '"rows":['


def _bindings(
    connection: Connection, wanted: set[tuple[str, str]] | None = None
) -> dict[tuple[str, str], tuple[str | None, int]]:
    """The newest binding of each (table, key) in the chain (or only of ``wanted``): its hash
    and the event's seq."""
    query = (
        select(audit_events.c.seq, audit_events.c.payload)
        .where(audit_events.c.payload.contains(_ROWS_MARK, autoescape=True))
        .order_by(audit_events.c.seq)
    )
    if wanted is not None:  # only events that could name one of them
        keys = {key for _, key in wanted}
        if len(keys) == 1:  # the key as it appears inside the payload's JSON text
            text = json.dumps(next(iter(keys)), ensure_ascii=False)[1:-1]
            query = query.where(audit_events.c.payload.contains(text, autoescape=True))
    newest: dict[tuple[str, str], tuple[str | None, int]] = {}
    for seq, payload in connection.execute(query):
        try:
            rows = json.loads(payload).get("rows", [])
        except (ValueError, AttributeError):
            continue  # the chain check reports an unreadable event
        for item in rows if isinstance(rows, list) else []:
            if not isinstance(item, dict):
                continue
            where = (str(item.get("table")), str(item.get("key")))
            if wanted is None or where in wanted:
                newest[where] = (item.get("sha256"), int(seq))
    return newest


def _judge(
    bound: BoundTable, key: str, actual: str | None, said: tuple[str | None, int] | None
) -> RowProblem | None:
    if said is None:
        if actual is None:
            return None
        return RowProblem(
            bound.name,
            key,
            "inserted",
            None,
            f"{bound.name} row {key} is named by no audit event: it was written outside goldenpath",
        )
    expected, seq = said
    if actual == expected:
        return None
    if actual is None:
        return RowProblem(
            bound.name,
            key,
            "deleted",
            seq,
            f"{bound.name} row {key}, bound by event {seq}, is gone: it was deleted outside "
            "goldenpath",
        )
    return RowProblem(
        bound.name,
        key,
        "edited" if expected is not None else "inserted",
        seq,
        f"{bound.name} row {key} differs from what event {seq} recorded of it: it was "
        "changed outside goldenpath",
    )


def verify_rows(connection: Connection) -> RowsReport:
    """Re-hash every bound row and compare it with the newest event that binds it."""
    said = _bindings(connection)
    problems: list[RowProblem] = []
    seen: set[tuple[str, str]] = set()
    count = 0
    for bound in BOUND.values():
        for row in connection.execute(select(bound.table)):
            count += 1
            key = bound.key_of(row._mapping)
            seen.add((bound.name, key))
            problem = _judge(bound, key, row_hash(bound, row._mapping), said.get((bound.name, key)))
            if problem is not None:
                problems.append(problem)
    for (table, key), told in said.items():
        if (table, key) not in seen and table in BOUND:
            problem = _judge(BOUND[table], key, None, told)
            if problem is not None:
                problems.append(problem)
    return RowsReport(count, tuple(problems))


def check_bound(
    connection: Connection, rows: Iterable[tuple[Table, Sequence[object]]]
) -> list[RowProblem]:
    """What differs, of the named rows, from what the chain says of them (empty: all hold)."""
    current = [binding(connection, table, *key) for table, key in rows]
    wanted = {(str(b["table"]), str(b["key"])) for b in current}
    said = _bindings(connection, wanted)
    problems = []
    for b in current:
        where = (str(b["table"]), str(b["key"]))
        problem = _judge(BOUND[where[0]], where[1], b["sha256"], said.get(where))
        if problem is not None:
            problems.append(problem)
    return problems


def require_bound(
    connection: Connection, rows: Iterable[tuple[Table, Sequence[object]]], *, relying: str
) -> None:
    """:class:`~goldenpath.errors.AuditChainBroken` when any of ``rows`` differs from what the
    chain says of it: ``relying`` (what was about to rely on them) is refused."""
    from goldenpath.errors import AuditChainBroken

    problems = check_bound(connection, rows)
    if problems:
        raise AuditChainBroken(
            f"{relying} is refused: {problems[0].detail}",
            hint="goldenpath audit verify lists every such row; find out who changed the "
            "database, and restore it from the audit trail and a backup",
            details={"rows": [p.to_dict() for p in problems]},
        )
