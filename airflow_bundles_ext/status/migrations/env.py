"""Alembic environment of the status tables; run by ``airflow db migrate`` (see db_manager.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from alembic import context

from airflow_bundles_ext.status.db_manager import VERSION_TABLE
from airflow_bundles_ext.status.tables import metadata

config = context.config


def include_object(_obj, name, type_, *args):  # type: ignore[no-untyped-def]
    # Only our tables: never let autogenerate touch Airflow's.
    return not (type_ == "table" and name not in metadata.tables)


def run_migrations_offline() -> None:
    from airflow import settings

    context.configure(
        url=settings.SQL_ALCHEMY_CONN,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        version_table=VERSION_TABLE,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    from airflow import settings

    with contextlib.ExitStack() as stack:
        connection = config.attributes.get("connection", None)
        if not connection:
            engine: Any = settings.get_engine() if hasattr(settings, "get_engine") else settings.engine
            connection = stack.enter_context(engine.connect())
        context.configure(
            connection=connection,
            transaction_per_migration=True,
            target_metadata=metadata,
            include_object=include_object,
            render_as_batch=True,
            version_table=VERSION_TABLE,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
