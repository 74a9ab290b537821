"""Bundle status and invalid file tables.

Revision ID: b3e1a0c2d4f5
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b3e1a0c2d4f5"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "bundles_ext_bundle_status",
        sa.Column("bundle_name", sa.String(250), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("version", sa.String(200), nullable=True),
        _ts("refresh_started_at"),
        _ts("refresh_ended_at"),
        sa.Column("refresh_duration_s", sa.Float, nullable=True),
        _ts("last_success_at"),
        sa.Column("last_error", sa.Text, nullable=True),
        _ts("last_error_at"),
        _ts("failing_since"),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("storage_bytes", sa.BigInteger, nullable=True),
        sa.Column("storage_versions", sa.Integer, nullable=True),
        sa.Column("reporter", sa.String(250), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("bundle_name", name="bundles_ext_bundle_status_pkey"),
    )
    op.create_table(
        "bundles_ext_invalid_file",
        sa.Column("file", sa.String(250), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("bundle_name", sa.String(250), nullable=True),
        _ts("since"),
        sa.Column("reporter", sa.String(250), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("file", name="bundles_ext_invalid_file_pkey"),
    )


def downgrade() -> None:
    op.drop_table("bundles_ext_invalid_file")
    op.drop_table("bundles_ext_bundle_status")
