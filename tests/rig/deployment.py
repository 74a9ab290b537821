"""A whole Airflow deployment on 127.0.0.1, started from the tests (or the demo), always stopped.

The stock ``airflow api-server`` (UI, REST and Execution API), ``airflow scheduler``,
``airflow dag-processor`` and ``airflow triggerer`` on one metadata DB, and:

- with a ``broker`` (:class:`~tests.rig.broker.RedisBroker`): the CeleryExecutor and Celery
  workers (``airflow celery worker``). Every worker is a "pod": its own
  ``[dag_processor] dag_bundle_storage_path`` (empty at start) and its own ``ABX_ROLE``;
- without one (the demo): the LocalExecutor, tasks run under the scheduler.

Every process is a :class:`~tests.rig.services.Service`: its own process group, stopped by PID.

Bundles are defined only by files in the watched directory (:attr:`Deployment.conf_dir`),
which every process sees; the watcher's state (last good copies, ownership) is on a path all
processes share, like the persistent volume of docs/deployment.md.

Layout under ``root``::

    home/              AIRFLOW_HOME (logs/ shared by all processes, like a log volume)
    bundle-conf/       the watched directory: <bundle>.json files
    bundles-ext-state/ [bundles_ext] config_state_path
    results/           what probe tasks record (tests/rig/probe_dags.py)
    <role>/bundles/    each process's bundle storage root (dag-processor, scheduler, triggerer,
                       api-server, worker-a, worker-b, ...)
    <role>.log         each process's output

Usage::

    dep = Deployment(root, env, broker=RedisBroker().claim(), extra_env=moto.client_env())
    dep.start(workers=("worker-a", "worker-b"))
    try:
        with dep.only("worker-a"):          # only worker-a consumes tasks in this block
            run_id = dep.trigger("team_a_versions")
    finally:
        dep.stop()
"""

from __future__ import annotations

import contextlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_bundles_ext.watcher.demo import activation_env
from tests.rig.airflow_env import AIRFLOW_BIN, AirflowEnv, wait_for
from tests.rig.broker import RedisBroker, WorkerControl
from tests.rig.moto import free_port
from tests.rig.services import Service, stop_all

ADMIN_USER = "admin"
CORE_ROLES = ("api-server", "scheduler", "dag-processor", "triggerer")
WAIT = 300.0
"""Seconds a wait may take: generous (machines are shared); a wait ends as soon as it can."""
FINISHED = ("success", "failed", "skipped", "upstream_failed", "removed")


