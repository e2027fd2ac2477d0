"""The principal behind a command: who is acting, and how the store knows it.

The store's **auth mode** (a setting only an admin changes: ``goldenpath auth set MODE``) says
which identities it accepts:

* ``local`` (the default of the embedded SQLite store, one laptop): the operating-system user,
  recorded as such (method ``local``). Nothing proves it beyond the account that runs the
  command, so the approval of a high-risk model (four-eyes) is refused for a local identity.
* ``token`` (the default of a PostgreSQL store, shared by a team): a token an admin created
  (``goldenpath users token create``), presented through ``GOLDENPATH_TOKEN`` or kept by
  ``goldenpath login``. Nothing else is accepted once an admin has been given a token; until
  then (a store being set up) the operating-system user is, so that its first admin can create
  their own token. Tokens that later expire or are revoked do not reopen that window (an
  account named like an admin would otherwise become one): keep an admin token valid, or
  switch the mode back directly in the database (``gp_settings``), as only its owner can.
* ``database`` (PostgreSQL only): the database login role is the identity, so a company's
  existing database accounts and their passwords are the credentials.

In every mode a token, when presented, is the identity: a wrong, revoked or expired token is
an error, never a fallback to another identity. A store without users is unclaimed: whoever
acts first becomes its admin (so a new project works at once, and its admin then creates the
others' credentials). ``GOLDENPATH_USER``, the claimed name of earlier versions, is refused
with a message that says what replaced it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import Connection, select, text

from goldenpath.auth.login import remembered_token
from goldenpath.errors import AuthenticationFailed
from goldenpath.settings import USER_VAR, claimed_user, os_user, token_override
from goldenpath.store.audit import append_event, now
from goldenpath.store.bindings import binding
from goldenpath.store.credentials import get_setting, list_credentials, set_setting, verify
from goldenpath.store.engine import Store
from goldenpath.store.schema import settings as settings_table
from goldenpath.store.schema import users

__all__ = [
    "AUTH_MODES",
    "AuthMethod",
    "AuthMode",
    "Principal",
    "acting",
    "auth_mode",
    "identify",
    "known_store_id",
    "store_id",
    "token_admins",
]

AuthMode = Literal["local", "token", "database"]
AUTH_MODES: tuple[AuthMode, ...] = get_args(AuthMode)
AuthMethod = Literal["local", "token", "database"]
MODE_KEY = "auth_mode"
STORE_ID_KEY = "store_id"


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user's name, how it was established, and the credential that proved
    it (tokens only)."""

    name: str
    method: AuthMethod
    credential: str | None = None

    @property
    def proven(self) -> bool:
        """Authenticated by something the store checked (a token, a database login), not just
        the account running the command."""
        return self.method != "local"

    def audit(self) -> dict[str, str | None]:
        """What every audit event records of it, beside the name."""
        return {"method": self.method, "credential": self.credential}


def auth_mode(connection: Connection) -> AuthMode:
    """The store's auth mode: its setting, else ``local`` on SQLite and ``token`` on
    PostgreSQL."""
    found = get_setting(connection, MODE_KEY)
    for mode in AUTH_MODES:
        if found == mode:
            return mode
    return "local" if connection.dialect.name == "sqlite" else "token"


def store_id(connection: Connection) -> str:
    """The store's own random id (created the first time it is asked for), which ``login``
    keys tokens by."""
    found = get_setting(connection, STORE_ID_KEY)
    if found is None:
        found = secrets.token_hex(16)
        set_setting(connection, STORE_ID_KEY, found, by="goldenpath")
        append_event(  # bound into the chain as every state row is
            connection,
            actor="goldenpath",
            action="store.id",
            project="*",
            subject="store",
            payload={"rows": [binding(connection, settings_table, STORE_ID_KEY)]},
        )
    return found


def known_store_id(connection: Connection) -> str | None:
    """The store's id if it has one yet (never creates it: a store without an id has no token
    remembered for it, since ``login`` creates the id before keeping a token)."""
    return get_setting(connection, STORE_ID_KEY)


def token_admins(connection: Connection, *, active: bool = True) -> set[str]:
    """The admins who hold an active token of their own (``active=False``: who were ever
    given one, revoked and expired ones included)."""
    at = now()
    query = select(users.c.name).where(users.c.role == "admin")
    admins = {str(name) for name in connection.execute(query).scalars()}
    return {
        c.principal
        for c in list_credentials(connection)
        if c.kind == "user" and c.principal in admins and (not active or c.state(at) == "active")
    }


def identify(connection: Connection, *, touch: bool = True) -> Principal:
    """The principal acting now, by the rules in the module docstring (inside the caller's
    transaction; ``touch`` records a token's use). With ``touch=False`` nothing is written, so
    it may run in a read-only transaction (:meth:`~goldenpath.store.engine.Store.reading`)."""
    if claimed_user() is not None:
        raise AuthenticationFailed(
            f"{USER_VAR} is no longer read: a name anyone can set proves nothing",
            hint=f"unset {USER_VAR}; act with a token instead (an admin runs goldenpath users "
            "token create NAME; you run goldenpath login, or set GOLDENPATH_TOKEN)",
        )
    known = known_store_id(connection)
    token = token_override() or (None if known is None else remembered_token(known))
    if token is not None:
        credential = verify(connection, token, touch=touch)
        if credential.kind != "user":
            raise AuthenticationFailed(
                f"token {credential.id} belongs to the API client {credential.principal!r}, "
                "which cannot run commands",
                hint="use a person's token (goldenpath users token create NAME)",
            )
        return Principal(credential.principal, "token", credential.id)
    mode = auth_mode(connection)
    if mode == "database":
        if connection.dialect.name != "postgresql":
            raise AuthenticationFailed(
                "auth mode database needs a PostgreSQL store (its login role is the identity)",
                hint="goldenpath auth set local, or use a PostgreSQL store",
            )
        role = connection.execute(text("SELECT current_user")).scalar_one()
        return Principal(str(role), "database")
    if mode == "token" and token_admins(connection, active=False):
        raise AuthenticationFailed(
            "this store identifies people by token, and none was given",
            hint="run goldenpath login with the token an admin created for you "
            "(goldenpath users token create NAME), or set GOLDENPATH_TOKEN",
        )
    return Principal(os_user(), "local")


def acting(store: Store) -> Principal:
    """The principal acting now on ``store`` (one short transaction)."""
    with store.transaction() as connection:
        return identify(connection)
