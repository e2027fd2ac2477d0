"""The store translates SQLAlchemy's IntegrityError itself: a duplicate key is DuplicateRecord
naming its table, told by the driver's error code on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from goldenpath.errors import DuplicateRecord, StoreError
from goldenpath.store import User, open_store
from goldenpath.store.audit import now
from goldenpath.store.records import add_user


def test_a_duplicate_key_is_duplicate_record_with_its_table(store_uri: Any) -> None:
    store = open_store(uri=store_uri)
    user = User("ann", "developer", now(), "tests")
    with store.transaction() as connection:
        add_user(connection, user)
    with pytest.raises(DuplicateRecord) as raised, store.transaction() as connection:
        add_user(connection, user)
    assert raised.value.table == "gp_users"
    assert isinstance(raised.value, StoreError)
    assert raised.value.to_dict()["code"] == "duplicate_record"
    with store.transaction() as connection:  # the failed transaction left nothing behind
        assert connection.exec_driver_sql("SELECT count(*) FROM gp_users").scalar_one() == 1
