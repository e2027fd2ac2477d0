"""Credentials: tokens that prove who a user or an API client is, and the store's settings that
say how people are identified (the auth mode).

A token is ``gp_<id>_<secret>``: ``id`` (12 hex characters) names the credential in lists,
audit events and revocations; ``secret`` is 256 random bits. The store keeps the SHA-256 of the
whole token, never the token: it is printed once, when created. With 256 random bits a fast hash
is as strong as a slow one (there is no dictionary to try). A token is refused once revoked or
past its expiry; its last use is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, select, update

from goldenpath.errors import AuthenticationFailed, RecordNotFound
from goldenpath.store.audit import now
from goldenpath.store.schema import credentials, settings

__all__ = [
    "SCOPES",
    "Credential",
    "CredentialKind",
    "Scope",
    "get_credential",
    "get_setting",
    "issue",
    "list_credentials",
    "revoke",
    "set_setting",
    "token_id",
    "verify",
]

CredentialKind = Literal["user", "client"]
Scope = Literal["predict", "feedback", "metrics", "admin"]
SCOPES: tuple[Scope, ...] = ("predict", "feedback", "metrics", "admin")
_TOKEN = re.compile(r"^gp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Credential:
    id: str
    principal: str
    kind: CredentialKind
    scopes: tuple[Scope, ...]
    created_at: str
    created_by: str
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None

    def state(self, at: str) -> Literal["active", "revoked", "expired"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= at:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "principal": self.principal,
            "kind": self.kind,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "state": self.state(now()),
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _credential(row: Any) -> Credential:
    return Credential(
        row.id,
        row.principal,
        row.kind,
        tuple(json.loads(row.scopes)),
        row.created_at,
        row.created_by,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
        row.revoked_by,
    )


def token_id(token: str) -> str | None:
    """The credential id a token names, if it has the shape of one."""
    match = _TOKEN.match(token.strip())
    return None if match is None else match.group(1)


def issue(
    connection: Connection,
    *,
    principal: str,
    kind: CredentialKind,
    scopes: tuple[Scope, ...],
    created_by: str,
    expires_at: datetime | None,
) -> tuple[Credential, str]:
    """A new credential and its token (the only time the token exists outside its holder)."""
    ident = secrets.token_hex(6)
    token = f"gp_{ident}_{secrets.token_urlsafe(32)}"
    credential = Credential(
        ident,
        principal,
        kind,
        scopes,
        now(),
        created_by,
        None
        if expires_at is None
        else expires_at.astimezone(UTC).isoformat(timespec="microseconds"),
    )
    connection.execute(
        credentials.insert().values(
            id=credential.id,
            principal=principal,
            kind=kind,
            scopes=json.dumps(list(scopes)),
            secret_sha256=_digest(token),
            created_at=credential.created_at,
            created_by=created_by,
            expires_at=credential.expires_at,
        )
    )
    return credential, token


def verify(connection: Connection, token: str, *, touch: bool = True) -> Credential:
    """The credential ``token`` proves, its last use recorded (``touch``); AuthenticationFailed
    when the token is malformed, unknown, revoked or expired (the message says which, never
    more of the token than its id)."""
    ident = token_id(token)
    if ident is None:
        raise AuthenticationFailed(
            "that is not a goldenpath token (gp_<id>_<secret>)",
            hint="create one with: goldenpath users token create NAME",
        )
    row = connection.execute(select(credentials).where(credentials.c.id == ident)).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(token.strip())):
        raise AuthenticationFailed(
            f"token {ident} is not a credential of this store",
            hint="check GOLDENPATH_TOKEN or run goldenpath login with a token an admin "
            "created for this store",
        )
    found = _credential(row)
    at = now()
    state = found.state(at)
    if state != "active":
        when = found.revoked_at if state == "revoked" else found.expires_at
        raise AuthenticationFailed(
            f"token {ident} of {found.principal} was {state} at {when}",
            hint=f"ask an admin for a new one: goldenpath users token create {found.principal}",
        )
    if touch:
        connection.execute(
            update(credentials).where(credentials.c.id == ident).values(last_used_at=at)
        )
    return found


def get_credential(connection: Connection, ident: str) -> Credential | None:
    row = connection.execute(select(credentials).where(credentials.c.id == ident)).first()
    return None if row is None else _credential(row)


def list_credentials(connection: Connection, principal: str | None = None) -> list[Credential]:
    query = select(credentials).order_by(credentials.c.created_at)
    if principal is not None:
        query = query.where(credentials.c.principal == principal)
    return [_credential(r) for r in connection.execute(query)]


def revoke(connection: Connection, ident: str, *, by: str) -> Credential:
    """Revoke credential ``ident`` (revoking a revoked one keeps the first revocation)."""
    row = connection.execute(select(credentials).where(credentials.c.id == ident)).first()
    if row is None:
        raise RecordNotFound(
            f"no credential {ident!r}", hint="list them with: goldenpath users token list"
        )
    found = _credential(row)
    if found.revoked_at is not None:
        return found
    at = now()
    connection.execute(
        update(credentials).where(credentials.c.id == ident).values(revoked_at=at, revoked_by=by)
    )
    return Credential(**{**found.__dict__, "revoked_at": at, "revoked_by": by})


def get_setting(connection: Connection, key: str) -> str | None:
    row = connection.execute(select(settings.c.value).where(settings.c.key == key)).first()
    return None if row is None else str(row.value)


def set_setting(connection: Connection, key: str, value: str, *, by: str) -> None:
    at = now()
    done = connection.execute(
        update(settings)
        .where(settings.c.key == key)
        .values(value=value, updated_at=at, updated_by=by)
    )
    if not done.rowcount:
        connection.execute(
            settings.insert().values(key=key, value=value, updated_at=at, updated_by=by)
        )
