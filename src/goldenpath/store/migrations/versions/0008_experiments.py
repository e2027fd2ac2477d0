"""Experiments: online A/B tests of a project (the spec entry as started, the versions its arms
resolved to, the unit column, allocation and salt, status, who started, stopped and decided).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gp_experiments",
        sa.Column("experiment_id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("spec_sha256", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("control_version", sa.String(40), nullable=False),
        sa.Column("treatment_version", sa.String(40), nullable=False),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("allocation", sa.Float, nullable=False),
        sa.Column("salt", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("stopped_at", sa.String(40)),
        sa.Column("stopped_by", sa.String(200)),
        sa.Column("reason", sa.Text),
        sa.Column("decision", sa.String(20)),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.String(40)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("promotion_id", sa.Integer),
        sa.UniqueConstraint("project", "name", name="uq_gp_experiments_name"),
    )
    op.create_index("ix_gp_experiments_status", "gp_experiments", ["project", "status"])


def downgrade() -> None:
    op.drop_index("ix_gp_experiments_status", "gp_experiments")
    op.drop_table("gp_experiments")
