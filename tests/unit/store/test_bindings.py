"""State rows bound into the audit chain, on SQLite and PostgreSQL: every row goldenpath writes
is named, with its content hash, by the audit event of the write; a row edited, inserted or
deleted in the database directly is named by ``audit verify`` and refused by whatever was about
to rely on it. (Decisions, approvals and promotions: tests/integration/test_governance.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

import goldenpath
from conftest import MakeProject, act_as, act_as_admin, store_rows
from goldenpath.cli.app import app
from goldenpath.errors import AuditChainBroken
from goldenpath.registry import add_member, grant, verify_audit
from goldenpath.registry.checkpoints import create_checkpoint_key, make_checkpoint
from goldenpath.registry.credentials import (
    create_client,
    create_token,
    log_in,
    revoke_credential,
    set_auth_mode,
)
from goldenpath.store import open_store
from goldenpath.store.audit import list_events
from goldenpath.store.bindings import BOUND, row_hash, verify_rows


def _sql(project: Any, *statements: str) -> None:
    with open_store(project).transaction() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _bound_rows(project: Any) -> int:
    with open_store(project).reading() as connection:
        return sum(len(connection.execute(select(b.table)).all()) for b in BOUND.values())


def _busy_store(project: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A store after every kind of write of users, credentials and settings."""
    act_as(monkeypatch, project, "bob", "developer")
    act_as_admin(monkeypatch, project)
    grant(project, "bob", "approver")
    add_member(project, "carol", "viewer")
    client = create_client(project, "scorer", ("predict",)).credential.id
    spare = create_token(project, "carol").credential.id
    revoke_credential(project, spare)
    set_auth_mode(project, "token")
    log_in(project, act_as_admin(monkeypatch, project))  # creates the store's id
    return {"client": client, "spare": spare}


def test_every_write_is_bound_and_verifies(
    store_uri: str, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = goldenpath.open_project(make_project())
    _busy_store(project, monkeypatch)
    verification = verify_audit(project)
    assert verification.ok, verification.rows.problems
    assert verification.rows.rows == _bound_rows(project) >= 8  # 3 users, 4 tokens, 2 settings
    with open_store(project).reading() as connection:
        tables = {
            row["table"]
            for event in list_events(connection)
            for row in event.payload.get("rows", [])
        }
    assert tables == {"gp_users", "gp_credentials", "gp_settings"}
    done = CliRunner().invoke(app, ["audit", "verify", "--json", "--project", str(project.root)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["rows"] == {
        "ok": True,
        "rows": verification.rows.rows,
        "problems": [],
    }


def test_rows_changed_in_the_database_are_named(
    store_uri: str, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = goldenpath.open_project(make_project())
    made = _busy_store(project, monkeypatch)
    key = tmp_path / "checkpoint.key"
    create_checkpoint_key(key)
    _sql(
        project,
        "UPDATE gp_users SET role = 'admin' WHERE name = 'bob'",
        "INSERT INTO gp_users (name, role, created_at, created_by) "
        "VALUES ('mallory', 'admin', '2026-01-01', 'alice')",
        f"DELETE FROM gp_credentials WHERE id = '{made['client']}'",
        "UPDATE gp_settings SET value = 'local' WHERE key = 'auth_mode'",
        # a token's last use is bookkeeping, outside the hash: not a problem
        f"UPDATE gp_credentials SET last_used_at = '2030-01-01' WHERE id = '{made['spare']}'",
    )
    rows = verify_audit(project).rows
    assert not rows.ok
    found = {(p.table, p.key): p for p in rows.problems}
    assert {where: p.problem for where, p in found.items()} == {
        ("gp_users", "bob"): "edited",
        ("gp_users", "mallory"): "inserted",
        ("gp_credentials", made["client"]): "deleted",
        ("gp_settings", "auth_mode"): "edited",
    }
    assert found[("gp_users", "mallory")].event is None
    assert "written outside goldenpath" in found[("gp_users", "mallory")].detail
    assert found[("gp_users", "bob")].event is not None

    done = CliRunner().invoke(app, ["audit", "verify", "--json", "--project", str(project.root)])
    assert done.exit_code == AuditChainBroken.exit_code, done.output
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert len(report["rows"]["problems"]) == 4
    text_out = CliRunner().invoke(app, ["audit", "verify", "--project", str(project.root)])
    assert "gp_users row mallory is named by no audit event" in text_out.output

    # a checkpoint never anchors a store whose rows were changed
    before = store_rows(project)
    with pytest.raises(AuditChainBroken, match="differ from what the chain recorded"):
        make_checkpoint(project, key=key, out=tmp_path / "cp.json")
    assert not (tmp_path / "cp.json").exists()
    assert store_rows(project) == before


def test_a_role_given_in_the_database_is_refused(
    store_uri: str, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = goldenpath.open_project(make_project())
    act_as(monkeypatch, project, "bob", "viewer")
    _sql(project, "UPDATE gp_users SET role = 'admin' WHERE name = 'bob'")
    before = store_rows(project)
    with pytest.raises(AuditChainBroken, match="bob's role is refused: gp_users row bob differs"):
        add_member(project, "eve", "admin")
    assert store_rows(project) == before
    # restored as goldenpath wrote it, the row is trusted again (and bob is a viewer)
    _sql(project, "UPDATE gp_users SET role = 'viewer' WHERE name = 'bob'")
    assert verify_audit(project).ok
    with pytest.raises(goldenpath.errors.PermissionDenied, match="has role viewer"):
        add_member(project, "eve", "admin")


def test_the_row_hash_skips_nulls_and_bookkeeping() -> None:
    users, credentials, approvals = (
        BOUND["gp_users"],
        BOUND["gp_credentials"],
        BOUND["gp_approvals"],
    )
    row = {"name": "a", "role": "viewer", "created_at": "t", "created_by": "b"}
    # a nullable column added by a later revision leaves older rows' hashes as they were
    assert row_hash(users, row) == row_hash(users, {**row, "role_granted_by": None})
    assert row_hash(users, row) != row_hash(users, {**row, "role_granted_by": "c"})
    assert row_hash(users, row) != row_hash(users, {**row, "role": "admin"})
    token = {"id": "x", "principal": "a", "secret_sha256": "s"}
    assert row_hash(credentials, token) == row_hash(credentials, {**token, "last_used_at": "t"})
    approval = {"decision_id": "d", "approver": "bob", "comment": "ok", "created_at": "t"}
    assert row_hash(approvals, approval) == row_hash(approvals, {**approval, "id": 7})
    assert approvals.key_of(approval) == '["d","bob"]'
    assert users.key_of(row) == "a"


def test_verify_rows_on_an_empty_store(store_uri: str) -> None:
    with open_store(uri=store_uri).reading() as connection:
        report = verify_rows(connection)
    assert (report.ok, report.rows, report.problems) == (True, 0, ())
