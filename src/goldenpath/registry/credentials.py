"""Credentials: admins issue tokens to people and API clients and revoke them; people log in
with theirs; admins choose the store's auth mode. Every change is audited, with the token's id
and never the token (:mod:`goldenpath.store.credentials` keeps only its hash).

People act with their role (``goldenpath users``); API clients (``goldenpath clients``) only
call the HTTP service, with the scopes their token was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from goldenpath.auth.login import forget_token, remember_token
from goldenpath.auth.principal import (
    AUTH_MODES,
    MODE_KEY,
    AuthMode,
    Principal,
    auth_mode,
    identify,
    known_store_id,
    store_id,
    token_admins,
)
from goldenpath.errors import AuthenticationFailed, PermissionDenied, RecordNotFound
from goldenpath.project import Project
from goldenpath.store import Store, User, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.credentials import (
    SCOPES,
    Credential,
    CredentialKind,
    Scope,
    issue,
    list_credentials,
    revoke,
    set_setting,
    verify,
)
from goldenpath.store.records import get_user
from goldenpath.store.schema import credentials as credentials_table
from goldenpath.store.schema import settings as settings_table

__all__ = [
    "Identity",
    "Issued",
    "clients_of",
    "create_client",
    "create_token",
    "credentials_of",
    "log_in",
    "log_out",
    "revoke_credential",
    "set_auth_mode",
    "who_am_i",
]


@dataclass(frozen=True)
class Issued:
    """A new credential and its token: shown once, kept nowhere by goldenpath."""

    credential: Credential
    token: str


@dataclass(frozen=True)
class Identity:
    """``goldenpath whoami``: the principal, their role and the store's auth mode."""

    principal: Principal
    role: str | None
    mode: AuthMode

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.principal.name,
            "method": self.principal.method,
            "credential": self.principal.credential,
            "role": self.role,
            "auth_mode": self.mode,
        }


def _expiry(expires: timedelta | None) -> datetime | None:
    return None if expires is None else datetime.now(UTC) + expires


def _issue(
    project: Project,
    name: str,
    kind: CredentialKind,
    *,
    scopes: tuple[Scope, ...],
    expires: timedelta | None,
    store: Store | None,
) -> Issued:
    store = store or open_store(project)
    with store.transaction() as connection:
        actor = identify(connection)
        what = "create tokens" if kind == "user" else "create API clients"
        authorize(connection, actor, "admin", project=project.name, action=what)
        if kind == "user" and get_user(connection, name) is None:
            raise RecordNotFound(
                f"no user {name!r}",
                hint=f"add them first: goldenpath users add {name} --role ROLE",
            )
        credential, token = issue(
            connection,
            principal=name,
            kind=kind,
            scopes=scopes,
            created_by=actor.name,
            expires_at=_expiry(expires),
        )
        record(
            connection,
            actor=actor,
            action=f"credentials.create_{kind}",
            project=project.name,
            subject=name,
            payload={
                "credential": credential.id,
                "scopes": list(scopes),
                "expires_at": credential.expires_at,
            },
            rows=[(credentials_table, (credential.id,))],
        )
    return Issued(credential, token)


def create_token(
    project: Project, name: str, *, expires: timedelta | None = None, store: Store | None = None
) -> Issued:
    """A token for user ``name`` (admins only); it acts with their role."""
    return _issue(project, name, "user", scopes=(), expires=expires, store=store)


def create_client(
    project: Project,
    name: str,
    scopes: tuple[Scope, ...],
    *,
    expires: timedelta | None = None,
    store: Store | None = None,
) -> Issued:
    """A token for the API client ``name`` with ``scopes`` (admins only)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise PermissionDenied(
            f"unknown scope(s) {', '.join(map(repr, unknown))} for client {name!r}",
            hint=f"scopes are {', '.join(SCOPES)}",
        )
    if not scopes:
        raise PermissionDenied(
            f"client {name!r} needs at least one scope",
            hint="--scope predict, feedback, metrics or admin",
        )
    unique = tuple(dict.fromkeys(scopes))
    return _issue(project, name, "client", scopes=unique, expires=expires, store=store)


def credentials_of(
    project: Project, principal: str | None = None, *, store: Store | None = None
) -> list[Credential]:
    """Credentials (never tokens): all of them for admins, one's own for everyone else."""
    store = store or open_store(project)
    with store.reading() as connection:  # a read: no token use recorded, no store claimed
        actor = identify(connection, touch=False)
        user = authorize(
            connection, actor, "viewer", project=project.name, action="list tokens", claim=False
        )
        if user.role != "admin":
            if principal not in (None, actor.name):
                raise PermissionDenied(
                    "only admins see other people's credentials",
                    hint=f"goldenpath users token list {actor.name}",
                )
            principal = actor.name
        return list_credentials(connection, principal)


