"""The status tables, in their own ``MetaData`` (not Airflow's): SQLAlchemy Core only.

``bundles_ext_bundle_status``: one row per bundle, written by the DAG processor that owns it.
``bundles_ext_invalid_file``: one row per invalid file of the watched directory.

They are created and upgraded by ``airflow db migrate`` through
:class:`~airflow_bundles_ext.status.db_manager.BundlesExtDBManager` (alembic migrations in
``migrations/``, version table ``alembic_version_bundles_ext``). A change here needs a new
migration; ``tests/status/test_db_manager.py`` checks that the ORM and the migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_uq",
    "pk": "%(table_name)s_pkey",
}

metadata = sa.MetaData(naming_convention=NAMING)


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


bundle_status = sa.Table(
    "bundles_ext_bundle_status",
    metadata,
    sa.Column("bundle_name", sa.String(250), primary_key=True),
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
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("storage_bytes", sa.BigInteger, nullable=True),
    sa.Column("storage_versions", sa.Integer, nullable=True),
    sa.Column("reporter", sa.String(250), nullable=False),
    _ts("updated_at"),
)

invalid_file = sa.Table(
    "bundles_ext_invalid_file",
    metadata,
    sa.Column("file", sa.String(250), primary_key=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("bundle_name", sa.String(250), nullable=True),
    _ts("since"),
    sa.Column("reporter", sa.String(250), nullable=False),
    _ts("updated_at"),
)
