"""Invariants that hold under concurrency, on SQLite and PostgreSQL: one first admin however
many act first at once, and changes to users serialised (the last admin cannot be demoted by two
admins demoting each other at once)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from goldenpath.auth.principal import Principal
from goldenpath.errors import PermissionDenied
from goldenpath.store import open_store
from goldenpath.store.access import authorize
from goldenpath.store.records import lock_users
from goldenpath.store.schema import users


def test_of_five_first_actors_at_once_one_becomes_admin(store_uri: str) -> None:
    store = open_store(uri=store_uri)
    start = threading.Barrier(5)
    outcomes: list[str] = []

    def act(name: str) -> None:
        start.wait()
        try:
            with store.transaction() as connection:
                authorize(
                    connection, Principal(name, "local"), "developer", project="p", action="x"
                )
            outcomes.append("admin")
        except PermissionDenied:
            outcomes.append("refused")

    threads = [threading.Thread(target=act, args=(f"user{i}",)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["admin", "refused", "refused", "refused", "refused"]
    with store.transaction() as connection:
        assert connection.execute(select(func.count()).select_from(users)).scalar_one() == 1


def test_changes_to_users_wait_for_each_other(store_uri: str) -> None:
    """A second transaction that locks the users waits until the first ends, so it counts the
    admins after the first one's change (what keeps the last admin)."""
    store = open_store(uri=store_uri)
    held, waited = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with store.transaction() as connection:
            lock_users(connection)
            held.set()
            waited.wait(timeout=1.0)  # give the second every chance to overtake
            order.append("first ends")

    def second() -> None:
        held.wait(timeout=30)
        with store.transaction() as connection:
            lock_users(connection)
            order.append("second locks")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    waited.set()
    for thread in threads:
        thread.join(timeout=60)
    assert order == ["first ends", "second locks"]  # SQLite: BEGIN IMMEDIATE waits the same
