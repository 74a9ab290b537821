"""Bundle-config watcher: file dropped -> DAG in the DB, file deleted -> DAGs stale, loop cost.

* ``drop_to_visible`` / ``delete_to_stale``: the stock ``airflow dag-processor`` (SQLite, via the
  test rig) with ``bundle_refresh_check_interval=1``; wall time from the file operation until
  the ``dag`` row is present (resp. stale with its bundle inactive). Upstream Airflow 3.3 has no
  equivalent (the bundle list is read once at start): ``upstream=None``.
* ``loop_check_<n>_files``: the per-loop cost of the watcher's check with ``n`` unchanged files
  (``ConfigDirView.resolve``: one listdir, ``n`` stats, no reads, no DB), mean of 50 calls.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Case, Options, Result

ROOT = Path(__file__).resolve().parent.parent


def _prepare_env(work: Path) -> None:
    for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
        del os.environ[key]
    os.environ.update(
        {
            "AIRFLOW_HOME": str(work / "home"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'inprocess.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(work / "bundles"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": "[]",
        }
    )
    (work / "home").mkdir(parents=True, exist_ok=True)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _wait(check, timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"benchmark timed out waiting for {what}")
        time.sleep(0.05)
    return time.perf_counter() - start


def _reload_cases(work: Path, repeat: int) -> list[Case]:
    from airflow_bundles_ext.watcher.demo import activation_env, remove_bundle_file, write_bundle_file
    from tests.rig.airflow_env import DagProcessor, SqliteTemplate, write_dag

    env = SqliteTemplate(work / "template").new_env(work / "airflow")
    conf = work / "conf"
    conf.mkdir()
    env.extra_env.update(activation_env(conf))
    proc = DagProcessor(env).start()
    visible: list[float] = []
    stale: list[float] = []
    try:
        _wait(lambda: proc.log_path.exists() and "watcher started" in proc.log_path.read_text(), 180, "start")
        for i in range(repeat):
            name, dag_id = f"bench-{i}", f"bench_dag_{i}"
            write_dag(work / name, dag_id)
            start = time.perf_counter()
            write_bundle_file(conf, name, kwargs={"path": str(work / name)})
            _wait(lambda: dag_id in env.dags(name), 60, f"{dag_id} visible")
            visible.append(time.perf_counter() - start)
            start = time.perf_counter()
            remove_bundle_file(conf, name)
            _wait(
                lambda: env.dags(name)[dag_id].is_stale and not env.bundles()[name].active,
                60,
                f"{dag_id} stale",
            )
            stale.append(time.perf_counter() - start)
    finally:
        proc.stop()
        env.dispose()
    note = "stock dag-processor, SQLite, bundle_refresh_check_interval=1, min_file_process_interval=2"
    return [
        Case("drop_to_visible", Result(wall_s=visible, files=1), None, goal="<= 10 s", notes=note),
        Case("delete_to_stale", Result(wall_s=stale, files=1), None, goal="<= 15 s", notes=note),
    ]


def _loop_cost_case(work: Path, files: int, calls: int = 50) -> Case:
    from airflow_bundles_ext.core.bundle_config import Allowlist
    from airflow_bundles_ext.integration.bundles import check_loadable
    from airflow_bundles_ext.watcher.demo import write_bundle_file
    from airflow_bundles_ext.watcher.state import LastGoodStore
    from airflow_bundles_ext.watcher.view import ConfigDirView, _read_bytes

    conf = work / f"conf-{files}"
    for i in range(files):
        write_bundle_file(conf, f"team-{i:04d}", kwargs={"path": str(work / "dags")})
    reads = []

    def read(path: Path) -> bytes:
        reads.append(path)
        return _read_bytes(path)

    view = ConfigDirView(
        conf,
        allowlist=Allowlist(),
        last_good=LastGoodStore(work / f"state-{files}"),
        check=check_loadable,
        read=read,
    )
    assert len(view.resolve().bundles) == files
    reads.clear()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        view.resolve()
        samples.append(time.perf_counter() - start)
    return Case(
        f"loop_check_{files}_files",
        Result(
            wall_s=samples,
            files=files,
            extra={"reads": float(len(reads)), "median_us": round(statistics.median(samples) * 1e6, 1)},
        ),
        None,
        goal="stats only: reads=0, no DB",
        notes="ConfigDirView.resolve with nothing changed",
    )


def run(opts: Options) -> list[Case]:
    work = Path(tempfile.mkdtemp(prefix="abx-bench-watcher-"))
    try:
        _prepare_env(work)
        cases = [_loop_cost_case(work, n) for n in ((1, 100) if opts.quick else (1, 100, 1000))]
        cases += _reload_cases(work, max(1, opts.repeat))
        return cases
    finally:
        shutil.rmtree(work, ignore_errors=True)
