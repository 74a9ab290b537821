"""Test rig fixtures shared by every test module.

Environment for in-process Airflow is set here, before anything imports Airflow: a session
AIRFLOW_HOME, SQLite DB and bundle storage root under a temp dir, so no test touches
``~/airflow`` or ``/tmp/airflow``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="abx-session-"))
for _key in [k for k in os.environ if k.startswith("AIRFLOW")]:
    del os.environ[_key]
os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'inprocess.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(_SESSION_DIR / "bundles"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": "[]",
        # The pytest process is no DAG processor: no status writer patching here, even in tests
        # that switch the watcher on in this process (subprocesses get their own env).
        "AIRFLOW__BUNDLES_EXT__STATUS_WRITER": "False",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
(_SESSION_DIR / "home").mkdir(parents=True, exist_ok=True)

from tests.rig.airflow_env import (  # noqa: E402
    AirflowCommand,
    AirflowEnv,
    DagProcessor,
    PostgresTemplate,
    SqliteTemplate,
    postgres_reachable,
)
from tests.rig.git import GitRemote  # noqa: E402
from tests.rig.moto import MotoServer  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


# --- S3 -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(session_dir: Path) -> Iterator[MotoServer]:
    server = MotoServer(log_path=session_dir / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's moto server, reset (no buckets, counts or faults), with client env set."""
    moto_server.reset()
    for key, value in moto_server.client_env().items():
        monkeypatch.setenv(key, value)
    return moto_server


# --- git ----------------------------------------------------------------------------------


@pytest.fixture
def git_remote(tmp_path: Path) -> Callable[..., GitRemote]:
    """Factory: ``git_remote("name")`` makes a bare remote plus a work clone under tmp_path."""
    root = tmp_path / "remotes"
    root.mkdir()

    def make(name: str = "repo", branch: str = "main") -> GitRemote:
        return GitRemote(root, name=name, branch=branch)

    return make


# --- in-process bundle storage ------------------------------------------------------------


@pytest.fixture
def bundle_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh bundle storage root for bundles built in this process."""
    root = tmp_path / "storage"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(root))
    import airflow.dag_processing.bundles.base as base

    # Airflow computes the tracking folder once at import; point it at this root too.
    monkeypatch.setattr(base, "STALE_BUNDLE_TRACKING_FOLDER", root / "_tracking")
    return root


# --- Airflow homes with a metadata DB -----------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(session_dir: Path) -> SqliteTemplate:
    return SqliteTemplate(session_dir / "sqlite-template")


@pytest.fixture(scope="session")
def postgres_template(session_dir: Path) -> Iterator[PostgresTemplate]:
    if not postgres_reachable():
        if IN_CI:
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI (CI=true) but is not reachable")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    template = PostgresTemplate(session_dir / "pg-template")
    try:
        yield template
    finally:
        template.close()


@pytest.fixture
def airflow_env(sqlite_template: SqliteTemplate, tmp_path: Path) -> Iterator[AirflowEnv]:
    """An Airflow home with its own migrated SQLite metadata DB."""
    env = sqlite_template.new_env(tmp_path / "airflow")
    try:
        yield env
    finally:
        env.dispose()


@pytest.fixture
def pg_airflow_env(postgres_template: PostgresTemplate, tmp_path: Path) -> Iterator[AirflowEnv]:
    """An Airflow home with its own migrated PostgreSQL database (required in CI)."""
    env = postgres_template.new_env(tmp_path / "airflow-pg")
    try:
        yield env
    finally:
        postgres_template.drop(env)


@pytest.fixture
def start_processor() -> Iterator[Callable[..., DagProcessor]]:
    """Factory: ``start_processor(env, "--bundle-name", "x", **env_overrides)``; always stopped."""
    started: list[DagProcessor] = []

    def start(env: AirflowEnv, *args: str, log_name: str | None = None, **extra_env: str) -> DagProcessor:
        name = log_name or f"dag-processor-{len(started)}.log"
        proc = DagProcessor(env, *args, log_name=name, **extra_env).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(timeout=5)  # a test's teardown: what it asserted is done


@pytest.fixture
def start_airflow() -> Iterator[Callable[..., AirflowCommand]]:
    """Factory: ``start_airflow(env, "scheduler", *args, **env_overrides)`` for any other stock
    long-running command (``api-server``, ``scheduler``, ...); always stopped."""
    started: list[AirflowCommand] = []

    def start(env: AirflowEnv, command: str, *args: str, **extra_env: str) -> AirflowCommand:
        proc = AirflowCommand(env, command, *args, **extra_env).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:  # all at once: each takes seconds to shut down
        proc.terminate()
    for proc in reversed(started):
        proc.stop(timeout=5)