def clients_of(project: Project, *, store: Store | None = None) -> list[Credential]:
    """API clients' credentials (admins only)."""
    store = store or open_store(project)
    with store.reading() as connection:  # a read: no token use recorded, no store claimed
        actor = identify(connection, touch=False)
        authorize(
            connection, actor, "admin", project=project.name, action="list API clients", claim=False
        )
        return [c for c in list_credentials(connection) if c.kind == "client"]


def revoke_credential(project: Project, ident: str, *, store: Store | None = None) -> Credential:
    """Revoke a credential: admins any, a user their own."""
    store = store or open_store(project)
    with store.transaction() as connection:
        actor = identify(connection)
        user = authorize(connection, actor, "viewer", project=project.name, action="revoke")
        found = [c for c in list_credentials(connection) if c.id == ident]
        owned = bool(found) and found[0].kind == "user" and found[0].principal == actor.name
        if user.role != "admin" and not owned:
            raise PermissionDenied(
                f"only admins revoke credentials that are not their own ({ident})",
                hint="ask an admin: goldenpath users token revoke " + ident,
            )
        credential = revoke(connection, ident, by=actor.name)
        record(
            connection,
            actor=actor,
            action="credentials.revoke",
            project=project.name,
            subject=credential.principal,
            payload={"credential": ident},
            rows=[(credentials_table, (ident,))],
        )
    return credential


def set_auth_mode(project: Project, mode: AuthMode, *, store: Store | None = None) -> AuthMode:
    """Set how the store identifies people (admins only). ``token`` needs an admin with an
    active token (else nobody could manage the store afterwards); ``database`` needs
    PostgreSQL."""
    if mode not in AUTH_MODES:
        raise PermissionDenied(f"unknown auth mode {mode!r}", hint=", ".join(AUTH_MODES))
    store = store or open_store(project)
    with store.transaction() as connection:
        actor = identify(connection)
        authorize(connection, actor, "admin", project=project.name, action="set the auth mode")
        before = auth_mode(connection)
        if mode == "database" and connection.dialect.name != "postgresql":
            raise PermissionDenied(
                "auth mode database needs a PostgreSQL store (its login role is the identity)"
            )
        if mode == "token" and not token_admins(connection):
            raise PermissionDenied(
                "no admin has an active token yet: in auth mode token the store's admins act "
                "with tokens",
                hint="goldenpath users token create ADMIN, then goldenpath login with it",
            )
        set_setting(connection, MODE_KEY, mode, by=actor.name)
        record(
            connection,
            actor=actor,
            action="auth.mode",
            project=project.name,
            subject="store",
            payload={"from": before, "to": mode},
            rows=[(settings_table, (MODE_KEY,))],
        )
    return mode


def log_in(project: Project, token: str, *, store: Store | None = None) -> Identity:
    """Check ``token`` against the project's store and keep it for the CLI (a 0600 file in the
    user's configuration folder)."""
    store = store or open_store(project)
    with store.transaction() as connection:
        credential = verify(connection, token)
        if credential.kind != "user":
            raise AuthenticationFailed(
                f"token {credential.id} belongs to the API client {credential.principal!r}; "
                "log in with a person's token"
            )
        user = get_user(connection, credential.principal)
        mode = auth_mode(connection)
        key = store_id(connection)
    remember_token(key, token.strip())
    principal = Principal(credential.principal, "token", credential.id)
    return Identity(principal, None if user is None else user.role, mode)


def log_out(project: Project, *, store: Store | None = None) -> bool:
    """Forget the token kept for the project's store (it stays valid: revoke it to end it)."""
    store = store or open_store(project)
    with store.reading() as connection:
        key = known_store_id(connection)
    return key is not None and forget_token(key)


def who_am_i(project: Project, *, store: Store | None = None) -> Identity:
    """The principal acting now, their role (None: not a user of the store) and the mode."""
    store = store or open_store(project)
    with store.reading() as connection:
        principal = identify(connection, touch=False)
        user: User | None = get_user(connection, principal.name)
        return Identity(principal, None if user is None else user.role, auth_mode(connection))
