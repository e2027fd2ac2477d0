"""The audit trail: every state change, hash-chained so that editing it is detectable.

Event ``seq`` stores ``hash = sha256(prev_hash + canonical JSON of the event)`` where
``prev_hash`` is the hash of event ``seq - 1`` (64 zeros for the first). Editing any field of
any event, deleting an event or inserting one in the middle breaks the chain at that event,
and :func:`verify_chain` names the first broken link. What a chain alone cannot show: removal
of the newest events, or events appended with correctly recomputed hashes by someone with write
access to the database. Signed checkpoints of the head (:mod:`goldenpath.store.checkpoints`)
cover those: :func:`recomputed_hashes` is what they are checked against.

Events are appended inside the caller's transaction, so a state change and its audit event
commit together or not at all. Appends are serialised (an exclusive table lock on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), so two writers can never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from goldenpath.store.schema import audit_events

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "ChainReport",
    "append_event",
    "canonical_json",
    "has_event",
    "latest_event",
    "list_events",
    "lock_chain",
    "now",
    "recomputed_hashes",
    "verify_chain",
]

GENESIS_HASH = "0" * 64


def now() -> str:
    """The store's timestamps: ISO-8601 UTC with microseconds, as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: the same text for the same value, everywhere."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: str
    actor: str
    action: str
    project: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


_HASHED = ("seq", "at", "actor", "action", "project", "subject", "payload")


def _digest(prev_hash: str, fields: dict[str, object]) -> str:
    """sha256(prev_hash + canonical JSON of the event's fields; the payload as stored text)."""
    body = canonical_json({key: fields[key] for key in _HASHED})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def lock_chain(connection: Connection) -> None:
    """Hold off other appends until ``connection``'s transaction ends (PostgreSQL: an exclusive
    table lock; SQLite's transactions already exclude other writers), so that what is read of
    the chain in the transaction is still its head when it commits."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE gp_audit_events IN EXCLUSIVE MODE")


def append_event(
    connection: Connection,
    *,
    actor: str,
    action: str,
    project: str,
    subject: str,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, in ``connection``'s transaction."""
    lock_chain(connection)
    last = connection.execute(
        select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).first()
    seq = 1 if last is None else int(last.seq) + 1
    prev_hash = GENESIS_HASH if last is None else str(last.hash)
    at = now()
    payload_text = canonical_json(payload or {})
    fields: dict[str, object] = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "project": project,
        "subject": subject,
        "payload": payload_text,
    }
    digest = _digest(prev_hash, fields)
    connection.execute(
        audit_events.insert().values(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            project=project,
            subject=subject,
            payload=payload_text,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    return AuditEvent(seq, at, actor, action, project, subject, payload or {}, prev_hash, digest)


def _event(row: Any) -> AuditEvent:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {"unreadable": row.payload}
    return AuditEvent(
        int(row.seq),
        row.at,
        row.actor,
        row.action,
        row.project,
        row.subject,
        payload if isinstance(payload, dict) else {"value": payload},
        row.prev_hash,
        row.hash,
    )


def has_event(connection: Connection, *, project: str, action: str, subject: str) -> bool:
    """Whether the chain holds an ``action`` event on ``subject`` of ``project``."""
    found = connection.execute(
        select(audit_events.c.seq)
        .where(
            audit_events.c.project == project,
            audit_events.c.action == action,
            audit_events.c.subject == subject,
        )
        .limit(1)
    ).first()
    return found is not None


def list_events(
    connection: Connection, *, project: str | None = None, limit: int | None = None
) -> list[AuditEvent]:
    """Events newest first (optionally of one project only)."""
    query = select(audit_events).order_by(audit_events.c.seq.desc())
    if project is not None:
        query = query.where(audit_events.c.project == project)
    if limit is not None:
        query = query.limit(limit)
    return [_event(row) for row in connection.execute(query)]


def recomputed_hashes(
    connection: Connection, *, up_to: int | None = None
) -> Iterator[tuple[int, str]]:
    """``(seq, hash)`` of every stored event in ``seq`` order (up to ``up_to``), the hash
    recomputed from the events' content alone, chained from the genesis hash: not from the
    stored ``prev_hash`` and ``hash``, which whoever rewrote an event could have recomputed."""
    query = select(audit_events).order_by(audit_events.c.seq)
    if up_to is not None:
        query = query.where(audit_events.c.seq <= up_to)
    prev = GENESIS_HASH
    for row in connection.execute(query):
        prev = _digest(prev, dict(row._mapping))
        yield int(row.seq), prev


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the whole chain."""

    ok: bool
    events: int
    head_seq: int | None
    head_hash: str | None
    broken_at: int | None = None  # seq of the first event that does not chain
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def verify_chain(connection: Connection) -> ChainReport:
    """Recompute every hash in order and report the first link that does not hold."""
    count = connection.execute(select(func.count()).select_from(audit_events)).scalar_one()
    expected_prev = GENESIS_HASH
    expected_seq = 1
    head: tuple[int, str] | None = None
    rows = connection.execute(select(audit_events).order_by(audit_events.c.seq))
    for row in rows:
        seq = int(row.seq)
        reason = None
        if seq != expected_seq:
            reason = (
                f"event {expected_seq} is missing (the next stored event is {seq}): "
                "an event was deleted"
            )
            seq = expected_seq
        elif row.prev_hash != expected_prev:
            reason = (
                f"event {seq} does not point at the hash of event {seq - 1}: an event before "
                "it was deleted, replaced or inserted"
            )
        elif _digest(row.prev_hash, dict(row._mapping) | {"seq": seq}) != row.hash:
            reason = f"event {seq} was edited: its content no longer matches its hash"
        if reason is not None:
            head_seq, head_hash = head or (None, None)
            return ChainReport(False, int(count), head_seq, head_hash, seq, reason)
        expected_prev, expected_seq = row.hash, seq + 1
        head = (seq, row.hash)
    head_seq, head_hash = head or (None, None)
    return ChainReport(True, int(count), head_seq, head_hash)


def latest_event(
    connection: Connection, *, project: str, action: str, subject: str
) -> AuditEvent | None:
    """The newest ``action`` event on ``subject`` of ``project`` (``None`` when there is none)."""
    row = connection.execute(
        select(audit_events)
        .where(
            audit_events.c.project == project,
            audit_events.c.action == action,
            audit_events.c.subject == subject,
        )
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else _event(row)
