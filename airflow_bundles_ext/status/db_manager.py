"""``airflow db migrate`` creates and upgrades the status tables: a provider DB manager.

Registered in ``get_provider_info()["db-managers"]``, which Airflow 3.2 and 3.3 discover
automatically (``ProvidersManager.db_managers``, read by ``RunDBManager``): no
``[database] external_db_managers`` entry is needed, though listing it there is harmless.
The first ``airflow db migrate`` with this package installed creates the tables from
:mod:`.tables` and stamps the head revision; later ones run ``migrations/versions``.
``airflow db reset`` drops them (``supports_table_dropping``).
"""

from __future__ import annotations

from pathlib import Path

from airflow.utils.db_manager import BaseDBManager

from airflow_bundles_ext.status.tables import metadata

HERE = Path(__file__).resolve().parent

VERSION_TABLE = "alembic_version_bundles_ext"


class BundlesExtDBManager(BaseDBManager):
    """The status tables of airflow-bundles-ext, with their own alembic history."""

    metadata = metadata
    version_table_name = VERSION_TABLE
    migration_dir = (HERE / "migrations").as_posix()
    alembic_file = (HERE / "alembic.ini").as_posix()
    supports_table_dropping = True
    revision_heads_map = {"0.1.0": "b3e1a0c2d4f5"}
