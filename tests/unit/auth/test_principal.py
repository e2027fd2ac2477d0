"""Who is acting, on SQLite and PostgreSQL stores: the auth modes and their defaults, tokens
before everything, and the database login as the identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from goldenpath.auth.principal import MODE_KEY, auth_mode, identify, token_admins
from goldenpath.errors import AuthenticationFailed
from goldenpath.settings import os_user
from goldenpath.store import User, open_store
from goldenpath.store.credentials import issue, revoke, set_setting
from goldenpath.store.records import add_user


def test_modes_defaults_and_tokens_first(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(uri=store_uri)
    postgres = store.dialect == "postgresql"
    with store.transaction() as connection:
        assert auth_mode(connection) == ("token" if postgres else "local")
        # a store being set up (no admin holds a token): the operating-system user, in any mode
        assert identify(connection).name == os_user()
        assert identify(connection).method == "local"
        add_user(connection, User("ada", "admin", "2026-12-03", "ada"))
        _, token = issue(
            connection, principal="ada", kind="user", scopes=(), created_by="ada", expires_at=None
        )
        assert token_admins(connection) == {"ada"}
    with store.transaction() as connection:
        if postgres:  # tokens only, now that an admin holds one
            with pytest.raises(AuthenticationFailed, match="identifies people by token"):
                identify(connection)
        else:
            assert identify(connection).method == "local"
    monkeypatch.setenv("GOLDENPATH_TOKEN", token)
    with store.transaction() as connection:
        ada = identify(connection)
        assert (ada.name, ada.method, ada.proven) == ("ada", "token", True)
        assert token.startswith(f"gp_{ada.credential}_")
        expired = datetime.now(UTC) - timedelta(seconds=1)
        _, old = issue(
            connection,
            principal="ada",
            kind="user",
            scopes=(),
            created_by="ada",
            expires_at=expired,
        )
    monkeypatch.setenv("GOLDENPATH_TOKEN", old)
    with pytest.raises(AuthenticationFailed, match="expired"), store.transaction() as connection:
        identify(connection)
    monkeypatch.setenv("GOLDENPATH_TOKEN", token)
    with store.transaction() as connection:
        revoke(connection, ada.credential or "", by="ada")
    with pytest.raises(AuthenticationFailed, match="revoked"), store.transaction() as connection:
        identify(connection)  # never a fall-back to another identity


def test_database_mode_makes_the_login_role_the_identity(store_uri: str) -> None:
    store = open_store(uri=store_uri)
    with store.transaction() as connection:
        set_setting(connection, MODE_KEY, "database", by="test")
    if store.dialect != "postgresql":
        with (
            pytest.raises(AuthenticationFailed, match="needs a PostgreSQL store"),
            store.transaction() as connection,
        ):
            identify(connection)
        return
    with store.transaction() as connection:
        who = identify(connection)
    assert (who.name, who.method, who.credential) == ("postgres", "database", None)  # PG_SERVER's
