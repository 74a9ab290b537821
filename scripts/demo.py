"""The demo: the whole of Airflow with this package, on embedded defaults, and what a person sees.

Everything runs on 127.0.0.1 in a temp dir: a SQLite metadata DB, the LocalExecutor, a moto S3
server and a git server, and the stock ``airflow api-server`` (the UI, on a free port printed at
start with the login to use), ``airflow scheduler``, ``airflow dag-processor`` and
``airflow triggerer``. Two teams ship DAG code: ``team-s3`` to an S3 prefix, ``team-git`` to a
git repository. Each team is onboarded by one JSON file in the watched directory, nothing else.

Acts, printed as they happen:

1. ``drop``: the teams drop ``team-s3.json`` and ``team-git.json``; their DAGs appear in the UI.
2. ``run``: a run of each team's ``<team>_versions`` DAG is triggered; it prints which code ran.
3. ``publish``: v2 of the code is published (an S3 upload, a git push): a new bundle version.
4. ``rerun``: the first run's ``after`` task is cleared: it reruns the OLD code (v1), from the
   first run's bundle version; a new run gets v2.
5. ``remove``: the files are deleted: the bundles go inactive and their DAGs stale.

Before act 5 the demo waits for Enter when run in a terminal (or with ``--pause-before-remove``),
so there is time to look at the DAGs and runs in the UI. Ctrl-C (or the end of
``--exit-after``) stops every process and removes the temp dir.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_bundles_ext.watcher.demo import remove_bundle_file  # noqa: E402
from tests.rig.airflow_env import AirflowEnv  # noqa: E402
from tests.rig.deployment import ADMIN_USER, Deployment  # noqa: E402
from tests.rig.git_http import GitHttpServer  # noqa: E402
from tests.rig.moto import MotoServer  # noqa: E402
from tests.rig.probe_dags import PROBE_DAGS, Record, dag_id, read_records, release  # noqa: E402
from tests.rig.team_sources import GitSource, S3Source, TeamSource, write_team_file  # noqa: E402

TEAMS = ("team-s3", "team-git")


class DemoError(RuntimeError):
    pass


@dataclass
class Demo:
    dep: Deployment
    sources: dict[str, TeamSource]
    t0: float
    first_version: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, msg: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 300) -> Any:
        try:
            return self.dep.wait_for(check, timeout=timeout, what=what)
        except AssertionError as exc:
            raise DemoError(str(exc)) from exc

    def versions_dag(self, team: str) -> str:
        return dag_id(team, "versions")

    def ran(self, team: str, run_id: str, task_id: str, try_number: int = 1) -> Record:
        match = {"dag_id": self.versions_dag(team), "run_id": run_id, "task_id": task_id}
        return self.wait(
            lambda: read_records(self.dep.results, **match, try_number=try_number, event="ran"),
            f"{team}'s task {task_id} (run {run_id}, try {try_number}) to record what ran",
        )[-1]

    def run_each_team(self, run_id: str) -> None:
        """Trigger run ``run_id`` of every team's versions DAG and wait until each succeeded."""
        for team in TEAMS:
            release(self.dep.results, self.versions_dag(team), run_id)
            self.dep.trigger(self.versions_dag(team), run_id)
        for team in TEAMS:
            self.dep.wait_run(self.versions_dag(team), run_id, "success")

    def show_ran(self, team: str, rec: Record) -> None:
        version = Path(rec.file).relative_to(self.dep.storage(rec.role or "")).parts[2]
        self.say(
            f"{team}: run {rec.run_id!r} task {rec.task_id!r} (try {rec.try_number}) ran CODE {rec.code} "
            f"from bundle version {version[:12]} ({rec.file})"
        )


def act_drop(d: Demo) -> None:
    d.say(f"act 1: the teams drop their bundle files into the watched directory {d.dep.conf_dir}")
    for team in TEAMS:
        path = write_team_file(d.dep.conf_dir, d.sources[team])
        d.say(f"{team}: wrote {path.name} ({d.sources[team].classpath.rsplit('.', 1)[1]})")
    for team in TEAMS:
        for dag in PROBE_DAGS:
            d.wait(lambda t=team, g=dag: (r := d.dep.dag(dag_id(t, g))) and not r.is_stale, f"{team}'s DAGs")
        version = d.dep.bundle_version(d.versions_dag(team)) or ""
        d.say(
            f"{team}: {len(PROBE_DAGS)} DAGs visible in the UI at bundle version {version[:12]}: "
            f"{d.dep.base_url}/dags/{d.versions_dag(team)}"
        )


def act_run(d: Demo) -> None:
    d.say("act 2: a run of each team's versions DAG is triggered (run 'first')")
    d.run_each_team("first")
    for team in TEAMS:
        d.first_version[team] = str(d.dep.run(d.versions_dag(team), "first").bundle_version)
        for task in ("hold", "after"):
            d.show_ran(team, d.ran(team, "first", task))


