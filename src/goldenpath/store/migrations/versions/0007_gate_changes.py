"""Gate changes: change control of the gates for risk tier high (the gates as committed, who
proposed them, who approved them with which credential).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gp_gate_changes",
        sa.Column("change_id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("gates_sha256", sa.String(64), nullable=False),
        sa.Column("gates", sa.Text, nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("approved_at", sa.String(40)),
        sa.Column("credential", sa.String(40)),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_gp_gate_changes_gates", "gp_gate_changes", ["project", "gates_sha256"])


def downgrade() -> None:
    op.drop_index("ix_gp_gate_changes_gates", "gp_gate_changes")
    op.drop_table("gp_gate_changes")
