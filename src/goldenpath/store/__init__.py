"""goldenpath's own store: users, decisions, approvals, promotions and the audit chain
(SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL via ``GOLDENPATH_STORE_URI``)."""

from __future__ import annotations

from goldenpath.store.audit import AuditEvent, ChainReport, append_event, verify_chain
from goldenpath.store.engine import Store, open_store, store_uri
from goldenpath.store.records import ROLES, Approval, Decision, Promotion, Role, User

__all__ = [
    "ROLES",
    "Approval",
    "AuditEvent",
    "ChainReport",
    "Decision",
    "Promotion",
    "Role",
    "Store",
    "User",
    "append_event",
    "open_store",
    "store_uri",
    "verify_chain",
]
