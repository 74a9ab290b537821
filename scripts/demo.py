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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_bundles_ext.watcher.demo import activation_env, remove_bundle_file, write_bundle_file  # noqa: E402
from tests.rig.airflow_env import AirflowEnv, DagProcessor, dag_source, write_dag  # noqa: E402
from tests.rig.git_demo import make_demo_git_bundle, push_demo_change  # noqa: E402
from tests.rig.moto import MotoServer  # noqa: E402
from tests.rig.sidecar import put_bundle, start_sidecar, stop_sidecar  # noqa: E402

LOCAL_CLASSPATH = "airflow.dag_processing.bundles.local.LocalDagBundle"
DEMO_ALLOW = {
    "AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS": (
        f"airflow_bundles_ext.bundles.s3.S3DagBundle,airflow_bundles_ext.bundles.git.GitDagBundle,{LOCAL_CLASSPATH}"
    )
}


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
        self.shown_visible: set[str] = set()  # DAGs this monitor has printed as visible
        self.shown_stale: set[str] = set()  # ... and as stale

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
                (self.shown_stale if row.is_stale else self.shown_visible).add(dag_id)

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


DEMO_S3_BUCKET = "demo-dags"
DEMO_CONFIG_BUCKET = "demo-config"
DEMO_CONFIG_PREFIX = "airflow/dag-bundles/"


@dataclass
class Demo:
    """Everything the acts share: the Airflow env, the monitor, the servers and dirs."""

    env: AirflowEnv
    mon: Monitor
    workdir: Path
    moto: MotoServer
    git_root: Path
    watched: Path
    sidecar: Any = None

    def say(self, msg: str) -> None:
        self.mon.say(msg)

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 90) -> None:
        if not self.mon.wait(check, timeout=timeout):
            raise DemoError(f"timed out after {timeout}s waiting for {what}")


class DemoError(RuntimeError):
    pass


def prepare_sources(workdir: Path, moto: MotoServer) -> list[dict[str, Any]]:
    """Create the sources of the static bundles; return ``dag_bundle_config_list``."""
    write_dag(workdir / "local-dags", "demo_hello")
    write_dag(workdir / "local-dags", "demo_goodbye")
    client = moto.boto3_client()
    client.create_bucket(Bucket=DEMO_S3_BUCKET)
    client.put_object(
        Bucket=DEMO_S3_BUCKET, Key="etls/demo/dags/s3_demo_hello.py", Body=dag_source("s3_demo_hello")
    )
    client.put_object(
        Bucket=DEMO_S3_BUCKET, Key="etls/demo/dags/sparkapps/etl.yaml", Body=b"kind: SparkApplication\n"
    )
    git_entry = make_demo_git_bundle(workdir / "git")
    return [
        {"name": "local", "classpath": LOCAL_CLASSPATH, "kwargs": {"path": str(workdir / "local-dags")}},
        {
            "name": "s3-demo",
            "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle",
            "kwargs": {"bucket_name": DEMO_S3_BUCKET, "prefix": "etls/demo/dags", "refresh_interval": 2},
        },
        {**git_entry, "kwargs": {**git_entry["kwargs"], "refresh_interval": 2}},
    ]


def act_local(d: Demo) -> None:
    """A LocalDagBundle: a DAG appears, changes, disappears."""
    d.say("act 1: LocalDagBundle 'local' (two DAGs)")
    d.wait(
        lambda: "demo_hello" in d.mon.shown_visible and "demo_hello" in dag_hashes(d.env), "demo_hello shown"
    )
    before = dag_hashes(d.env)["demo_hello"]
    d.say("editing demo_hello.py (adds two tasks)")
    write_dag(d.workdir / "local-dags", "demo_hello", tasks=3)
    d.wait(lambda: dag_hashes(d.env)["demo_hello"] != before, "demo_hello re-parsed")
    d.say("deleting demo_goodbye.py")
    (d.workdir / "local-dags" / "demo_goodbye.py").unlink()
    d.wait(lambda: "demo_goodbye" in d.mon.shown_stale, "demo_goodbye shown stale")


def act_s3(d: Demo) -> None:
    """The S3 bundle: a versioned tree from moto; an upload publishes a new version atomically."""
    d.say("act 2: S3DagBundle 's3-demo' (s3://demo-dags/etls/demo/dags on the local moto server)")
    d.wait(lambda: "s3_demo_hello" in d.mon.shown_visible, "s3_demo_hello shown")
    before = d.env.bundles()["s3-demo"].version
    d.say("CI uploads s3_demo_second.py to the prefix")
    d.moto.boto3_client().put_object(
        Bucket=DEMO_S3_BUCKET, Key="etls/demo/dags/s3_demo_second.py", Body=dag_source("s3_demo_second")
    )
    d.wait(lambda: d.env.bundles()["s3-demo"].version != before, "a new s3-demo version")
    d.wait(lambda: "s3_demo_second" in d.mon.shown_visible, "s3_demo_second shown")


