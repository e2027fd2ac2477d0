"""Signed checkpoints of the audit chain: what a chain alone cannot show.

A hash chain shows an edited, deleted or inserted event, but not the loss of its newest events
(down to none) nor a chain whose hashes were all recomputed after an edit: both leave a chain
that holds together. A **checkpoint** signs the head of the chain with an Ed25519 key kept
outside the store (:mod:`goldenpath.store.signing`), as Certificate Transparency's signed tree
heads do; kept where the database's writers cannot rewrite it, it anchors every event up to the
head:

* the store's id, the number of events, the head's ``seq`` and hash, the time, who made it;
* ``event_digests``: the first :data:`DIGEST_BYTES` bytes of every event's hash, 1 to head,
  base64 (5.3 characters an event), so that verification names the first event that changed,
  not only that one did;
* the signing key's fingerprint and the signature over all of the above (the canonical JSON of
  every field but ``signature``).

:func:`check_checkpoints` recomputes the chain from the events' content (never trusting stored
hashes) and, for each checkpoint, reports its signature, its store, the first event missing
below its head (a truncation) and the first event whose hash differs from the signed one (an
edit, re-hashed or not). Events appended after a checkpoint are what a chain is for: fine.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection

from goldenpath.store.audit import (
    GENESIS_HASH,
    ChainReport,
    canonical_json,
    now,
    recomputed_hashes,
    verify_chain,
)
from goldenpath.store.bindings import RowsReport, verify_rows
from goldenpath.store.signing import fingerprint, sign, signature_holds

__all__ = [
    "CHECKPOINT_KIND",
    "CHECKPOINT_SCHEMA_VERSION",
    "DIGEST_BYTES",
    "AuditVerification",
    "Checkpoint",
    "CheckpointCheck",
    "check_checkpoints",
    "checkpoint_filename",
    "checkpoint_json",
    "read_checkpoint",
    "sign_head",
]

CHECKPOINT_SCHEMA_VERSION: Final = 1
CHECKPOINT_KIND: Final = "goldenpath.audit_checkpoint"
DIGEST_BYTES: Final = 4


class Checkpoint(BaseModel):
    """One signed checkpoint, as written to its JSON file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = CHECKPOINT_SCHEMA_VERSION
    kind: Literal["goldenpath.audit_checkpoint"] = CHECKPOINT_KIND
    store_id: str
    project: str
    actor: str
    at: str
    events: int
    head_seq: int
    head_hash: str
    digest_bytes: int = DIGEST_BYTES
    event_digests: str
    key_fingerprint: str
    signature: str

    def signed_bytes(self) -> bytes:
        """What the signature covers: the canonical JSON of every field but ``signature``."""
        return canonical_json(self.model_dump(exclude={"signature"})).encode("utf-8")

    def digests(self) -> list[bytes]:
        """The signed digest of event 1, 2, ... head (empty when it cannot be decoded)."""
        try:
            raw = base64.b64decode(self.event_digests, validate=True)
        except ValueError:
            return []
        size = self.digest_bytes
        return [raw[i : i + size] for i in range(0, len(raw), size)] if size > 0 else []


