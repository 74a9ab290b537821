"""Fixtures for the watcher tests: a watched directory in an Airflow env, a StatsD UDP sink, and
this process as a DAG processor on a real DB with fault injection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_bundles_ext.watcher.demo import LOCAL_BUNDLE, activation_env


class StatsdSink:
    """A UDP socket on 127.0.0.1 standing in for a StatsD server; collects metric lines."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Receive continuously: the processor sends many metrics and a full buffer drops datagrams.
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.lines.extend(data.decode(errors="replace").splitlines())

    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }

    def drain(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def count(self, name: str) -> int:
        """Sum of counter increments for ``airflow.<name>``."""
        total = 0
        for line in self.drain():
            metric, _, rest = line.partition(":")
            if metric == f"airflow.{name}" and rest.endswith("|c"):
                total += int(rest.split("|")[0])
        return total

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def statsd() -> Iterator[StatsdSink]:
    sink = StatsdSink()
    try:
        yield sink
    finally:
        sink.close()


@pytest.fixture
def watch_dir(airflow_env) -> Path:
    """A watched directory for ``airflow_env``, switched on through the env var alone."""
    directory = airflow_env.home / "bundle-conf"
    directory.mkdir()
    airflow_env.extra_env.update(activation_env(directory))
    # These tests parse real DAG files through LocalDagBundle, which the platform must allow.
    airflow_env.extra_env.setdefault("AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS", LOCAL_BUNDLE)
    return directory


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
        "airflow.dag_processing.bundles.local.LocalDagBundle,tests.watcher.bundles_for_tests.*",
    )
    old_conn = settings.SQL_ALCHEMY_CONN
    settings.SQL_ALCHEMY_CONN = f"sqlite:///{db}"
    settings.reconfigure_orm()
    for cls, names in (
        (bundles_module.DagBundlesManager, ("parse_config", "sync_bundles_to_db")),
        (processor_module.DagFileProcessorManager, ("prepare_bundles", "_refresh_dag_bundles")),
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
