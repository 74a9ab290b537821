"""Fixtures for the integration tests: this process as a DAG processor with the watcher on, on a
real DB with fault injection."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest


class DbFaults:
    """Fault injection into the real metadata DB: statements matching a pattern fail.

    A SQLAlchemy ``before_cursor_execute`` listener on Airflow's engine raises
    ``OperationalError`` for matching statements while armed, and counts every statement.
    """

    def __init__(self, engine) -> None:
        import sqlalchemy as sa

        self.engine = engine
        self.pattern: str | None = None
        self.statements: list[str] = []
        self._sa = sa
        sa.event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)
        if self.pattern is not None and self.pattern.lower() in statement.lower():
            raise self._sa.exc.OperationalError(statement, parameters, Exception("database is unreachable"))

    def fail(self, pattern: str | None) -> None:
        self.pattern = pattern

    def close(self) -> None:
        self._sa.event.remove(self.engine, "before_cursor_execute", self._before)


@pytest.fixture
def inprocess_watcher(sqlite_template, bundle_storage, tmp_path, monkeypatch) -> Iterator[SimpleNamespace]:
    """This process as a DAG processor with the watcher on: a migrated SQLite DB of its own, a
    watched directory, and the integration patches on the real Airflow classes (undone after)."""
    import shutil

    import airflow.dag_processing.bundles.manager as bundles_module
    import airflow.dag_processing.manager as processor_module
    from airflow import settings

    from airflow_bundles_ext.integration import bundles, processor
    from airflow_bundles_ext.watcher import view

    db = tmp_path / "inprocess.db"
    shutil.copyfile(sqlite_template.path, db)
    conf_dir, state = tmp_path / "conf", tmp_path / "state"
    conf_dir.mkdir()
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{db}")
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH", str(conf_dir))
    monkeypatch.setenv("AIRFLOW__BUNDLES_EXT__CONFIG_STATE_PATH", str(state))
    monkeypatch.setenv("AIRFLOW__BUNDLES_EXT__REMOVED_BUNDLE_GRACE_PERIOD", "0")
    monkeypatch.setenv(
        "AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS",
        "airflow.dag_processing.bundles.local.LocalDagBundle,tests.integration.bundles_for_tests.*",
    )
    old_conn = settings.SQL_ALCHEMY_CONN
    settings.SQL_ALCHEMY_CONN = f"sqlite:///{db}"
    settings.reconfigure_orm()
    for cls, names in (
        (bundles_module.DagBundlesManager, ("parse_config", "sync_bundles_to_db")),
        (processor_module.DagFileProcessorManager, ("sync_bundles", "_refresh_dag_bundles")),
    ):
        for name in names:
            monkeypatch.setattr(cls, name, getattr(cls, name))
        monkeypatch.setattr(cls, "_bundles_ext_patched", False, raising=False)
    bundles.install(bundles_module)
    processor.install(processor_module)
    monkeypatch.setattr(view, "_views", {})
    faults = DbFaults(settings.engine)
    try:
        yield SimpleNamespace(conf_dir=conf_dir, state=state, db=db, faults=faults, storage=bundle_storage)
    finally:
        faults.close()
        settings.SQL_ALCHEMY_CONN = old_conn
        settings.reconfigure_orm()