def act_publish(d: Demo) -> None:
    d.say("act 3: the teams publish v2 of their code (an S3 upload, a git push) adding a task")
    before = {team: d.dep.latest_dag_version(d.versions_dag(team)).version_number for team in TEAMS}
    for team in TEAMS:
        d.sources[team].publish("v2")
    for team in TEAMS:
        row = d.wait(
            lambda t=team: (
                (r := d.dep.latest_dag_version(d.versions_dag(t))).version_number > before[t] and r
            ),
            f"{team}'s new DAG version",
        )
        d.say(
            f"{team}: DAG version {row.version_number} at bundle version {row.bundle_version[:12]} (code v2)"
        )


def act_rerun(d: Demo) -> None:
    d.say("act 4: the first run's task 'after' is cleared; it reruns the code of the first run")
    for team in TEAMS:
        d.dep.clear(d.versions_dag(team), "first", ["after"])
    for team in TEAMS:
        d.dep.wait_run(d.versions_dag(team), "first", "success")
        rec = d.ran(team, "first", "after", try_number=2)
        d.show_ran(team, rec)
        d.say(f"{team}: the rerun ran CODE {rec.code}, the first run's, not v2")
    d.say("a new run (run 'second') gets the current code")
    d.run_each_team("second")
    for team in TEAMS:
        d.show_ran(team, d.ran(team, "second", "added_in_v2"))


def act_remove(d: Demo) -> None:
    d.say("act 5: the teams delete their bundle files")
    for team in TEAMS:
        remove_bundle_file(d.dep.conf_dir, team)
    for team in TEAMS:
        d.wait(
            lambda t=team: all(d.dep.dag(dag_id(t, g)).is_stale for g in PROBE_DAGS), f"{team}'s DAGs stale"
        )
        d.say(f"{team}: bundle inactive, its {len(PROBE_DAGS)} DAGs STALE (gone from the UI's DAG list)")


ACTS: dict[str, Callable[[Demo], None]] = {
    "drop": act_drop,
    "run": act_run,
    "publish": act_publish,
    "rerun": act_rerun,
    "remove": act_remove,
}


def start(workdir: Path, t0: float) -> tuple[Demo, MotoServer, GitHttpServer]:
    moto = MotoServer(log_path=workdir / "moto.log").start()
    print(f"moto S3 server on {moto.endpoint} (pid {moto.pid})", flush=True)
    (workdir / "git").mkdir()
    git = GitHttpServer.anonymous(workdir / "git").start()
    print(f"git server on http://127.0.0.1:{git.port}/ (a thread of this process)", flush=True)
    sources: dict[str, TeamSource] = {
        "team-s3": S3Source(moto, "demo-dags", "team-s3"),
        "team-git": GitSource(git, "team-git"),
    }
    for source in sources.values():
        source.publish("v1")
    home = workdir / "airflow" / "home"
    env = AirflowEnv(home, f"sqlite:///{home / 'airflow.db'}", backend="sqlite")
    print("migrating the SQLite metadata DB ...", flush=True)
    env.airflow("db", "migrate", timeout=300)
    dep = Deployment(workdir / "airflow", env, extra_env=moto.client_env(), grace_period=60)
    demo = Demo(dep=dep, sources=sources, t0=t0)
    return demo, moto, git


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--exit-after", type=float, default=None, help="stop N seconds after the acts (default: at Ctrl-C)"
    )
    parser.add_argument("--until", choices=list(ACTS), default="remove", help="the last act to play")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB) on exit")
    parser.add_argument(
        "--pause-before-remove",
        action="store_true",
        default=sys.stdin.isatty(),
        help="wait for a line on stdin before act 5 (default: when stdin is a terminal)",
    )
    args = parser.parse_args(argv)
    acts = list(ACTS)[: list(ACTS).index(args.until) + 1]

    workdir = Path(tempfile.mkdtemp(prefix="bundles-ext-demo-"))
    t0 = time.monotonic()
    demo = moto = git = None
    # SIGTERM behaves like Ctrl-C, so `kill` and a closing terminal also clean up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(f"demo dir: {workdir} (process logs: {workdir / 'airflow'}/*.log)", flush=True)
        demo, moto, git = start(workdir, t0)
        dep = demo.dep
        print("starting the api-server, scheduler, dag-processor and triggerer ...", flush=True)
        dep.start(workers=())
        for role, service in dep.services.items():
            print(f"airflow {role} (pid {service.pid})", flush=True)
        print(f"UI: {dep.base_url}  (log in as {ADMIN_USER} / {dep.password})", flush=True)
        for act in acts:
            if act == "remove" and args.pause_before_remove:
                demo.say(
                    f"paused: the teams' DAGs and runs are in the UI now ({dep.base_url}/dags); "
                    "press Enter to play act 5 (delete the bundle files)"
                )
                sys.stdin.readline()
            ACTS[act](demo)
        demo.say("scenario done" + ("" if args.exit_after is not None else "; the UI stays up until Ctrl-C"))
        deadline = time.monotonic() + args.exit_after if args.exit_after is not None else float("inf")
        while time.monotonic() < deadline:
            dep.check_alive()
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except (DemoError, AssertionError) as exc:
        print(f"demo failed: {exc}", flush=True)
        return 1
    finally:
        if demo:
            demo.dep.stop()
        if git:
            git.stop()
        if moto:
            moto.stop()
        if args.keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print("stopped: nothing left running", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
