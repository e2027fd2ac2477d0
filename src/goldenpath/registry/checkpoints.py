"""Signed checkpoints of the audit chain, as commands: make a key, sign the head, verify.

* :func:`create_checkpoint_key` writes an Ed25519 key pair (no store involved).
* :func:`make_checkpoint` (role ``approver``, so approvers and admins: checkpoints are
  oversight, like approvals) signs the head of the chain, writes the checkpoint file, and then
  appends an ``audit.checkpoint`` event. The event comes after the head it signs, so the
  checkpoint never covers itself and the next checkpoint covers the event.
* :func:`verify_with_checkpoints` checks the chain and each checkpoint against it (no role:
  anyone who can open the store may read it).

The pure parts (the document, signing, the comparison) are in
:mod:`goldenpath.store.checkpoints` and :mod:`goldenpath.store.signing`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goldenpath.auth.principal import STORE_ID_KEY, identify, store_id
from goldenpath.errors import AuthenticationFailed, DestinationExists
from goldenpath.project import Project
from goldenpath.settings import CHECKPOINT_KEY_VAR, checkpoint_key_override
from goldenpath.store import Store, open_store, verify_chain
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import list_events, lock_chain
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
from goldenpath.store.signing import (
    GeneratedKey,
    generate_key,
    read_private_key,
    read_public_key,
)

__all__ = [
    "CHECKPOINT_DIR",
    "WrittenCheckpoint",
    "checkpoint_paths",
    "create_checkpoint_key",
    "make_checkpoint",
    "verify_with_checkpoints",
]

CHECKPOINT_DIR = Path(".goldenpath") / "checkpoints"


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
    private = read_private_key(key)
    store = store or open_store(project)
    written: Path | None = None
    try:
        with store.transaction() as connection:
            actor = identify(connection)
            authorize(
                connection, actor, "approver", project=project.name, action="sign checkpoints"
            )
            lock_chain(connection)
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
                action="audit.checkpoint",
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
        found = get_setting(connection, STORE_ID_KEY)
        checks = check_checkpoints(connection, documents, keys, store_id=found)
    return AuditVerification(chain, tuple(checks))
