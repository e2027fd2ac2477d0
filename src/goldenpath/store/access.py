"""Authorisation and audit inside a store transaction: the primitives every mutating
operation starts and ends with (users and roles are managed in :mod:`goldenpath.registry`).

Roles are ordered, each including the ones before it: ``viewer``, ``developer``, ``approver``,
``admin``. A store without users is unclaimed: the first user to act on it becomes its
``admin`` (an audited ``users.bootstrap`` event).

The actor is a :class:`~goldenpath.auth.Principal` (who, and how that was proven); every audit
event records both, the how under the payload's ``auth`` key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, select

from goldenpath.errors import PermissionDenied
from goldenpath.store.audit import append_event, now
from goldenpath.store.bindings import binding, require_bound
from goldenpath.store.records import Role, User, add_user, get_user, lock_users
from goldenpath.store.schema import users as users_table

if TYPE_CHECKING:
    from goldenpath.auth.principal import Principal

__all__ = ["authorize", "record"]


def authorize(
    connection: Connection,
    actor: Principal,
    needed: Role,
    *,
    project: str,
    action: str,
    claim: bool = True,
) -> User:
    """The acting user, if their role includes ``needed``; else :class:`PermissionDenied`.
    On an unclaimed store the actor becomes its admin; with ``claim=False`` only provisionally
    (nothing is written: a check before work that may still fail on bad input)."""
    user = get_user(connection, actor.name)
    if user is None and claim:
        lock_users(connection)  # two first actors at once: one claims, the other waits and sees
        user = get_user(connection, actor.name)
    if user is None:
        count = connection.execute(select(func.count()).select_from(users_table)).scalar_one()
        if count == 0:
            user = User(actor.name, "admin", now(), actor.name)
            if not claim:
                return user
            add_user(connection, user)
            record(
                connection,
                actor=actor,
                action="users.bootstrap",
                project=project,
                subject=actor.name,
                payload={"role": "admin", "why": "first user of an unclaimed store"},
                rows=[(users_table, (actor.name,))],
            )
            return user
        raise PermissionDenied(
            f"{actor.name!r} ({actor.method}) is not a user of this goldenpath store, so cannot "
            f"{action}",
            hint=f"ask an admin to run: goldenpath users add {actor.name} --role {needed} (or "
            "act with your own token: goldenpath login)",
        )
    require_bound(connection, [(users_table, (user.name,))], relying=f"{actor.name}'s role")
    if not user.has_role(needed):
        raise PermissionDenied(
            f"{action} needs role {needed}; {actor.name!r} has role {user.role}",
            hint=f"ask an admin to run: goldenpath users grant {actor.name} {needed}",
        )
    return user


def record(
    connection: Connection,
    *,
    actor: Principal,
    action: str,
    project: str,
    subject: str,
    payload: dict[str, Any] | None = None,
    rows: Sequence[tuple[Table, Sequence[object]]] = (),
) -> None:
    """One audit event in the caller's transaction, with how the actor was authenticated and
    the content hash of each bound row the operation wrote (``rows``: table and key, read back
    as written; :mod:`goldenpath.store.bindings`)."""
    bound = {"rows": [binding(connection, table, *key) for table, key in rows]} if rows else {}
    append_event(
        connection,
        actor=actor.name,
        action=action,
        project=project,
        subject=subject,
        payload={**(payload or {}), **bound, "auth": actor.audit()},
    )
