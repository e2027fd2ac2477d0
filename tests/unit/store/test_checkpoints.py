"""Signed checkpoints of the audit chain, on SQLite and PostgreSQL: a checkpoint detects what the
chain alone cannot (the loss of its newest events, down to none, and a chain re-hashed after an
edit), names the first missing or changed event, and refuses forged or foreign checkpoints."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import goldenpath
from conftest import MakeProject, act_as
from goldenpath.errors import AuditChainBroken, AuthenticationFailed, PermissionDenied
from goldenpath.registry.checkpoints import (
    create_checkpoint_key,
    make_checkpoint,
    verify_with_checkpoints,
)
from goldenpath.store import append_event, open_store, verify_chain
from goldenpath.store.audit import recomputed_hashes


@pytest.fixture
def keyed(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "keys" / "checkpoint.key"
    created = create_checkpoint_key(key)
    return key, Path(created.public_key)


def _append(project: Any, n: int) -> None:
    store = open_store(project)
    for i in range(n):
        with store.transaction() as connection:
            append_event(connection, actor="alice", action="test", project="small", subject=f"s{i}")


def _sql(project: Any, *statements: str) -> None:
    with open_store(project).transaction() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _rehash(project: Any) -> None:
    """What a writer of the database can do after an edit: recompute every hash and link."""
    with open_store(project).transaction() as connection:
        prev = "0" * 64
        for seq, digest in list(recomputed_hashes(connection)):
            connection.execute(
                text("UPDATE gp_audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": seq},
            )
            prev = digest


def _checked(project: Any, checkpoint: str, public: Path) -> Any:
    verification = verify_with_checkpoints(project, [Path(checkpoint)], [public])
    return verification, verification.checkpoints[0]


def test_a_checkpoint_verifies_and_later_events_are_fine(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path], tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "BEGIN PUBLIC KEY" in public.read_text()
    _append(project, 4)
    written = make_checkpoint(project, key=key, out=tmp_path / "kept")
    checkpoint = written.checkpoint
    # users.bootstrap (the first actor claims the store), 4 events, then store.id (the store's
    # id, made for the first checkpoint, bound into the chain): the head it signed
    assert (checkpoint.events, checkpoint.head_seq) == (6, 6)
    assert written.audit_event == 7  # audited after the head it signs
    assert Path(written.path).parent == tmp_path / "kept"
    document = json.loads(Path(written.path).read_text())
    assert document["schema_version"] == 1
    assert document["key_fingerprint"].startswith("sha256:")

    _append(project, 3)
    verification, check = _checked(project, written.path, public)
    assert verification.ok
    assert check.ok
    assert check.signature_ok
    assert verification.to_dict()["checkpoints"][0]["head_seq"] == 6

    # the default place: the project's .goldenpath/checkpoints/, one file per checkpoint
    again = make_checkpoint(project, key=key)
    assert Path(again.path).parent == project.root / ".goldenpath" / "checkpoints"
    assert again.checkpoint.head_seq == 10
    everything = verify_with_checkpoints(
        project, [Path(written.path), Path(again.path).parent], [public]
    )
    assert everything.ok
    assert len(everything.checkpoints) == 2


def test_a_tampered_or_foreign_checkpoint_fails(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path], tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    _append(project, 3)
    written = make_checkpoint(project, key=key, out=tmp_path / "cp.json")
    document = json.loads(Path(written.path).read_text())

    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "head_seq": 2}))
    verification, check = _checked(project, str(forged), public)
    assert not verification.ok
    assert not check.signature_ok
    assert "signature does not hold" in (check.reason or "")

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    _, check = _checked(project, str(garbage), public)
    assert not check.ok
    assert "not a goldenpath checkpoint" in (check.reason or "")

    empty = tmp_path / "empty"
    empty.mkdir()
    _, check = _checked(project, str(empty), public)
    assert not check.ok
    assert check.reason == "no checkpoint files (*.json) in this folder"

    other = tmp_path / "other.key"
    other_public = Path(create_checkpoint_key(other).public_key)
    _, check = _checked(project, written.path, other_public)
    assert not check.ok
    assert "not a given --public-key" in (check.reason or "")

    # a checkpoint of another store (here, another project's SQLite store)
    foreign = f"sqlite:///{tmp_path / 'foreign.db'}"
    _append_uri(foreign, 3)
    verification = verify_with_checkpoints(
        project, [Path(written.path)], [public], store=open_store(uri=foreign)
    )
    assert not verification.ok
    assert "another store" in (verification.checkpoints[0].reason or "")


def _append_uri(uri: str, n: int) -> None:
    store = open_store(uri=uri)
    for i in range(n):
        with store.transaction() as connection:
            append_event(connection, actor="bob", action="test", project="x", subject=f"s{i}")


@pytest.mark.parametrize("kept", [6, 3, 0])
def test_truncation_after_a_checkpoint_names_the_first_missing_event(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    tmp_path: Path,
    kept: int,
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    _append(project, 7)
    # head 9 (users.bootstrap, 7 events, store.id), event 10 records it
    written = make_checkpoint(project, key=key, out=tmp_path)
    _sql(project, f"DELETE FROM gp_audit_events WHERE seq > {kept}")
    with open_store(project).transaction() as connection:
        assert verify_chain(connection).ok  # the chain alone sees nothing wrong
    verification, check = _checked(project, written.path, public)
    assert not verification.ok
    assert check.first_missing == kept + 1
    assert check.first_changed is None
    assert f"events {kept + 1} to 9 are missing" in (check.reason or "")


def test_an_edit_with_every_later_hash_recomputed_is_caught_at_the_edited_event(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path], tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    _append(project, 6)
    written = make_checkpoint(project, key=key, out=tmp_path)
    _append(project, 2)
    _sql(project, "UPDATE gp_audit_events SET actor = 'mallory' WHERE seq = 4")
    _rehash(project)
    with open_store(project).transaction() as connection:
        assert verify_chain(connection).ok
    verification, check = _checked(project, written.path, public)
    assert not verification.ok
    assert (check.first_changed, check.first_missing) == (4, None)
    assert check.reason is not None
    assert check.reason.startswith("event 4 is not the event signed")

    # an edit after the checkpoint's head, re-hashed, is not the checkpoint's to see
    fresh = make_checkpoint(project, key=key, out=tmp_path / "fresh.json")
    _sql(project, f"UPDATE gp_audit_events SET actor = 'eve' WHERE seq = {fresh.audit_event}")
    _rehash(project)
    assert verify_with_checkpoints(project, [Path(fresh.path)], [public]).ok


def test_a_middle_deletion_re_hashed_is_caught(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path], tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    _append(project, 5)
    written = make_checkpoint(project, key=key, out=tmp_path)
    _sql(
        project,
        "DELETE FROM gp_audit_events WHERE seq = 3",
        "UPDATE gp_audit_events SET seq = seq - 1 WHERE seq > 3",
    )
    _rehash(project)
    _, check = _checked(project, written.path, public)
    assert check.first_changed == 3


def test_who_may_sign_and_with_which_key(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    with pytest.raises(AuthenticationFailed, match="no key"):
        make_checkpoint(project)
    monkeypatch.setenv("GOLDENPATH_CHECKPOINT_KEY", str(key))
    # users.bootstrap, then store.id (the id is made for the first checkpoint)
    assert make_checkpoint(project, out=tmp_path / "a.json").checkpoint.head_seq == 2

    key.chmod(0o644)
    with pytest.raises(AuthenticationFailed, match="can be read by others"):
        make_checkpoint(project, out=tmp_path / "b.json")
    key.chmod(0o600)
    public.chmod(0o600)
    with pytest.raises(AuthenticationFailed, match="not an unencrypted PEM private key"):
        make_checkpoint(project, key=public, out=tmp_path / "b.json")

    act_as(monkeypatch, project, "dev", "developer")
    with pytest.raises(PermissionDenied, match="needs role approver"):
        make_checkpoint(project, out=tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
    act_as(monkeypatch, project, "ann", "approver")
    assert make_checkpoint(project, out=tmp_path / "c.json").checkpoint.actor == "ann"


def test_a_broken_chain_is_not_signed(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path], tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    key, _ = keyed
    _append(project, 3)
    _sql(project, "UPDATE gp_audit_events SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(AuditChainBroken, match="broken at event 2"):
        make_checkpoint(project, key=key, out=tmp_path)
    assert list(tmp_path.glob("*.json")) == []


def test_checkpoints_taken_while_others_append_each_sign_a_real_head(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path], tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    key, public = keyed
    _append(project, 1)
    errors: list[BaseException] = []

    def appender() -> None:
        try:
            _append(project, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def signer() -> None:
        try:
            for _ in range(3):
                make_checkpoint(project, key=key, out=tmp_path / "kept")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=t) for t in (appender, signer, appender)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verification = verify_with_checkpoints(project, [tmp_path / "kept"], [public])
    assert verification.ok
    assert len(verification.checkpoints) == 3
    # bootstrap, store.id, appends, checkpoint events
    assert verification.chain.events == 1 + 1 + 1 + 20 + 3
