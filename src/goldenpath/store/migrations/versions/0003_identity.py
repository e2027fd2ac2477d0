"""Identity: credentials (hashed tokens), store settings (the auth mode), and who granted a
user their role.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gp_users", sa.Column("role_granted_by", sa.String(200)))
    op.create_table(
        "gp_credentials",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.String(40)),
        sa.Column("last_used_at", sa.String(40)),
        sa.Column("revoked_at", sa.String(40)),
        sa.Column("revoked_by", sa.String(200)),
    )
    op.create_index("ix_gp_credentials_principal", "gp_credentials", ["principal"])
    op.create_table(
        "gp_settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gp_settings")
    op.drop_index("ix_gp_credentials_principal", "gp_credentials")
    op.drop_table("gp_credentials")
    op.drop_column("gp_users", "role_granted_by")