def sign_head(
    connection: Connection,
    key: Ed25519PrivateKey,
    *,
    store_id: str,
    project: str,
    actor: str,
) -> Checkpoint:
    """Sign the current head of the chain (the caller holds :func:`lock_chain`). A broken
    chain is never signed: :class:`~goldenpath.errors.AuditChainBroken` names its first broken
    link instead."""
    from goldenpath.errors import AuditChainBroken

    report = verify_chain(connection)
    if not report.ok:
        raise AuditChainBroken(
            f"the audit chain is broken at event {report.broken_at} ({report.reason}), so "
            "its head is not signed",
            hint="find out what changed (goldenpath audit verify --checkpoint with earlier "
            "checkpoints names the first changed event) before anchoring the chain again",
        )
    rows = verify_rows(connection)
    if not rows.ok:
        raise AuditChainBroken(
            f"{len(rows.problems)} store row(s) differ from what the chain recorded "
            f"({rows.problems[0].detail}), so its head is not signed",
            hint="goldenpath audit verify lists them; find out who changed the database",
            details={"rows": [p.to_dict() for p in rows.problems]},
        )
    digests = bytearray()
    head_seq, head_hash = 0, GENESIS_HASH
    for seq, digest in recomputed_hashes(connection):
        digests += bytes.fromhex(digest)[:DIGEST_BYTES]
        head_seq, head_hash = seq, digest
    unsigned: dict[str, Any] = {
        "store_id": store_id,
        "project": project,
        "actor": actor,
        "at": now(),
        "events": report.events,
        "head_seq": head_seq,
        "head_hash": head_hash,
        "event_digests": base64.b64encode(bytes(digests)).decode("ascii"),
        "key_fingerprint": fingerprint(key.public_key()),
        "signature": "",
    }
    draft = Checkpoint(**unsigned)
    return draft.model_copy(update={"signature": sign(key, draft.signed_bytes())})


def checkpoint_filename(checkpoint: Checkpoint) -> str:
    """``checkpoint-<UTC time to the microsecond>-seq<head>.json``: sorted by time."""
    at = datetime.fromisoformat(checkpoint.at).strftime("%Y%m%dT%H%M%S%fZ")
    return f"checkpoint-{at}-seq{checkpoint.head_seq}.json"


def read_checkpoint(path: Path) -> Checkpoint | str:
    """The checkpoint in ``path``, or why it is not one."""
    try:
        return Checkpoint.model_validate_json(path.read_bytes())
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        return f"not a goldenpath checkpoint ({where}: {first['msg']})"


