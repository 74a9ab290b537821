"""An Airflow home with a migrated metadata DB (SQLite or PostgreSQL) and the stock CLI.

The DB is migrated once per test session into a template (an SQLite file, or a PostgreSQL
template database) and copied for each test, which keeps a fresh DB per test cheap.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
# A fixed, valid Fernet key: tests only; the demo generates its own.
TEST_FERNET_KEY = "sWk6yQKG6U0Qn3vQk0zPzVv9cG0S6hQOcmXzS6Q7E8g="
AIRFLOW_BIN = str(Path(sys.executable).with_name("airflow"))


def postgres_reachable() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def base_env(home: Path, sql_alchemy_conn: str) -> dict[str, str]:
    """Environment shared by every Airflow process of one test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": TEST_FERNET_KEY,
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Store a changed DAG at once (default: at most every 30 s), so tests and the demo see edits.
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": "[]",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "3600",
            "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "5",
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret-not-for-production-0123456789",
            "AIRFLOW__API__SECRET_KEY": "test-secret-key",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class AirflowEnv:
    """One Airflow home and its metadata DB. Use :meth:`airflow` to run the stock CLI."""

    def __init__(self, home: Path, sql_alchemy_conn: str, *, backend: str) -> None:
        self.home = home
        self.backend = backend
        self.sql_alchemy_conn = sql_alchemy_conn
        for sub in ("dags", "logs", "bundles"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.extra_env: dict[str, str] = {}
        self._engine: sa.Engine | None = None

    @property
    def storage_path(self) -> Path:
        return self.home / "bundles"

    def env(self, **overrides: str) -> dict[str, str]:
        return {**base_env(self.home, self.sql_alchemy_conn), **self.extra_env, **overrides}

    def set_bundles(self, bundles: list[dict[str, Any]]) -> None:
        """Set the static ``dag_bundle_config_list``."""
        self.extra_env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(bundles)

    def airflow(
        self, *args: str, timeout: float = 120, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [AIRFLOW_BIN, *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n"
                f"stderr:\n{proc.stderr[-4000:]}"
            )
        return proc

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(
                self.sql_alchemy_conn.replace("postgresql://", "postgresql+psycopg2://")
            )
        return self._engine

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def create_teams(self, *names: str) -> None:
        """Rows of the ``team`` table, what ``airflow teams create`` writes (one process per team
        costs seconds each; the CLI path itself is exercised by test_bundle_files' default policy)."""
        with self.engine.begin() as conn:
            for name in names:
                conn.execute(sa.text("insert into team (name) values (:name)"), {"name": name})

    def bundles(self) -> dict[str, Any]:
        """``dag_bundle`` rows by name."""
        return {r.name: r for r in self.query("select name, active, version, last_refreshed from dag_bundle")}

    def dags(self, bundle: str | None = None) -> dict[str, Any]:
        """``dag`` rows by dag_id (optionally of one bundle)."""
        rows = self.query("select dag_id, bundle_name, bundle_version, is_stale, relative_fileloc from dag")
        return {r.dag_id: r for r in rows if bundle is None or r.bundle_name == bundle}

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def wait_for(
    check: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.25,
    what: str = "condition",
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns a truthy value; raise ``AssertionError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except Exception as exc:  # the DB may not have the table or row yet
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last value: {last!r}\n{extra}"
            )
        time.sleep(interval)


class AirflowProcess:
    """A stock ``airflow <command>`` (``scheduler``, ``api-server``, ...) as a subprocess in its own
    session, logging to a file in the Airflow home. Always call :meth:`stop`."""

    command: tuple[str, ...] = ()

    def __init__(self, env: AirflowEnv, *args: str, log_name: str | None = None, **extra_env: str) -> None:
        self.airflow_env = env
        self.args = args
        self.log_path = env.home / (log_name or f"{'-'.join(self.command + args[:1])}.log")
        self.extra_env = extra_env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return " ".join(("airflow", *self.command, *self.args))

    def start(self) -> AirflowProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [AIRFLOW_BIN, *self.command, *self.args],
            env=self.airflow_env.env(**self.extra_env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.airflow_env.home,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return f"{self.name} log tail:\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_for(self, check: Callable[[], T], *, timeout: float = 60, what: str = "condition") -> T:
        def guarded() -> T:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.proc and self.proc.returncode}")
            return check()

        return wait_for(guarded, timeout=timeout, what=what, on_timeout=self.log_tail)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting: stop several at once, then :meth:`stop`."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        # Reap any child the process left behind in its session.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        self.proc = None


class DagProcessor(AirflowProcess):
    """The stock ``airflow dag-processor``."""

    command = ("dag-processor",)

    def __init__(
        self, env: AirflowEnv, *args: str, log_name: str = "dag-processor.log", **extra_env: str
    ) -> None:
        super().__init__(env, *args, log_name=log_name, **extra_env)


class AirflowCommand(AirflowProcess):
    """Any other stock long-running command: ``AirflowCommand(env, "scheduler")``."""

    def __init__(self, env: AirflowEnv, command: str, *args: str, **kwargs: Any) -> None:
        self.command = (command,)
        super().__init__(env, *args, **kwargs)


class SqliteTemplate:
    """A migrated SQLite DB file, copied per test."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "template.db"
        home = workdir / "template-home"
        home.mkdir(parents=True, exist_ok=True)
        AirflowEnv(home, f"sqlite:///{self.path}", backend="sqlite").airflow("db", "migrate", timeout=300)

    def new_env(self, home: Path) -> AirflowEnv:
        home.mkdir(parents=True, exist_ok=True)
        db = home / "airflow.db"
        shutil.copyfile(self.path, db)
        return AirflowEnv(home, f"sqlite:///{db}", backend="sqlite")


class PostgresTemplate:
    """A migrated PostgreSQL template database; each test gets ``CREATE DATABASE ... TEMPLATE``."""

    def __init__(self, workdir: Path) -> None:
        self.name = f"abx_tpl_{uuid.uuid4().hex[:10]}"
        self._admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.created: list[str] = [self.name]
        home = workdir / "pg-template-home"
        home.mkdir(parents=True, exist_ok=True)
        env = AirflowEnv(home, self.url(self.name), backend="postgres")
        env.airflow("db", "migrate", timeout=300)

    @staticmethod
    def url(db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{db}"

    def new_env(self, home: Path) -> AirflowEnv:
        name = f"abx_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        self.created.append(name)
        return AirflowEnv(home, self.url(name), backend="postgres")

    def drop(self, env: AirflowEnv) -> None:
        env.dispose()
        name = env.sql_alchemy_conn.rsplit("/", 1)[1]
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        with self._admin.connect() as conn:
            for name in list(self.created):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


def write_dag(folder: Path, dag_id: str, *, tasks: int = 1, rel: str | None = None) -> Path:
    """Write a small DAG file; ``tasks`` changes its structure (and so its DAG version)."""
    path = folder / (rel or f"{dag_id}.py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dag_source(dag_id, tasks=tasks))
    return path


def dag_source(dag_id: str, *, tasks: int = 1) -> str:
    body = "\n".join(f"    EmptyOperator(task_id='t{i}')" for i in range(tasks))
    return (
        "from airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n\n"
        f"with DAG(dag_id={dag_id!r}, schedule=None):\n{body}\n"
    )


def merge_env(*envs: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in envs:
        out.update(e)
    return out