class Deployment:
    def __init__(
        self,
        root: Path,
        env: AirflowEnv,
        *,
        broker: RedisBroker | None = None,
        extra_env: Mapping[str, str] | None = None,
        grace_period: float = 0,
    ) -> None:
        self.root = root
        self.airflow_env = env
        self.broker = broker
        self.conf_dir = root / "bundle-conf"
        self.state_dir = root / "bundles-ext-state"
        self.results = root / "results"
        for path in (self.conf_dir, self.state_dir, self.results):
            path.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.password = secrets.token_urlsafe(12)
        self.passwords_file = root / "passwords.json"
        self.passwords_file.write_text(json.dumps({ADMIN_USER: self.password}))
        self.extra_env = dict(extra_env or {})
        self.grace_period = grace_period
        self.services: dict[str, Service] = {}
        self.control: WorkerControl | None = None
        self._token: str | None = None

    # --- processes ---------------------------------------------------------------------------

    def env(self, role: str) -> dict[str, str]:
        """The environment of the process playing ``role``."""
        return self.airflow_env.env(
            **{
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.broker else "LocalExecutor",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",  # the story holds three tasks on one worker
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__DAG_PROCESSOR__STALE_BUNDLE_CLEANUP_INTERVAL": "2",
                # A new bundle version's files have a new mtime, so they are parsed at once
                # (file_parsing_sort_mode = modified_time); re-parsing unchanged files every 2 s
                # (the rig default) would keep 2 shared cores busy.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__BUNDLES_EXT__REMOVED_BUNDLE_GRACE_PERIOD": str(self.grace_period),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_env.home / "logs"),
                **activation_env(self.conf_dir, state_path=self.state_dir),
                **(self.broker.env() if self.broker else {}),
                **self.extra_env,
                "ABX_RESULTS_DIR": str(self.results),
                "ABX_ROLE": role,
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(self.storage(role)),
            }
        )

    def storage(self, role: str) -> Path:
        """The bundle storage root of the process playing ``role``."""
        return self.root / role / "bundles"

    def hostname(self, worker: str) -> str:
        assert self.broker is not None, "workers need a broker"
        return f"{worker}@{self.broker.id}"

    def _argv(self, role: str) -> list[str]:
        if role == "api-server":
            return [AIRFLOW_BIN, "api-server", "-H", "127.0.0.1", "-p", str(self.api_port), "-w", "1"]
        if role == "triggerer":
            return [AIRFLOW_BIN, "triggerer", "--skip-serve-logs"]
        if role == "scheduler":
            return [AIRFLOW_BIN, "scheduler", "--skip-serve-logs"]
        if role == "dag-processor":
            return [AIRFLOW_BIN, "dag-processor"]
        assert self.broker is not None, "workers need a broker"
        return [
            AIRFLOW_BIN, "celery", "worker", "--skip-serve-logs", "--without-mingle", "--without-gossip",
            "-H", self.hostname(role), "-q", self.broker.queue,
        ]  # fmt: skip

    def _start_service(self, role: str) -> Service:
        self.storage(role).mkdir(parents=True, exist_ok=True)
        # The API server is stateless; after its graceful shutdown Airflow 3.3's takes ~9 s more to exit.
        stop_timeout = 3 if role == "api-server" else 20
        service = Service(
            role,
            self._argv(role),
            self.env(role),
            self.root / f"{role}.log",
            self.root,
            stop_timeout=stop_timeout,
        )
        self.services[role] = service
        return service.start()

    def start(self, workers: tuple[str, ...] = ("worker-a", "worker-b"), timeout: float = WAIT) -> Deployment:
        """Start every process at once, then wait until the API reports all healthy and workers answer."""
        for role in (*CORE_ROLES, *workers):
            self._start_service(role)
        if self.broker is not None:
            self.control = WorkerControl(self.broker)
        self.wait_for(self._healthy, timeout=timeout, what="scheduler, dag-processor and triggerer healthy")
        self.wait_for_workers(workers, timeout=timeout)
        return self

    def add_worker(self, name: str, timeout: float = WAIT) -> Service:
        """Start another worker "pod" (empty storage) and wait until it answers."""
        service = self._start_service(name)
        self.wait_for_workers((name,), timeout=timeout)
        return service

    @property
    def workers(self) -> list[str]:
        return [role for role in self.services if role.startswith("worker-")]

    def wait_for_workers(self, workers: tuple[str, ...], timeout: float = WAIT) -> None:
        if not workers:
            return
        assert self.control is not None, "workers need a broker"
        control = self.control
        hosts = {self.hostname(w) for w in workers}
        self.wait_for(lambda: hosts <= control.ping(hosts), timeout=timeout, what=f"workers {sorted(hosts)}")

    def stop(self) -> None:
        stop_all(reversed(list(self.services.values())))
        if self.control is not None:
            self.control.close()
        self.airflow_env.dispose()

    def check_alive(self) -> None:
        dead = [s for s in self.services.values() if s.proc is not None and not s.alive()]
        if dead:
            raise AssertionError(
                "exited: " + ", ".join(f"{s.name} ({s.proc and s.proc.returncode})" for s in dead)
                + "\n" + "\n".join(s.log_tail() for s in dead)
            )  # fmt: skip

    def logs(self, *roles: str, chars: int = 3000) -> str:
        chosen = roles or tuple(self.services)
        return "\n".join(self.services[r].log_tail(chars) for r in chosen if r in self.services)

    def wait_for(self, check: Any, *, timeout: float = WAIT, what: str = "condition") -> Any:
        """``wait_for`` that fails at once when a process died, with every process's log tail."""

        def guarded() -> Any:
            self.check_alive()
            return check()

        return wait_for(guarded, timeout=timeout, what=what, on_timeout=self.logs)

    # --- which worker takes tasks ------------------------------------------------------------

    @contextlib.contextmanager
    def only(self, *workers: str) -> Iterator[None]:
        """Within the block only ``workers`` consume the queue (the others are "busy elsewhere")."""
        assert self.control is not None
        others = [w for w in self.workers if w not in workers]
        for worker in others:
            self.control.set_consuming(self.hostname(worker), False)
        try:
            yield
        finally:
            for worker in others:
                if self.services[worker].alive():
                    self.control.set_consuming(self.hostname(worker), True)

    # --- REST API ----------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise AssertionError(f"{method} {path} -> {exc.code}: {detail}") from exc

    def token(self) -> str:
        if self._token is None:
            body = {"username": ADMIN_USER, "password": self.password}
            self._token = self.api("POST", "/auth/token", body, auth=False)["access_token"]
        return self._token

    def _healthy(self) -> bool:
        try:
            health = self.api("GET", "/api/v2/monitor/health", auth=False)
        except (OSError, AssertionError):
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(p) or {}).get("status") == "healthy" for p in parts)

    def trigger(self, dag_id: str, run_id: str) -> str:
        self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
        return run_id

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        body = {"dag_run_id": run_id, "task_ids": task_ids, "dry_run": False, "only_failed": False}
        self.api("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", body)

    # --- metadata DB -------------------------------------------------------------------------

    def ti_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        rows = self.airflow_env.query(
            "select state from task_instance where dag_id = :d and run_id = :r and task_id = :t",
            d=dag_id, r=run_id, t=task_id,
        )  # fmt: skip
        return rows[0].state if rows else None

    def run(self, dag_id: str, run_id: str) -> Any:
        rows = self.airflow_env.query(
            "select state, bundle_version from dag_run where dag_id = :d and run_id = :r", d=dag_id, r=run_id
        )
        return rows[0] if rows else None

    def wait_ti(
        self, dag_id: str, run_id: str, task_id: str, states: tuple[str, ...], timeout: float = WAIT
    ) -> str:
        def check() -> str | None:
            state = self.ti_state(dag_id, run_id, task_id)
            if state in FINISHED and state not in states:
                raise AssertionError(
                    f"{dag_id}/{run_id}/{task_id} is {state}\n{self.task_logs(dag_id, run_id)}"
                )
            return state if state in states else None

        return self.wait_for(check, timeout=timeout, what=f"{dag_id}/{run_id}/{task_id} in {states}")

    def wait_run(self, dag_id: str, run_id: str, state: str, timeout: float = WAIT) -> Any:
        def check() -> Any:
            run = self.run(dag_id, run_id)
            if run is not None and run.state in ("success", "failed") and run.state != state:
                raise AssertionError(
                    f"dag run {dag_id}/{run_id} is {run.state}\n{self.task_logs(dag_id, run_id)}"
                )
            return run if run is not None and run.state == state else None

        return self.wait_for(check, timeout=timeout, what=f"dag run {dag_id}/{run_id} {state}")

    def task_logs(self, dag_id: str, run_id: str, chars: int = 3000) -> str:
        """The tail of every task log of a run (the shared log folder), for failure messages."""
        folder = self.airflow_env.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        return "\n".join(
            f"--- {path.relative_to(folder)}:\n{path.read_text(errors='replace')[-chars:]}"
            for path in sorted(folder.glob("task_id=*/attempt=*.log"))
        )

    def bundle_version(self, dag_id: str) -> str | None:
        """The bundle version the DAG processor last parsed ``dag_id`` at (what new runs get)."""
        rows = self.airflow_env.query("select bundle_version from dag where dag_id = :d", d=dag_id)
        return rows[0].bundle_version if rows else None

    def latest_dag_version(self, dag_id: str) -> Any:
        """The newest ``dag_version`` row of ``dag_id`` (the structure new runs are created with):
        ``version_number``, ``bundle_version`` and ``serialized``, its serialized DAG as JSON text
        (which tasks it has). Not ``dag_code``: Airflow rewrites that from the file on disk when
        it refreshes a version's bundle version in place, so it can show code the tasks are not."""
        rows = self.airflow_env.query(
            "select dv.version_number, dv.bundle_version, sd.data from dag_version dv"
            " left join serialized_dag sd on sd.dag_version_id = dv.id"
            " where dv.dag_id = :d order by dv.version_number desc limit 1",
            d=dag_id,
        )
        if not rows:
            return None
        row = rows[0]
        data = row.data if isinstance(row.data, str) or row.data is None else json.dumps(row.data)
        return SimpleNamespace(
            version_number=row.version_number, bundle_version=row.bundle_version, serialized=data or ""
        )

    def dag(self, dag_id: str) -> Any:
        rows = self.airflow_env.query(
            "select dag_id, bundle_name, bundle_version, is_stale from dag where dag_id = :d", d=dag_id
        )
        return rows[0] if rows else None