@dataclass(frozen=True)
class CheckpointCheck:
    """One checkpoint checked against the store."""

    path: str
    ok: bool
    reason: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    at: str | None = None
    store_id: str | None = None
    key_fingerprint: str | None = None
    signature_ok: bool = False
    first_missing: int | None = None  # the first event below the head the store lacks
    first_changed: int | None = None  # the first event whose hash is not the signed one

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class AuditVerification:
    """The chain's own check, the bound rows' (:mod:`goldenpath.store.bindings`) and each
    checkpoint's: ``ok`` only when all of them hold."""

    chain: ChainReport
    rows: RowsReport
    checkpoints: tuple[CheckpointCheck, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.rows.ok and all(c.ok for c in self.checkpoints)

    def to_dict(self) -> dict[str, object]:
        return {
            **self.chain.to_dict(),
            "ok": self.ok,
            "rows": self.rows.to_dict(),
            "checkpoints": [c.to_dict() for c in self.checkpoints],
        }


@dataclass
class _Pending:
    """A checkpoint whose signature and store held, being compared with the chain."""

    path: str
    checkpoint: Checkpoint
    digests: list[bytes]
    next_seq: int = 1
    failure: CheckpointCheck | None = None


def _describe(path: str, checkpoint: Checkpoint, **found: Any) -> CheckpointCheck:
    return CheckpointCheck(
        path=path,
        head_seq=checkpoint.head_seq,
        head_hash=checkpoint.head_hash,
        at=checkpoint.at,
        store_id=checkpoint.store_id,
        key_fingerprint=checkpoint.key_fingerprint,
        **found,
    )


def _authentic(
    path: str,
    checkpoint: Checkpoint,
    keys: dict[str, Ed25519PublicKey],
    store_id: str | None,
) -> CheckpointCheck | None:
    """The failure of a checkpoint's signature or store, or ``None`` when both hold."""
    key = keys.get(checkpoint.key_fingerprint)
    if key is None:
        given = ", ".join(sorted(keys)) or "none"
        return _describe(
            path,
            checkpoint,
            ok=False,
            reason=f"signed by key {checkpoint.key_fingerprint}, which is not a given "
            f"--public-key (given: {given})",
        )
    if not signature_holds(key, checkpoint.signed_bytes(), checkpoint.signature):
        return _describe(
            path,
            checkpoint,
            ok=False,
            reason="the signature does not hold: the checkpoint file was altered after it "
            "was signed",
        )
    if checkpoint.store_id != store_id:
        return _describe(
            path,
            checkpoint,
            ok=False,
            signature_ok=True,
            reason=f"a checkpoint of another store (id {checkpoint.store_id}; this store's id "
            f"is {store_id or 'not set: no checkpoint was ever made of it'})",
        )
    digests = checkpoint.digests()
    if len(digests) != checkpoint.head_seq or checkpoint.digest_bytes < 1:
        return _describe(
            path,
            checkpoint,
            ok=False,
            signature_ok=True,
            reason=f"its event digests cover {len(digests)} events, not 1 to {checkpoint.head_seq}",
        )
    return None


def _span(first: int, last: int) -> str:
    return f"event {first} is" if first == last else f"events {first} to {last} are"


def check_checkpoints(
    connection: Connection,
    checkpoints: Sequence[tuple[str, Checkpoint | str]],
    keys: Sequence[Ed25519PublicKey],
    *,
    store_id: str | None,
) -> list[CheckpointCheck]:
    """Check each ``(path, checkpoint or why it could not be read)`` against the store, in one
    pass over the chain recomputed from the events' content."""
    by_fingerprint = {fingerprint(k): k for k in keys}
    results: dict[int, CheckpointCheck] = {}
    pending: dict[int, _Pending] = {}
    for i, (path, found) in enumerate(checkpoints):
        if isinstance(found, str):
            results[i] = CheckpointCheck(path=path, ok=False, reason=found)
            continue
        failure = _authentic(path, found, by_fingerprint, store_id)
        if failure is not None:
            results[i] = failure
        else:
            pending[i] = _Pending(path, found, found.digests())
    reach = max((p.checkpoint.head_seq for p in pending.values()), default=0)
    if reach:
        for seq, digest in recomputed_hashes(connection, up_to=reach):
            raw = bytes.fromhex(digest)
            for p in pending.values():
                if p.failure is not None or p.next_seq > p.checkpoint.head_seq:
                    continue
                if seq != p.next_seq:
                    p.failure = _describe(
                        p.path,
                        p.checkpoint,
                        ok=False,
                        signature_ok=True,
                        first_missing=p.next_seq,
                        reason=f"event {p.next_seq} is missing (the next stored event is "
                        f"{seq}): it was deleted after the checkpoint",
                    )
                elif raw[: p.checkpoint.digest_bytes] != p.digests[seq - 1] or (
                    seq == p.checkpoint.head_seq and digest != p.checkpoint.head_hash
                ):
                    p.failure = _describe(
                        p.path,
                        p.checkpoint,
                        ok=False,
                        signature_ok=True,
                        first_changed=seq,
                        reason=f"event {seq} is not the event signed at checkpoint time: it "
                        "(or an event before it) was changed, even if the chain's hashes were "
                        "recomputed",
                    )
                p.next_seq = seq + 1
    for i, p in pending.items():
        if p.failure is None and p.next_seq <= p.checkpoint.head_seq:
            p.failure = _describe(
                p.path,
                p.checkpoint,
                ok=False,
                signature_ok=True,
                first_missing=p.next_seq,
                reason=f"{_span(p.next_seq, p.checkpoint.head_seq)} missing: the chain was "
                "truncated after the checkpoint",
            )
        results[i] = p.failure or _describe(p.path, p.checkpoint, ok=True, signature_ok=True)
    return [results[i] for i in range(len(checkpoints))]


def checkpoint_json(checkpoint: Checkpoint) -> str:
    """The file's text: the document, indented, keys in a stable order."""
    return json.dumps(checkpoint.model_dump(), indent=2) + "\n"
