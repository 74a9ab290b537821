"""The watcher inside a real ``DagFileProcessorManager`` in this process, on a real SQLite DB.

What an e2e run cannot see (queued files, file stats, parse processes, known files) and what
it cannot break on cue (the DB, the state volume) is checked here, loop by loop.
"""

from __future__ import annotations

import json
import sqlite3

from airflow.dag_processing.manager import DagFileProcessorManager, DagFileStat

from airflow_bundles_ext.compat.airflow import airflow_line
from airflow_bundles_ext.integration.processor import watcher_of
from airflow_bundles_ext.watcher.demo import LOCAL_BUNDLE, remove_bundle_file, write_bundle_file
from tests.integration.bundles_for_tests import CLASSPATH
from tests.rig.airflow_env import write_dag


def _rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _active(db):
    return dict(_rows(db, "select name, active from dag_bundle"))


def _start_up(manager):
    """What the stock processor does before its loop, on the running Airflow line."""
    if airflow_line() == "3.2":  # inline in DagFileProcessorManager.run()
        manager.sync_bundles()
        bundles = manager.get_all_bundles()
        names = manager.bundle_names_to_parse
        manager._dag_bundles = [b for b in bundles if not names or b.name in names]
    else:
        manager.prepare_bundles()


def _started(env, names=None):
    manager = DagFileProcessorManager(max_runs=1, bundle_names_to_parse=names)
    _start_up(manager)
    known: dict = {}
    manager._refresh_dag_bundles(known_files=known)
    return manager, known


def _bundle(manager, name):
    return next(b for b in manager._dag_bundles if b.name == name)


def test_a_bundle_whose_source_is_down_at_start_is_retried_while_the_others_are_parsed(
    inprocess_watcher, tmp_path, monkeypatch
):
    """Airflow 3.2's processor ends on any ``initialize()`` error that is not an AirflowException."""
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    down = {
        "name": "down",
        "classpath": "airflow_bundles_ext.bundles.git.GitDagBundle",
        "kwargs": {"repo_url": f"file://{tmp_path / 'unreachable.git'}", "tracking_ref": "main"},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([down]))
    write_bundle_file(env.conf_dir, "up", kwargs={"path": str(tmp_path / "dags")})

    manager, known = _started(env)  # the first refresh initialises every bundle
    manager._refresh_dag_bundles(known_files=known)  # and the next one retries the failed one

    assert set(known) == {"up"} and {f.bundle_name for f in manager._file_queue} == {"up"}
    assert not _bundle(manager, "down").is_initialized
    assert _active(env.db) == {"down": 1, "up": 1}


