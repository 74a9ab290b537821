"""The status tables come from ``airflow db migrate`` (provider ``db-managers``), and the
alembic migrations build the same schema as the table definitions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from airflow_bundles_ext.get_provider_info import get_provider_info
from airflow_bundles_ext.status.db_manager import VERSION_TABLE, BundlesExtDBManager
from airflow_bundles_ext.status.tables import metadata


def _schema(engine: sa.Engine) -> dict[str, object]:
    inspector = sa.inspect(engine)
    return {
        table: (
            sorted(
                (c["name"], type(c["type"]).__name__, c["nullable"]) for c in inspector.get_columns(table)
            ),
            inspector.get_pk_constraint(table)["constrained_columns"],
        )
        for table in sorted(metadata.tables)
    }


def test_provider_registers_the_db_manager():
    assert get_provider_info()["db-managers"] == ["airflow_bundles_ext.status.db_manager.BundlesExtDBManager"]


def test_airflow_db_migrate_created_the_tables_and_stamped_the_head(airflow_env):
    tables = set(sa.inspect(airflow_env.engine).get_table_names())
    assert set(metadata.tables) | {VERSION_TABLE} <= tables
    head = BundlesExtDBManager(session=None).get_script_object().get_current_head()
    assert [r.version_num for r in airflow_env.query(f"select version_num from {VERSION_TABLE}")] == [head]


def test_migrations_build_the_schema_of_the_table_definitions(tmp_path):
    from_orm = sa.create_engine(f"sqlite:///{tmp_path / 'orm.db'}")
    metadata.create_all(from_orm)
    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    config = BundlesExtDBManager(session=None).get_alembic_config()
    with migrated.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    assert _schema(migrated) == _schema(from_orm)
    with migrated.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert not set(metadata.tables) & set(sa.inspect(migrated).get_table_names())
