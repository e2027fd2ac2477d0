"""Monitoring: processed log files, windows and alerts per stream.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gp_monitor_files",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(400), primary_key=True),
        sa.Column("path", sa.String(500), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("processed_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "gp_monitor_windows",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("stream", sa.String(400), primary_key=True),
        sa.Column("window_index", sa.Integer, primary_key=True),
        sa.Column("start", sa.String(40), nullable=False),
        sa.Column("end", sa.String(40)),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "gp_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(400), nullable=False),
        sa.Column("metric", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("threshold", sa.Text),
        sa.Column("window_index", sa.Integer, nullable=False),
        sa.Column("window_start", sa.String(40), nullable=False),
        sa.Column("last_window_index", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("opened_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("resolved_at", sa.String(40)),
    )
    op.create_index("ix_gp_alerts_open", "gp_alerts", ["project", "stream", "status"])


def downgrade() -> None:
    op.drop_index("ix_gp_alerts_open", "gp_alerts")
    op.drop_table("gp_alerts")
    op.drop_table("gp_monitor_windows")
    op.drop_table("gp_monitor_files")
