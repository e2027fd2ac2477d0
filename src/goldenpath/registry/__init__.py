"""The protected registry: users and roles, approvals, promotions, rollback and alias checks."""

from __future__ import annotations

from goldenpath.registry.access import (
    add_member,
    audit,
    audit_events,
    authorized_actor,
    grant,
    members,
    verify_audit,
)
from goldenpath.registry.approvals import approve
from goldenpath.registry.promotion import (
    ALIASES,
    Drift,
    check_aliases,
    history,
    promote,
    recover,
    recover_promotions,
    rollback,
    stalled,
    verified_alias,
)

__all__ = [
    "ALIASES",
    "Drift",
    "add_member",
    "approve",
    "audit",
    "audit_events",
    "authorized_actor",
    "check_aliases",
    "grant",
    "history",
    "members",
    "promote",
    "recover",
    "recover_promotions",
    "rollback",
    "stalled",
    "verified_alias",
    "verify_audit",
]