def test_removed_bundle_drops_its_queued_files_and_file_stats(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    for name in ("a", "b"):
        write_dag(tmp_path / f"dags-{name}", f"dag_{name}")
        write_bundle_file(env.conf_dir, name, kwargs={"path": str(tmp_path / f"dags-{name}")})
    manager, known = _started(env)
    assert {f.bundle_name for f in manager._file_queue} == {"a", "b"}
    for file in list(manager._file_queue):
        manager._file_stats[file] = DagFileStat(num_dags=1, run_count=1)

    remove_bundle_file(env.conf_dir, "a")
    manager._refresh_dag_bundles(known_files=known)

    assert set(known) == {"b"}
    assert {f.bundle_name for f in manager._file_queue} == {"b"}
    assert {f.bundle_name for f in manager._file_stats} == {"b"}
    assert [b.name for b in manager._dag_bundles] == ["b"]
    assert _active(env.db) == {"a": 0, "b": 1}


def test_changed_bundle_with_the_same_version_is_rescanned_at_its_new_path(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "p1", "old_dag")
    write_dag(tmp_path / "p2", "new_dag")
    (tmp_path / "p2" / "old_dag.py").unlink(missing_ok=True)
    classpath = CLASSPATH + "PinnedVersionBundle"
    write_bundle_file(env.conf_dir, "git-like", classpath, {"path": str(tmp_path / "p1")})
    manager, known = _started(env)
    assert {f.bundle_path for f in known["git-like"]} == {tmp_path / "p1"}

    write_bundle_file(env.conf_dir, "git-like", classpath, {"path": str(tmp_path / "p2")})  # same version
    manager._refresh_dag_bundles(known_files=known)

    assert {f.bundle_path for f in known["git-like"]} == {tmp_path / "p2"}
    assert {f.bundle_path for f in manager._file_queue} == {tmp_path / "p2"}


def test_db_failure_while_applying_retries_only_the_step_that_failed(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    write_bundle_file(env.conf_dir, "old", kwargs={"path": str(tmp_path / "dags")})
    manager, known = _started(env)

    write_bundle_file(env.conf_dir, "new", kwargs={"path": str(tmp_path / "dags")})
    remove_bundle_file(env.conf_dir, "old")
    env.faults.fail("UPDATE dag_bundle SET active")  # the deactivation cannot reach the DB
    for _ in range(3):
        manager._refresh_dag_bundles(known_files=known)
    loaded = _bundle(manager, "new")
    assert _active(env.db) == {"old": 1, "new": 1}  # nothing deactivated, the new bundle is live

    env.faults.fail(None)
    manager._refresh_dag_bundles(known_files=known)
    assert _active(env.db) == {"old": 0, "new": 1}
    assert _bundle(manager, "new") is loaded  # the load that went through was not redone
    assert set(watcher_of(manager).store.load().owned) == {"new"}


def test_failed_ownership_save_is_retried_alone(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    manager, known = _started(env)
    owner_file = watcher_of(manager).store.path
    owner_file.unlink()
    owner_file.mkdir()  # the state volume refuses the write (rename over a directory fails)

    write_bundle_file(env.conf_dir, "a", kwargs={"path": str(tmp_path / "dags")})
    manager._refresh_dag_bundles(known_files=known)
    loaded = _bundle(manager, "a")
    env.faults.statements.clear()
    manager._refresh_dag_bundles(known_files=known)
    assert not [s for s in env.faults.statements if "dag_bundle" in s.lower() and "insert" in s.lower()]

    owner_file.rmdir()
    manager._refresh_dag_bundles(known_files=known)
    assert _bundle(manager, "a") is loaded
    assert set(watcher_of(manager).store.load().owned) == {"a"}


def test_start_up_deactivation_survives_a_db_failure_and_is_retried(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    write_bundle_file(env.conf_dir, "gone", kwargs={"path": str(tmp_path / "dags")})
    manager, _ = _started(env)
    remove_bundle_file(env.conf_dir, "gone")  # deleted while the processor is down

    env.faults.fail("UPDATE dag_bundle SET active")
    restarted, known = _started(env)
    assert _active(env.db) == {"gone": 1}
    assert "gone" in watcher_of(restarted).store.load().owned  # still owned: retried after a crash too

    env.faults.fail(None)
    restarted._refresh_dag_bundles(known_files=known)
    assert _active(env.db) == {"gone": 0}
    assert "gone" not in watcher_of(restarted).store.load().owned


def test_unchanged_directory_costs_no_db_query_per_loop(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    write_bundle_file(env.conf_dir, "a", kwargs={"path": str(tmp_path / "dags")})
    (env.conf_dir / "broken.json").write_text("{")
    manager, known = _started(env)
    watcher = watcher_of(manager)
    watcher.check(known)
    env.faults.statements.clear()
    for _ in range(5):
        watcher.check(known)
    assert env.faults.statements == []


def test_storage_of_a_removed_bundle_is_kept_while_one_of_its_tasks_runs(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    write_bundle_file(env.conf_dir, "local", LOCAL_BUNDLE, {"path": str(tmp_path / "dags")})
    manager, known = _started(env)
    watcher = watcher_of(manager)
    (env.storage / "local" / "tree").mkdir(parents=True)  # unversioned: no tracking lock exists
    with sqlite3.connect(env.db) as conn:  # a running task of one of its DAGs
        dag = {
            "dag_id": "dag_x",
            "is_paused": 0,
            "is_stale": 0,
            "bundle_name": "local",
            "timetable_type": "x",
            "max_active_tasks": 1,
            "max_consecutive_failed_dag_runs": 0,
            "has_task_concurrency_limits": 0,
        }
        if airflow_line() != "3.2":  # a NOT NULL column new in 3.3
            dag["partition_mapper_info"] = "{}"
        conn.execute(
            f"insert into dag ({', '.join(dag)}) values ({', '.join('?' * len(dag))})", list(dag.values())
        )
        conn.execute(
            "insert into task_instance (id, task_id, dag_id, run_id, state, try_number, pool, pool_slots) "
            "values ('0123456789abcdef0123456789abcdef', 't', 'dag_x', 'r', 'running', 1, 'default_pool', 1)"
        )

    remove_bundle_file(env.conf_dir, "local")
    watcher.check(known)
    watcher._reclaim_due()
    assert (env.storage / "local" / "tree").is_dir()

    with sqlite3.connect(env.db) as conn:
        conn.execute("update task_instance set state = 'success'")
    watcher._reclaim_due()
    assert not (env.storage / "local").exists()
    assert "local" not in watcher.store.load().removed


def _shard(names):
    return _started(None, names)


def test_sharded_processors_never_deactivate_each_others_bundles(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    for name in ("s1", "s2"):
        write_bundle_file(env.conf_dir, name, kwargs={"path": str(tmp_path / "dags")})
    one, known_one = _shard(["s1"])
    two, known_two = _shard(["s2"])
    _shard(["s1"])  # shard one restarts while shard two's bundle is live: nothing of two's touched
    assert _active(env.db) == {"s1": 1, "s2": 1}

    remove_bundle_file(env.conf_dir, "s2")
    one._refresh_dag_bundles(known_files=known_one)
    assert _active(env.db) == {"s1": 1, "s2": 1}  # not shard one's to deactivate
    two._refresh_dag_bundles(known_files=known_two)
    assert _active(env.db) == {"s1": 1, "s2": 0}
    _shard(["s1"])
    assert _active(env.db) == {"s1": 1, "s2": 0}


def test_removed_bundle_lets_go_of_its_versions_even_while_something_still_references_it(
    inprocess_watcher, tmp_path
):
    """Our bundles hold their published version (a shared flock); a reference cycle (the status
    hook wraps bundle methods) must not keep it held, or the removed bundle's storage is not
    reclaimed until the garbage collector happens to run (grace period 0 here)."""
    import gc

    from airflow_bundles_ext.compat.tracking import VersionHolds

    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_held")
    write_bundle_file(env.conf_dir, "held", kwargs={"path": str(tmp_path / "dags")})
    manager, known = _started(env)
    bundle = _bundle(manager, "held")
    bundle.holds = VersionHolds("held")  # what this package's bundles carry
    bundle.holds.hold("v1")
    bundle.cycle = bundle  # what the status hook's method wrappers amount to
    (env.storage / "held" / "versions" / "v1").mkdir(parents=True)
    del bundle
    gc.disable()
    try:
        remove_bundle_file(env.conf_dir, "held")
        manager._refresh_dag_bundles(known_files=known)  # deactivates, then reclaims (grace 0)
    finally:
        gc.enable()
    assert not (env.storage / "held").exists()
    assert not (env.storage / "_tracking" / "held").exists()
