"""Signed checkpoints of the audit chain, as commands: make a key, sign the head, verify.

* :func:`create_checkpoint_key` writes an Ed25519 key pair (no store involved).
* :func:`make_checkpoint` (role ``approver``, so approvers and admins: checkpoints are
  oversight, like approvals) signs the head of the chain, writes the checkpoint file, and then
  appends an ``audit.checkpoint`` event. The event comes after the head it signs, so the
  checkpoint never covers itself and the next checkpoint covers the event.
* :func:`verify_with_checkpoints` checks the chain and each checkpoint against it (no role:
  anyone who can open the store may read it).
* :func:`scheduled_checkpoint` is what ``goldenpath serve`` and ``goldenpath monitor`` run for
  the spec's ``audit.checkpoints``: :func:`make_checkpoint` into its folder when the project's
  newest ``audit.checkpoint`` event is older than ``every`` (checked again under the chain's
  lock, so that two processes never both sign for one period), never raising: the outcome says
  what was written, or why nothing was (a :data:`FailureReason`).

The pure parts (the document, signing, the comparison) are in
:mod:`goldenpath.store.checkpoints` and :mod:`goldenpath.store.signing`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, select

from goldenpath.auth.principal import STORE_ID_KEY, identify, store_id
from goldenpath.errors import (
    AuditChainBroken,
    AuthenticationFailed,
    DestinationExists,
    GoldenpathError,
    PermissionDenied,
    StoreError,
)
from goldenpath.project import Project
from goldenpath.settings import CHECKPOINT_KEY_VAR, checkpoint_key_override
from goldenpath.store import Store, open_store, verify_chain
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import list_events, lock_chain
from goldenpath.store.bindings import verify_rows
from goldenpath.store.checkpoints import (
    AuditVerification,
    Checkpoint,
    check_checkpoints,
    checkpoint_filename,
    checkpoint_json,
    read_checkpoint,
    sign_head,
)
from goldenpath.store.credentials import get_setting
from goldenpath.store.schema import audit_events
from goldenpath.store.signing import (
    GeneratedKey,
    generate_key,
    read_private_key,
    read_public_key,
)

__all__ = [
    "CHECKPOINT_ACTION",
    "CHECKPOINT_DIR",
    "FailureReason",
    "LastCheckpoint",
    "ScheduledCheckpoint",
    "WrittenCheckpoint",
    "checkpoint_due",
    "checkpoint_paths",
    "create_checkpoint_key",
    "last_checkpoint",
    "make_checkpoint",
    "scheduled_checkpoint",
    "verify_with_checkpoints",
]

CHECKPOINT_DIR = Path(".goldenpath") / "checkpoints"
CHECKPOINT_ACTION = "audit.checkpoint"

FailureReason = Literal[
    "no_key",  # GOLDENPATH_CHECKPOINT_KEY is not set
    "key_unreadable",  # missing, readable by others, or not an Ed25519 private key
    "authentication_failed",  # the process's identity is not proven (a bad or expired token)
    "permission_denied",  # the identity lacks role approver
    "chain_broken",  # the chain (or a row bound into it) does not verify: nothing is signed
    "store_unavailable",  # the store could not be opened or failed
    "write_failed",  # the checkpoint file could not be written
    "unexpected",  # anything else (a bug: please report it)
]


@dataclass(frozen=True)
class WrittenCheckpoint:
    """A checkpoint, where it was written, and the ``audit.checkpoint`` event that records it."""

    path: str
    audit_event: int
    checkpoint: Checkpoint

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "audit_event": self.audit_event,
            "checkpoint": self.checkpoint.model_dump(),
        }


def create_checkpoint_key(path: Path) -> GeneratedKey:
    """A new Ed25519 key pair: the private key at ``path`` (0600), the public at ``path.pub``."""
    return generate_key(path)


def _destination(project: Project, out: Path | None, checkpoint: Checkpoint) -> Path:
    """``out`` when it names a ``.json`` file; else a new file named by time and seq in the
    folder ``out`` (by default the project's ``.goldenpath/checkpoints/``)."""
    if out is not None and out.suffix == ".json" and not out.is_dir():
        return out
    folder = out if out is not None else project.root / CHECKPOINT_DIR
    return folder / checkpoint_filename(checkpoint)


def _write_new(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise DestinationExists(
            f"{path} already exists; a checkpoint is never overwritten",
            hint="give another --out (a folder gets a new file named by time and seq)",
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def make_checkpoint(
    project: Project,
    *,
    key: Path | None = None,
    out: Path | None = None,
    store: Store | None = None,
) -> WrittenCheckpoint:
    """Sign the chain's head with ``key`` (default ``GOLDENPATH_CHECKPOINT_KEY``), write the
    checkpoint (to ``out``: a ``.json`` file, or a folder), then audit it. Needs role
    ``approver``; refuses a broken chain."""
    key = key or checkpoint_key_override()
    if key is None:
        raise AuthenticationFailed(
            "no key to sign the checkpoint with",
            hint=f"give --key FILE or set {CHECKPOINT_KEY_VAR} (create a key with: goldenpath "
            "audit keygen --out FILE, kept away from the store)",
        )
    return _sign_and_keep(project, read_private_key(key), out, store or open_store(project))


class _NotDue(Exception):
    """Another process signed a checkpoint since the schedule found one due."""

    def __init__(self, last: LastCheckpoint) -> None:
        super().__init__("not due")
        self.last = last


def _sign_and_keep(
    project: Project,
    private: Ed25519PrivateKey,
    out: Path | None,
    store: Store,
    *,
    unless_newer_than: timedelta | None = None,
) -> WrittenCheckpoint:
    """:func:`make_checkpoint` with the key read; with ``unless_newer_than``, _NotDue (and
    nothing written) when, under the chain's lock, the project's newest checkpoint is younger."""
    written: Path | None = None
    try:
        with store.transaction() as connection:
            actor = identify(connection)
            authorize(
                connection, actor, "approver", project=project.name, action="sign checkpoints"
            )
            lock_chain(connection)
            if unless_newer_than is not None:
                last = last_checkpoint(connection, project.name)
                if last is not None and not checkpoint_due(
                    last.at, unless_newer_than, datetime.now(UTC)
                ):
                    raise _NotDue(last)  # rolls back: not even a token's last use is kept
            checkpoint = sign_head(
                connection,
                private,
                store_id=store_id(connection),
                project=project.name,
                actor=actor.name,
            )
            path = _destination(project, out, checkpoint)
            _write_new(path, checkpoint_json(checkpoint))
            written = path
            record(
                connection,
                actor=actor,
                action=CHECKPOINT_ACTION,
                project=project.name,
                subject="store",
                payload={
                    "head_seq": checkpoint.head_seq,
                    "head_hash": checkpoint.head_hash,
                    "key_fingerprint": checkpoint.key_fingerprint,
                    "path": str(path),
                },
            )
            event = list_events(connection, limit=1)[0].seq
    except BaseException:
        if written is not None:  # no event, no file: the command changed nothing
            written.unlink(missing_ok=True)
        raise
    return WrittenCheckpoint(str(path), event, checkpoint)


# ------------------------------------------------------------------------------ on a schedule


@dataclass(frozen=True)
class LastCheckpoint:
    """The project's newest ``audit.checkpoint`` event: when, and the head seq it signed."""

    at: datetime
    head_seq: int | None


def last_checkpoint(connection: Connection, project: str) -> LastCheckpoint | None:
    """The newest checkpoint ``project`` audited (whoever signed it, wherever it was written),
    or None."""
    row = connection.execute(
        select(audit_events.c.at, audit_events.c.payload)
        .where(audit_events.c.action == CHECKPOINT_ACTION, audit_events.c.project == project)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    at = datetime.fromisoformat(str(row.at))
    try:
        head = json.loads(row.payload).get("head_seq")
    except (ValueError, AttributeError):
        head = None
    return LastCheckpoint(
        at if at.tzinfo is not None else at.replace(tzinfo=UTC),
        head if isinstance(head, int) else None,
    )


def checkpoint_due(last: datetime | None, every: timedelta, now: datetime) -> bool:
    """Whether a checkpoint is due at ``now``: none yet, or the newest is ``every`` old."""
    return last is None or now - last >= every


class ScheduledCheckpoint(BaseModel):
    """What the schedule did: ``written`` (a new checkpoint: its path), ``not_due`` (the newest
    is younger than ``every``) or ``failed`` (``reason`` and ``message`` say why). ``last_at``
    and ``head_seq`` are those of the project's newest checkpoint after this attempt (the one
    written, or the one found), ``due_at`` when the next one is due."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["written", "not_due", "failed"]
    every_seconds: int
    path: str | None = None
    audit_event: int | None = None
    last_at: str | None = None
    head_seq: int | None = None
    due_at: str | None = None
    reason: FailureReason | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def seconds_until_due(self, now: datetime) -> float:
        """Seconds from ``now`` until ``due_at`` (0 when due or unknown)."""
        if self.due_at is None:
            return 0.0
        return max(0.0, (datetime.fromisoformat(self.due_at) - now).total_seconds())


def _reason(exc: BaseException) -> FailureReason:
    if isinstance(exc, PermissionDenied):
        return "permission_denied"
    if isinstance(exc, AuthenticationFailed):
        return "authentication_failed"
    if isinstance(exc, AuditChainBroken):
        return "chain_broken"
    if isinstance(exc, StoreError):
        return "store_unavailable"
    if isinstance(exc, DestinationExists | OSError):
        return "write_failed"
    return "unexpected"


def _message(exc: BaseException) -> str:
    if isinstance(exc, GoldenpathError):
        return exc.message + (f" (how to fix: {exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


def scheduled_checkpoint(
    project: Project, *, store: Store | None = None
) -> ScheduledCheckpoint | None:
    """Sign a checkpoint into the folder of the spec's ``audit.checkpoints`` if one is due
    (None: no schedule). Never raises for a failure: its outcome says what went wrong. The key
    is ``GOLDENPATH_CHECKPOINT_KEY``; the process's identity needs role ``approver``."""
    schedule = project.spec.audit.checkpoints
    if schedule is None:
        return None
    every = timedelta(seconds=schedule.every_seconds)
    out = project.root / (schedule.out or CHECKPOINT_DIR)
    last: LastCheckpoint | None = None

    def outcome(status: str, **fields: object) -> ScheduledCheckpoint:
        found: dict[str, object] = {}
        if last is not None:
            found = {
                "last_at": last.at.isoformat(),
                "head_seq": last.head_seq,
                "due_at": (last.at + every).isoformat(),
            }
        return ScheduledCheckpoint.model_validate(
            {"status": status, "every_seconds": schedule.every_seconds, **found, **fields}
        )

    try:
        store = store or open_store(project)
        with store.reading() as connection:
            last = last_checkpoint(connection, project.name)
        if last is not None and not checkpoint_due(last.at, every, datetime.now(UTC)):
            return outcome("not_due")
        key = checkpoint_key_override()
        if key is None:
            return outcome(
                "failed",
                reason="no_key",
                message=f"no key to sign checkpoints with: set {CHECKPOINT_KEY_VAR} to the "
                "file goldenpath audit keygen wrote",
            )
        try:
            private = read_private_key(key)
        except GoldenpathError as exc:
            return outcome("failed", reason="key_unreadable", message=_message(exc))
        written = _sign_and_keep(project, private, out, store, unless_newer_than=every)
    except _NotDue as raced:
        last = raced.last
        return outcome("not_due")
    except Exception as exc:
        return outcome("failed", reason=_reason(exc), message=_message(exc))
    try:  # the event's time, as the next check reads it
        with store.reading() as connection:
            last = last_checkpoint(connection, project.name)
    except StoreError:
        last = None
    if last is None:
        last = LastCheckpoint(
            datetime.fromisoformat(written.checkpoint.at), written.checkpoint.head_seq
        )
    return outcome("written", path=written.path, audit_event=written.audit_event)


def checkpoint_paths(given: Sequence[Path]) -> list[Path]:
    """The checkpoint files given: a folder stands for every ``*.json`` file in it, in name
    order (time order for the names :func:`make_checkpoint` gives)."""
    found: list[Path] = []
    for path in given:
        found.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return found


def verify_with_checkpoints(
    project: Project,
    checkpoints: Sequence[Path] = (),
    public_keys: Sequence[Path] = (),
    *,
    store: Store | None = None,
) -> AuditVerification:
    """Check the chain, and each checkpoint (files or folders of them) with the public keys:
    its signature, its store, and that the store still holds every event it signed, unchanged.
    Writes nothing."""
    keys = [read_public_key(p) for p in public_keys]
    documents: list[tuple[str, Checkpoint | str]] = [
        (str(p), read_checkpoint(p)) for p in checkpoint_paths(checkpoints)
    ]
    documents += [  # a folder that holds none proves nothing: never a silent pass
        (str(p), "no checkpoint files (*.json) in this folder")
        for p in checkpoints
        if p.is_dir() and not any(p.glob("*.json"))
    ]
    with (store or open_store(project)).reading() as connection:  # a read: no write lock
        chain = verify_chain(connection)
        rows = verify_rows(connection)
        found = get_setting(connection, STORE_ID_KEY)
        checks = check_checkpoints(connection, documents, keys, store_id=found)
    return AuditVerification(chain, rows, tuple(checks))