def act_git(d: Demo) -> None:
    """The git bundle: a push publishes the new commit as the bundle version."""
    d.say("act 3: GitDagBundle 'git-demo' (file:// remote, subdir dags, partial clone)")
    d.wait(lambda: "git_demo_hello" in d.mon.shown_visible, "git_demo_hello shown")
    sha = push_demo_change(d.git_root, "git_demo_second")
    d.say(f"pushed commit {sha[:12]} adding git_demo_second")
    d.wait(lambda: d.env.bundles()["git-demo"].version == sha, "git-demo at the pushed commit")
    d.wait(lambda: "git_demo_second" in d.mon.shown_visible, "git_demo_second shown")


def act_watcher(d: Demo) -> None:
    """The watcher: a JSON file dropped into the watched dir becomes a bundle; deleting it retires it."""
    d.say(f"act 4: dropping team-drop.json into the watched dir {d.watched}")
    write_dag(d.workdir / "team-drop-dags", "team_drop_hello")
    write_bundle_file(d.watched, "team-drop", LOCAL_CLASSPATH, {"path": str(d.workdir / "team-drop-dags")})
    d.wait(lambda: "team_drop_hello" in d.mon.shown_visible, "team_drop_hello shown")
    d.say("deleting team-drop.json")
    remove_bundle_file(d.watched, "team-drop")
    d.wait(lambda: "team_drop_hello" in d.mon.shown_stale, "team_drop_hello shown stale")


def act_sidecar(d: Demo) -> None:
    """The sidecar: CI uploads a bundle JSON to S3; the sidecar syncs it; the watcher loads it."""
    d.say("act 5: starting airflow-bundle-sync (s3://demo-config/airflow/dag-bundles/ -> watched dir)")
    client = d.moto.boto3_client()
    client.create_bucket(Bucket=DEMO_CONFIG_BUCKET)
    d.sidecar = start_sidecar(
        d.moto.endpoint,
        DEMO_CONFIG_BUCKET,
        DEMO_CONFIG_PREFIX,
        d.watched,
        interval=1.0,
        ALLOW_EMPTY="true",
        **DEMO_ALLOW,
    )
    d.say(f"sidecar running (pid {d.sidecar.proc.pid})")
    write_dag(d.workdir / "team-s3-dags", "team_s3_hello")
    d.say("CI uploads team-s3.json to s3://demo-config/airflow/dag-bundles/")
    put_bundle(
        client, DEMO_CONFIG_BUCKET, DEMO_CONFIG_PREFIX, "team-s3", {"path": str(d.workdir / "team-s3-dags")}
    )
    d.wait(lambda: (d.watched / "team-s3.json").exists(), "the sidecar to write team-s3.json")
    d.say("the sidecar wrote team-s3.json")
    d.wait(lambda: "team_s3_hello" in d.mon.shown_visible, "team_s3_hello shown")


ACTS: dict[str, Callable[[Demo], None]] = {
    "local": act_local,
    "s3": act_s3,
    "git": act_git,
    "watcher": act_watcher,
    "sidecar": act_sidecar,
}


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
    parser.add_argument(
        "--acts", default=",".join(ACTS), help=f"acts to play, in order (default: {','.join(ACTS)})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB) on exit")
    args = parser.parse_args(argv)
    acts = [a.strip() for a in args.acts.split(",") if a.strip()]
    for act in acts:
        if act not in ACTS:
            parser.error(f"unknown act {act!r}; choose from {', '.join(ACTS)}")

    workdir = Path(tempfile.mkdtemp(prefix="bundles-ext-demo-"))
    t0 = time.monotonic()
    moto = MotoServer(log_path=workdir / "moto.log")
    processor: DagProcessor | None = None
    demo: Demo | None = None
    # SIGTERM behaves like Ctrl-C, so `kill` and a closing terminal also clean up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"demo dir: {workdir} (processor log: {workdir / 'home' / 'dag-processor.log'})", flush=True)
        env = AirflowEnv(workdir / "home", f"sqlite:///{workdir / 'home' / 'airflow.db'}", backend="sqlite")
        print("migrating the SQLite metadata DB ...", flush=True)
        env.airflow("db", "migrate", timeout=300)
        moto.start()
        print(f"moto S3 server on {moto.endpoint} (pid {moto.pid})", flush=True)
        env.extra_env.update(moto.client_env())
        env.set_bundles(prepare_sources(workdir, moto))
        watched = workdir / "bundle-conf"
        watched.mkdir()
        env.extra_env.update(activation_env(watched))
        env.extra_env.update(DEMO_ALLOW)  # the demo's platform lets its teams use LocalDagBundle
        processor = DagProcessor(env).start()
        mon = Monitor(env, t0)
        mon.start()
        demo = Demo(env=env, mon=mon, workdir=workdir, moto=moto, git_root=workdir / "git", watched=watched)
        pid = processor.proc.pid if processor.proc else "?"
        mon.say(f"started the stock `airflow dag-processor` (pid {pid}), watcher on via the env var alone")
        for act in acts:
            ACTS[act](demo)
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
    except DemoError as exc:
        print(f"demo failed: {exc}", flush=True)
        if processor:
            print(processor.log_tail(), flush=True)
        return 1
    finally:
        if demo:
            demo.mon.stop_event.set()
            if demo.sidecar:
                stop_sidecar(demo.sidecar)
        if processor:
            processor.stop()
        moto.stop()
        if args.keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print("stopped: nothing left running", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
