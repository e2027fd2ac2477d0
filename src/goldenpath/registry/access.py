"""Who may do what: users and roles kept in the store, and the audit of every mutation.

Roles are ordered, each including the ones before it: ``viewer`` (read), ``developer`` (train,
evaluate, gate, promote, roll back, write cards), ``approver`` (approve decisions), ``admin``
(manage users and credentials). The acting user is the principal :mod:`goldenpath.auth`
proves: a token's user, the database login, or (``local`` auth mode) the operating-system user.

A store without users is unclaimed: the first user to act on it becomes its ``admin`` (an
audited ``users.bootstrap`` event), so a new project works at once and every later user is
added by that admin.
"""

from __future__ import annotations

from typing import Any

from goldenpath.auth.principal import Principal, identify
from goldenpath.errors import (
    AuthenticationFailed,
    DuplicateRecord,
    PermissionDenied,
    RecordNotFound,
)
from goldenpath.project import Project
from goldenpath.settings import claimed_user, os_user, token_override
from goldenpath.store import AuditEvent, Role, Store, User, open_store, verify_chain
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import list_events, now
from goldenpath.store.bindings import verify_rows
from goldenpath.store.checkpoints import AuditVerification
from goldenpath.store.engine import store_exists
from goldenpath.store.records import add_user, get_user, list_users, lock_users, set_role
from goldenpath.store.schema import users as users_table

__all__ = [
    "add_member",
    "audit",
    "audit_events",
    "authorized_actor",
    "grant",
    "members",
    "verify_audit",
]


def authorized_actor(
    project: Project, action: str, needed: Role = "developer", *, store: Store | None = None
) -> Principal:
    """Check, before work starts, that the current principal may ``action``; returns it.
    For commands whose work happens outside the store (train, evaluate, reproduce): nothing is
    written here (not even a new store file), so bad input still changes nothing; the work is
    recorded afterwards with :func:`audit`."""
    if store is None and not store_exists(project):
        # an unclaimed store: whoever acts first becomes its admin on audit
        if token_override() is not None or claimed_user() is not None:
            raise AuthenticationFailed(
                f"project {project.name!r} has no store yet, so no credential can be checked",
                hint="unset GOLDENPATH_TOKEN / GOLDENPATH_USER for the first command (its "
                "user becomes the store's admin)",
            )
        return Principal(os_user(), "local")
    store = store or open_store(project)
    with store.transaction() as connection:
        actor = identify(connection)
        authorize(connection, actor, needed, project=project.name, action=action, claim=False)
    return actor


def members(project: Project, *, store: Store | None = None) -> list[User]:
    """The users of the store and their roles (empty before anyone acted on it)."""
    if store is None and not store_exists(project):
        return []
    with (store or open_store(project)).reading() as connection:
        return list_users(connection)


def audit_events(
    project: Project, *, limit: int | None = None, store: Store | None = None
) -> list[AuditEvent]:
    """The project's audit events, newest first."""
    if store is None and not store_exists(project):
        return []
    with (store or open_store(project)).reading() as connection:
        return list_events(connection, project=project.name, limit=limit)


def verify_audit(project: Project, *, store: Store | None = None) -> AuditVerification:
    """Recompute the whole audit chain (its head, or the first broken link and why) and
    re-hash every row it binds (:mod:`goldenpath.store.bindings`). Writes nothing."""
    with (store or open_store(project)).reading() as connection:
        return AuditVerification(verify_chain(connection), verify_rows(connection))


def add_member(project: Project, name: str, role: Role, *, store: Store | None = None) -> User:
    """Add user ``name`` with ``role`` (admins only)."""
    store = store or open_store(project)
    try:
        with store.transaction() as connection:
            actor = identify(connection)
            authorize(connection, actor, "admin", project=project.name, action="add users")
            if get_user(connection, name) is not None:
                raise PermissionDenied(
                    f"user {name!r} already exists",
                    hint=f"change their role with: goldenpath users grant {name} ROLE",
                )
            user = User(name, role, now(), actor.name)
            add_user(connection, user)
            record(
                connection,
                actor=actor,
                action="users.add",
                project=project.name,
                subject=name,
                payload={"role": role},
                rows=[(users_table, (name,))],
            )
    except DuplicateRecord:
        raise PermissionDenied(f"user {name!r} already exists") from None
    return user


def grant(project: Project, name: str, role: Role, *, store: Store | None = None) -> User:
    """Give user ``name`` the role ``role`` (admins only); the last admin cannot be demoted."""
    store = store or open_store(project)
    with store.transaction() as connection:
        actor = identify(connection)
        authorize(connection, actor, "admin", project=project.name, action="change roles")
        lock_users(connection)  # two admins demoting each other at once: the second sees the first
        user = get_user(connection, name)
        if user is None:
            raise RecordNotFound(
                f"no user {name!r}",
                hint=f"add them with: goldenpath users add {name} --role {role}",
            )
        admins = [u for u in list_users(connection) if u.role == "admin"]
        if user.role == "admin" and role != "admin" and len(admins) == 1:
            raise PermissionDenied(
                f"{name!r} is the last admin; demoting them would leave nobody to manage users",
                hint="grant admin to someone else first",
            )
        set_role(connection, name, role, actor.name)
        record(
            connection,
            actor=actor,
            action="users.grant",
            project=project.name,
            subject=name,
            payload={"from": user.role, "to": role},
            rows=[(users_table, (name,))],
        )
    return User(name, role, user.created_at, user.created_by, actor.name)


def audit(
    project: Project,
    actor: Principal,
    action: str,
    subject: str,
    payload: dict[str, Any] | None = None,
    *,
    needed: Role = "developer",
    store: Store | None = None,
) -> None:
    """Record work done outside the store (a training run, once it has succeeded): the role is
    checked again (claiming an unclaimed store) and the event appended, in one transaction."""
    store = store or open_store(project)
    with store.transaction() as connection:
        authorize(connection, actor, needed, project=project.name, action=action)
        record(
            connection,
            actor=actor,
            action=action,
            project=project.name,
            subject=subject,
            payload=payload,
        )
