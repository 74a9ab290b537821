"""The demo: the stock ``airflow dag-processor`` with this package, watched through the metadata DB.

Everything runs on embedded defaults in a temp dir: a SQLite metadata DB, a moto S3 server and
git remotes on 127.0.0.1. A scripted scenario changes the sources while a monitor prints, as it
happens, every bundle and DAG row the processor writes. Ctrl-C (or the end of ``--exit-after``)
stops the processor, the servers and removes the temp dir.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.rig.airflow_env import AirflowEnv, DagProcessor, write_dag  # noqa: E402

LOCAL_CLASSPATH = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dag_hashes(env: AirflowEnv) -> dict[str, str]:
    """Serialized-DAG hash by dag_id: it changes whenever the processor stores a changed DAG."""
    return {r.dag_id: r.dag_hash for r in env.query("select dag_id, dag_hash from serialized_dag")}


class Monitor(threading.Thread):
    """Poll the metadata DB and print what changed since the last poll."""

    def __init__(self, env: AirflowEnv, t0: float) -> None:
        super().__init__(daemon=True)
        self.env, self.t0 = env, t0
        self.stop_event = threading.Event()
        self.bundles: dict[str, tuple] = {}
        self.dags: dict[str, tuple] = {}

    _print_lock = threading.Lock()

    def say(self, msg: str) -> None:
        with self._print_lock:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            try:
                self.poll()
            except Exception:  # tables may not be ready yet; the next poll retries
                continue

    def poll(self) -> None:
        for name, row in sorted(self.env.bundles().items()):
            state = (bool(row.active), row.version)
            if self.bundles.get(name) != state:
                what = "active" if row.active else "INACTIVE"
                version = f" version={row.version[:12]}" if row.version else ""
                self.say(f"bundle {name}: {what}{version}")
                self.bundles[name] = state
        hashes = dag_hashes(self.env)
        for dag_id, row in sorted(self.env.dags().items()):
            state = (row.bundle_name, row.bundle_version, bool(row.is_stale), hashes.get(dag_id, ""))
            if self.dags.get(dag_id) != state:
                what = "STALE" if row.is_stale else "visible"
                version = f" bundle version {row.bundle_version[:12]}," if row.bundle_version else ""
                self.say(
                    f"DAG {dag_id}: {what} (bundle {row.bundle_name},{version}"
                    f" serialized hash {state[3][:8]}, file {row.relative_fileloc})"
                )
                self.dags[dag_id] = state

    def wait(self, check: Callable[[], bool], timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop_event.is_set():
            try:
                if check():
                    return True
            except Exception:
                pass
            time.sleep(0.5)
        return False


def scenario_local(env: AirflowEnv, mon: Monitor, workdir: Path) -> None:
    """Act 1: a LocalDagBundle. A DAG appears, changes, and disappears."""
    mon.say("act 1: LocalDagBundle 'local' with two DAGs")
    mon.wait(lambda: "demo_hello" in dag_hashes(env))
    before = dag_hashes(env)["demo_hello"]
    mon.say("editing demo_hello.py (adds a task)")
    write_dag(workdir / "local-dags", "demo_hello", tasks=3)
    mon.wait(lambda: dag_hashes(env)["demo_hello"] != before, timeout=60)
    mon.say("deleting demo_goodbye.py")
    (workdir / "local-dags" / "demo_goodbye.py").unlink()
    mon.wait(lambda: env.dags("local")["demo_goodbye"].is_stale, timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--exit-after",
        type=float,
        default=None,
        help="stop N seconds after the scenario ends (default: run until Ctrl-C)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB) on exit")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bundles-ext-demo-"))
    t0 = time.monotonic()
    processor: DagProcessor | None = None
    mon: Monitor | None = None
    # SIGTERM behaves like Ctrl-C, so `kill` and a closing terminal also clean up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"demo dir: {workdir} (processor log: {workdir / 'home' / 'dag-processor.log'})", flush=True)
        env = AirflowEnv(workdir / "home", f"sqlite:///{workdir / 'home' / 'airflow.db'}", backend="sqlite")
        print("migrating the SQLite metadata DB ...", flush=True)
        env.airflow("db", "migrate", timeout=300)
        write_dag(workdir / "local-dags", "demo_hello")
        write_dag(workdir / "local-dags", "demo_goodbye")
        env.set_bundles(
            [{"name": "local", "classpath": LOCAL_CLASSPATH, "kwargs": {"path": str(workdir / "local-dags")}}]
        )
        processor = DagProcessor(env).start()
        mon = Monitor(env, t0)
        mon.start()
        mon.say(
            f"started the stock `airflow dag-processor` (pid {processor.proc.pid if processor.proc else '?'})"
        )
        scenario_local(env, mon, workdir)
        mon.say("scenario done" + ("" if args.exit_after is not None else "; press Ctrl-C to stop"))
        deadline = time.monotonic() + args.exit_after if args.exit_after is not None else float("inf")
        while time.monotonic() < deadline:
            if not processor.alive():
                print("the DAG processor exited; see its log", flush=True)
                return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        if mon:
            mon.stop_event.set()
        if processor:
            processor.stop()
        if args.keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print("stopped: nothing left running", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
