"""Approvals record the credential the approver acted with (separation of duties: a token
created by the person whose decision or promotion it is does not count).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gp_approvals", sa.Column("credential", sa.String(40)))


def downgrade() -> None:
    op.drop_column("gp_approvals", "credential")
