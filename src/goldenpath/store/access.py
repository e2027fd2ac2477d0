"""Authorisation and audit inside a store transaction: the primitives every mutating
operation starts and ends with (users and roles are managed in :mod:`goldenpath.registry`).

Roles are ordered, each including the ones before it: ``viewer``, ``developer``, ``approver``,
``admin``. A store without users is unclaimed: the first user to act on it becomes its
``admin`` (an audited ``users.bootstrap`` event).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from goldenpath.errors import PermissionDenied
from goldenpath.store.audit import append_event, now
from goldenpath.store.records import ROLES, Role, User, add_user, get_user
from goldenpath.store.schema import users as users_table

__all__ = ["authorize", "record"]

_RANK = {role: i for i, role in enumerate(ROLES)}


def authorize(
    connection: Connection,
    actor: str,
    needed: Role,
    *,
    project: str,
    action: str,
    claim: bool = True,
) -> User:
    """The acting user, if their role includes ``needed``; else :class:`PermissionDenied`.
    On an unclaimed store the actor becomes its admin; with ``claim=False`` only provisionally
    (nothing is written: a check before work that may still fail on bad input)."""
    user = get_user(connection, actor)
    if user is None:
        count = connection.execute(select(func.count()).select_from(users_table)).scalar_one()
        if count == 0:
            user = User(actor, "admin", now(), actor)
            if not claim:
                return user
            add_user(connection, user)
            append_event(
                connection,
                actor=actor,
                action="users.bootstrap",
                project=project,
                subject=actor,
                payload={"role": "admin", "why": "first user of an unclaimed store"},
            )
            return user
        raise PermissionDenied(
            f"{actor!r} is not a user of this goldenpath store, so cannot {action}",
            hint=f"ask an admin to run: goldenpath users add {actor} --role {needed} "
            "(or set GOLDENPATH_USER to your registered name)",
        )
    if _RANK[user.role] < _RANK[needed]:
        raise PermissionDenied(
            f"{action} needs role {needed}; {actor!r} has role {user.role}",
            hint=f"ask an admin to run: goldenpath users grant {actor} {needed}",
        )
    return user


def record(
    connection: Connection,
    *,
    actor: str,
    action: str,
    project: str,
    subject: str,
    payload: dict[str, Any] | None = None,
) -> None:
    """One audit event in the caller's transaction."""
    append_event(
        connection, actor=actor, action=action, project=project, subject=subject, payload=payload
    )
