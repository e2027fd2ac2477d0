"""Evaluations recorded in the store (the SHA-256 of each evaluation's JSON, the digest of the
model artefact it evaluated, the rows' fingerprint), and the artefact digest a decision checked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gp_evaluations",
        sa.Column("evaluation_id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(40)),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("evaluation_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("data_fingerprint", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_gp_evaluations_run", "gp_evaluations", ["run_id"])
    op.add_column("gp_decisions", sa.Column("artifact_sha256", sa.String(64)))


def downgrade() -> None:
    op.drop_column("gp_decisions", "artifact_sha256")
    op.drop_index("ix_gp_evaluations_run", "gp_evaluations")
    op.drop_table("gp_evaluations")
