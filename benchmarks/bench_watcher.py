"""Bundle-config watcher: file dropped -> DAG in the DB, file deleted -> DAGs stale, loop cost.

* ``drop_to_visible`` / ``delete_to_stale``: the stock ``airflow dag-processor`` (SQLite, via the
  test rig) with ``bundle_refresh_check_interval=1``; wall time from the file operation until
  the ``dag`` row is present (resp. stale with its bundle inactive). Upstream Airflow 3.3 has no
  equivalent (the bundle list is read once at start): ``upstream=None``.
* ``loop_check_<n>_files``: the per-loop cost of ``ProcessorWatcher.check`` with ``n`` unchanged
  files, in a real ``DagFileProcessorManager`` in this process (SQLite copy of the rig's
  migrated template, the integration patches installed as ``activate`` does), 50 calls. DB
  statements are counted with a SQLAlchemy ``before_cursor_execute`` listener on Airflow's
  engine: ``queries_per_loop`` must be 0, ``reads`` too.
* ``fresh_process_resolve_<n>_files``: what a fresh worker or task pod pays on its first
  ``DagBundlesManager()``: reads of every file, class imports, and constructors only for
  specs the DAG processor has not proven (``constructors`` must be 0 here).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def _reload_cases(work: Path, template: Any, repeat: int) -> list[Case]:
    from airflow_bundles_ext.watcher.demo import activation_env, remove_bundle_file, write_bundle_file
    from tests.rig.airflow_env import DagProcessor, write_dag

    env = template.new_env(work / "airflow")
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


class _QueryCounter:
    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.count = 0
        self._engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        self.count += 1

    def close(self) -> None:
        import sqlalchemy as sa

        sa.event.remove(self._engine, "before_cursor_execute", self._count)


def _inprocess_db(work: Path, template: Any) -> None:
    """Point this process's Airflow ORM at a copy of the migrated template and switch the watcher on."""
    from airflow import settings

    db = work / "inprocess.db"
    shutil.copyfile(template.path, db)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{db}"
    settings.SQL_ALCHEMY_CONN = f"sqlite:///{db}"
    settings.reconfigure_orm()


def _loop_cost_cases(work: Path, files: int, calls: int = 50) -> list[Case]:
    import airflow.dag_processing.bundles.manager  # noqa: F401  (patched by activate)
    from airflow import settings
    from airflow.dag_processing.manager import DagFileProcessorManager

    from airflow_bundles_ext.integration.bundles import check_in_other_process, new_view
    from airflow_bundles_ext.integration.processor import watcher_of
    from airflow_bundles_ext.watcher import view as view_module
    from airflow_bundles_ext.watcher.demo import write_bundle_file
    from airflow_bundles_ext.watcher.options import WatcherOptions

    conf = work / f"conf-{files}"
    (work / "dags").mkdir(exist_ok=True)
    for i in range(files):
        write_bundle_file(conf, f"team-{i:04d}", kwargs={"path": str(work / "dags")})
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH"] = str(conf)
    import airflow_bundles_ext.activate as activate

    activate.install()
    view_module._views.clear()
    manager = DagFileProcessorManager(max_runs=1)
    manager.prepare_bundles()  # the processor's start-up: reads, checks and saves last_good.json
    watcher = watcher_of(manager)
    assert watcher is not None and len(watcher.applied) == files
    known: dict[str, set[Any]] = {}
    watcher.check(known)
    reads = watcher.view.reads
    counter = _QueryCounter(settings.engine)
    samples = []
    try:
        for _ in range(calls):
            start = time.perf_counter()
            watcher.check(known)
            samples.append(time.perf_counter() - start)
    finally:
        counter.close()
    loop = Case(
        f"loop_check_{files}_files",
        Result(
            wall_s=samples,
            files=files,
            extra={
                "reads": float(watcher.view.reads - reads),
                "queries_per_loop": counter.count / calls,
                "median_us": round(statistics.median(samples) * 1e6, 1),
            },
        ),
        None,
        goal="stats only: reads=0, queries_per_loop=0",
        notes="ProcessorWatcher.check in a real DagFileProcessorManager, nothing changed",
    )
    constructed = _count_constructors()
    fresh = new_view(WatcherOptions.load(str(conf)), check=check_in_other_process, report=False)
    start = time.perf_counter()
    resolved = fresh.resolve()
    wall = time.perf_counter() - start
    assert len(resolved.bundles) == files
    first = Case(
        f"fresh_process_resolve_{files}_files",
        Result(
            wall_s=[wall],
            files=files,
            extra={"reads": float(fresh.reads), "constructors": float(constructed())},
        ),
        None,
        goal="constructors=0 (proven by the DAG processor)",
        notes="first DagBundlesManager() of a worker or task pod: one read per file",
    )
    return [loop, first]


def _count_constructors() -> Any:
    """Count LocalDagBundle constructions from now on (the class is patched for the benchmark only)."""
    from airflow.dag_processing.bundles.local import LocalDagBundle

    counts = [0]
    original = LocalDagBundle.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        counts[0] += 1
        original(self, *args, **kwargs)

    LocalDagBundle.__init__ = counting  # type: ignore[method-assign]
    return lambda: counts[0]


def run(opts: Options) -> list[Case]:
    work = Path(tempfile.mkdtemp(prefix="abx-bench-watcher-"))
    try:
        _prepare_env(work)
        from tests.rig.airflow_env import SqliteTemplate

        template = SqliteTemplate(work / "template")
        _inprocess_db(work, template)
        cases: list[Case] = []
        for n in (1, 100) if opts.quick else (1, 100, 1000):
            cases += _loop_cost_cases(work, n)
        cases += _reload_cases(work, template, max(1, opts.repeat))
        return cases
    finally:
        shutil.rmtree(work, ignore_errors=True)
