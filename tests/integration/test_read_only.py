"""Read commands never write: they run in read-only transactions (``Store.reading``), which
cannot write on either store and, on SQLite, neither wait for nor block a writer.

Crash recovery, which used to run inside ``history``, is ``goldenpath recover`` now (see
``test_a_promotion_killed_between_steps_is_finished_or_undone`` in test_governance.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

import goldenpath
import goldenpath.store.engine as engine_module
from conftest import MakeProject, act_as, store_rows
from goldenpath.cli.app import app
from goldenpath.errors import AuthenticationFailed, PermissionDenied, StoreError
from goldenpath.registry import (
    add_member,
    audit_events,
    check_aliases,
    history,
    members,
    verify_audit,
)
from goldenpath.registry.credentials import clients_of, create_client, credentials_of, who_am_i
from goldenpath.store import append_event, open_store
from goldenpath.store.audit import list_events
from goldenpath.store.credentials import list_credentials

STORE_ONLY_COMMANDS = [
    ["history"],
    ["users", "list"],
    ["users", "token", "list"],
    ["clients", "list"],
    ["audit", "list"],
    ["audit", "verify"],
    ["whoami"],
    ["alerts"],
]


def _reads(project: goldenpath.Project, *, identified: bool = True) -> dict[str, Any]:
    """The library reads behind the read commands (``who_am_i`` only for a known principal)."""
    reads = {
        "history": history(project),
        "check_aliases": check_aliases(project),
        "members": members(project),
        "audit_events": audit_events(project),
        "verify_audit": verify_audit(project),
    }
    return {**reads, "who_am_i": who_am_i(project)} if identified else reads


def _cli(project: goldenpath.Project, *args: str) -> Any:
    done = CliRunner().invoke(app, [*args, "--json", "--project", str(project.root)])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _append(connection: Any, subject: str) -> None:
    append_event(
        connection, actor="someone", action="test", project="small", subject=subject, payload={}
    )


def test_a_read_only_transaction_cannot_write(store_uri: str) -> None:
    store = open_store(uri=store_uri)
    with store.reading() as connection:
        assert list_events(connection) == []  # it reads
    with (
        pytest.raises(StoreError, match="read-only transaction") as refused,
        store.reading() as connection,
    ):
        _append(connection, "written by a reader")
    assert "bug in goldenpath" in str(refused.value.hint)
    with store.reading() as connection:
        assert list_events(connection) == []
    with store.transaction() as connection:  # the next writer on the same engine may write
        _append(connection, "written by a writer")
    with store.reading() as connection:
        assert [e.subject for e in list_events(connection)] == ["written by a writer"]


STRANGER = "gp_0123456789ab_" + "x" * 43  # a well-formed token of no credential


def _rows_and_last_uses(project: goldenpath.Project) -> Any:
    """The store's rows, and each credential's last use (which store_rows leaves out)."""
    with open_store(project).reading() as connection:
        used = sorted((c.id, c.last_used_at or "") for c in list_credentials(connection))
    return store_rows(project), used


@pytest.mark.parametrize("reader", ["ada", "vic", "stranger"])
def test_reads_write_nothing_whoever_runs_them(
    make_project: MakeProject, store_uri: str, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin, a viewer and a stranger (a token the store does not know) read: not a row
    changes, not even a token's last use."""
    project = goldenpath.open_project(make_project())
    tokens = {
        "vic": act_as(monkeypatch, project, "vic", "viewer"),
        "ada": act_as(monkeypatch, project, "ada", "admin"),
        "stranger": STRANGER,
    }
    create_client(project, "web", ("predict",))
    monkeypatch.setenv("GOLDENPATH_TOKEN", tokens[reader])
    before = _rows_and_last_uses(project)
    reads = _reads(project, identified=reader != "stranger")
    assert reads["verify_audit"].ok
    assert {u.name for u in reads["members"]} >= {"ada", "vic"}
    if reader == "ada":
        assert reads["who_am_i"].role == "admin"
        assert {c.principal for c in credentials_of(project)} >= {"ada", "vic", "web"}
        assert [c.principal for c in clients_of(project)] == ["web"]
    elif reader == "vic":
        assert reads["who_am_i"].role == "viewer"
        assert {c.principal for c in credentials_of(project)} == {"vic"}
        with pytest.raises(PermissionDenied):
            clients_of(project)
    else:
        for read in (who_am_i, credentials_of, clients_of):
            with pytest.raises(AuthenticationFailed):
                read(project)
    assert _rows_and_last_uses(project) == before


def test_on_sqlite_readers_do_not_wait_for_a_writer(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a writer holds SQLite's write lock (an open BEGIN IMMEDIATE transaction), every
    read command answers, opening the store as a new process would, and sees the store as it
    was before the writer's uncommitted change."""
    uri = f"sqlite:///{tmp_path / 'store' / 'goldenpath.db'}"
    monkeypatch.setenv("GOLDENPATH_STORE_URI", uri)
    project = goldenpath.open_project(make_project())
    add_member(project, "bob", "viewer")  # the OS user claims the store; two audit events
    events_before = len(audit_events(project))

    holding, release = threading.Event(), threading.Event()
    outcome: dict[str, bool] = {}

    def writer() -> None:
        with open_store(uri=uri).transaction() as connection:
            _append(connection, "uncommitted")
            holding.set()
            outcome["released_by_the_test"] = release.wait(timeout=60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(timeout=60)
        database = make_url(uri).database
        assert database is not None
        other = sqlite3.connect(database, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")  # the write lock is held
        other.close()
        monkeypatch.setattr(engine_module, "_MIGRATED", set())  # open as a new process does
        reads = _reads(project)
        outputs = {" ".join(args): _cli(project, *args) for args in STORE_ONLY_COMMANDS}
        finished_while_held = thread.is_alive() and not release.is_set()
    finally:
        release.set()
        thread.join(timeout=60)
    assert finished_while_held, "a read waited for the writer"
    assert outcome["released_by_the_test"]
    assert reads["verify_audit"].ok
    assert len(reads["audit_events"]) == events_before  # a snapshot before the writer's event
    assert [u["name"] for u in outputs["users list"]] == sorted([u.name for u in reads["members"]])
    assert outputs["history"]["history"] == []
    assert len(audit_events(project)) == events_before + 1  # the writer committed afterwards
