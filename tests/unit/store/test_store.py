"""The store on SQLite and PostgreSQL: migrations, the audit chain and tamper detection."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from goldenpath.auth.principal import Principal
from goldenpath.errors import PermissionDenied, StoreError
from goldenpath.store import append_event, open_store, verify_chain
from goldenpath.store.access import authorize
from goldenpath.store.audit import GENESIS_HASH, list_events
from goldenpath.store.bindings import verify_rows
from goldenpath.store.schema import metadata


def _events(uri: str, n: int) -> None:
    store = open_store(uri=uri)
    for i in range(n):
        with store.transaction() as connection:
            append_event(
                connection,
                actor="alice",
                action="test",
                project="p",
                subject=f"s{i}",
                payload={"i": i, "text": "ünïcode"},
            )


def test_migrations_create_exactly_the_declared_tables(store_uri: str) -> None:
    store = open_store(uri=store_uri)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": "gp_alembic_version"}
        )
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == "0008"


def test_a_store_at_the_first_revision_is_upgraded_on_open_keeping_its_data(
    store_uri: str,
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, make_url

    import goldenpath.store.engine as engine_module

    config = Config()
    config.set_main_option("script_location", str(engine_module._MIGRATIONS))
    database = make_url(store_uri).database
    if store_uri.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    old = create_engine(store_uri)
    with old.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text("INSERT INTO gp_users VALUES ('alice', 'admin', '2026-01-01', 'alice')")
        )
        assert "gp_alerts" not in _tables(connection)
    old.dispose()
    store = open_store(uri=store_uri)
    with store.engine.connect() as connection:
        assert {"gp_alerts", "gp_monitor_files", "gp_monitor_windows"} <= _tables(connection)
        assert connection.execute(text("SELECT name FROM gp_users")).scalars().all() == ["alice"]
    with store.reading() as connection:  # the rows written before revision 0006, bound by it
        (event,) = list_events(connection)
        assert verify_rows(connection).ok
    assert (event.action, event.actor, event.project) == ("store.bind", "goldenpath", "*")
    assert [(r["table"], r["key"]) for r in event.payload["rows"]] == [("gp_users", "alice")]


def _tables(connection: Any) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(connection).get_table_names())


def test_intact_chain_verifies_and_links_every_event(store_uri: str) -> None:
    _events(store_uri, 5)
    store = open_store(uri=store_uri)
    with store.transaction() as connection:
        report = verify_chain(connection)
        events = list(reversed(list_events(connection)))
    assert report.ok
    assert report.events == 5
    assert report.head_seq == 5
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert report.head_hash == events[-1].hash
    assert events[2].payload == {"i": 2, "text": "ünïcode"}


@pytest.mark.parametrize(
    ("tamper", "broken_at", "words"),
    [
        ("UPDATE gp_audit_events SET actor = 'mallory' WHERE seq = 3", 3, "edited"),
        ("UPDATE gp_audit_events SET payload = 'x' WHERE seq = 2", 2, "edited"),
        ("DELETE FROM gp_audit_events WHERE seq = 3", 3, "deleted"),
        ("DELETE FROM gp_audit_events WHERE seq = 1", 1, "deleted"),
        # an inserted event: the rows after it are renumbered to make room
        (
            "UPDATE gp_audit_events SET seq = seq + 100 WHERE seq >= 3;"
            "INSERT INTO gp_audit_events SELECT 3, at, actor, 'forged', project, subject, "
            "payload, prev_hash, hash FROM gp_audit_events WHERE seq = 2;"
            "UPDATE gp_audit_events SET seq = seq - 99 WHERE seq >= 103",
            3,
            "inserted",
        ),
    ],
)
def test_tampering_is_reported_at_the_first_broken_link(
    store_uri: str, tamper: str, broken_at: int, words: str
) -> None:
    _events(store_uri, 5)
    store = open_store(uri=store_uri)
    with store.engine.begin() as connection:
        for statement in tamper.split(";"):
            connection.exec_driver_sql(statement)
    with store.transaction() as connection:
        report = verify_chain(connection)
    assert not report.ok
    assert report.broken_at == broken_at
    assert words in (report.reason or "")


def test_a_recomputed_hash_still_breaks_the_next_link(store_uri: str) -> None:
    _events(store_uri, 4)
    store = open_store(uri=store_uri)
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE gp_audit_events SET hash = :h WHERE seq = 2"), {"h": "f" * 64}
        )
    with store.transaction() as connection:
        report = verify_chain(connection)
    assert (report.ok, report.broken_at) == (False, 2)


def test_concurrent_appends_never_fork_the_chain(store_uri: str) -> None:
    open_store(uri=store_uri)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            _events(store_uri, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(uri=store_uri).transaction() as connection:
        report = verify_chain(connection)
    assert report.ok
    assert report.events == 40


def test_first_actor_becomes_admin_and_strangers_are_refused(store_uri: str) -> None:
    store = open_store(uri=store_uri)
    with store.transaction() as connection:
        alice = Principal("alice", "token", "0123456789ab")
        assert authorize(connection, alice, "developer", project="p", action="x").role == "admin"
    with pytest.raises(PermissionDenied, match="not a user"), store.transaction() as connection:
        authorize(connection, Principal("mallory", "local"), "viewer", project="p", action="look")
    with store.transaction() as connection:
        (event,) = list_events(connection)
    assert (event.action, event.actor) == ("users.bootstrap", "alice")
    assert event.payload["auth"] == {"method": "token", "credential": "0123456789ab"}


def test_unreachable_or_malformed_store_uri_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        open_store(uri="not a url")
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(uri="postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
