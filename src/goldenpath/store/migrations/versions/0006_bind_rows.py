"""Bind the rows written before this revision into the audit chain: one ``store.bind`` event
lists the content hash of every row of the bound tables (goldenpath.store.bindings), so that
``audit verify`` can tell a row edited or inserted outside goldenpath from one it wrote. No
table changes; a store without rows gets no event.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from goldenpath.store.audit import append_event
from goldenpath.store.bindings import all_bindings

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    rows = all_bindings(connection)
    if rows:
        append_event(
            connection,
            actor="goldenpath",
            action="store.bind",
            project="*",
            subject="store",
            payload={"why": "rows written before store revision 0006", "rows": rows},
        )


def downgrade() -> None:
    pass  # the event stays: the chain is append-only
