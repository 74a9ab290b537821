"""The stock ``airflow dag-processor`` hot-reloads bundles from a watched directory (SQLite).

One processor run covers the whole life of a bundle file, because the steps are sequential
anyway: add, edit, break, bad classpaths, delete; a static bundle is checked throughout.
"""

from __future__ import annotations

import json

import pytest

from airflow_bundles_ext.watcher.demo import LOCAL_BUNDLE, remove_bundle_file, write_bundle_file
from tests.rig.airflow_env import write_dag

pytestmark = pytest.mark.e2e


def cli_json(stdout: str):
    """The JSON document a command printed after any log lines."""
    return json.loads(stdout[stdout.index("\n[") + 1 :] if not stdout.startswith("[") else stdout)


def _active_dags(env, bundle):
    return {d for d, row in env.dags(bundle).items() if not row.is_stale}


def _loops_passed(env, proc, bundle, count):
    """Wait until ``bundle`` was refreshed ``count`` more times (refresh_interval=2)."""
    seen = []

    def refreshed():
        last = env.bundles()[bundle].last_refreshed
        if not seen or last != seen[-1]:
            seen.append(last)
        return len(seen) > count

    proc.wait_for(refreshed, timeout=60, what=f"{count} refreshes of {bundle}")


def test_processor_hot_reloads_directory_bundles(airflow_env, watch_dir, start_processor, statsd, tmp_path):
    env = airflow_env
    static_dags, dags_a, dags_b = tmp_path / "static", tmp_path / "dags-a", tmp_path / "dags-b"
    write_dag(static_dags, "static_dag")
    write_dag(dags_a, "team_a_first")
    write_dag(dags_b, "team_a_second")
    env.set_bundles(
        [
            {
                "name": "static-local",
                "classpath": LOCAL_BUNDLE,
                "kwargs": {"path": str(static_dags)},
            }
        ]
    )
    env.extra_env["AIRFLOW__BUNDLES_EXT__REMOVED_BUNDLE_GRACE_PERIOD"] = "0"
    env.extra_env["AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS"] = (
        "airflow.dag_processing.bundles.local.LocalDagBundle,airflow_bundles_ext.no_such_module.*"
    )
    proc = start_processor(env, **statsd.env())
    proc.wait_for(lambda: "static_dag" in _active_dags(env, "static-local"), timeout=120, what="static DAG")

    # add -> DAGs visible, bundle active, and `bundles-ext list` names the file as the source
    write_bundle_file(watch_dir, "team-a", kwargs={"path": str(dags_a)})
    proc.wait_for(lambda: "team_a_first" in _active_dags(env, "team-a"), timeout=60, what="team-a DAG")
    assert env.bundles()["team-a"].active
    listed = {r["bundle"]: r for r in cli_json(env.airflow("bundles-ext", "list", "-o", "json").stdout)}
    assert listed["team-a"]["source"] == "file team-a.json" and listed["team-a"]["active"] == "True"
    assert listed["static-local"]["source"] == "static"

    # edit -> DAGs switch to the new path
    write_bundle_file(watch_dir, "team-a", kwargs={"path": str(dags_b)})
    proc.wait_for(
        lambda: _active_dags(env, "team-a") == {"team_a_second"}, timeout=60, what="team-a switched to dags-b"
    )

    # malformed JSON -> last good definition stays in force: nothing deactivated, still refreshing
    (watch_dir / "team-a.json").write_text('{"name": "team-a", "classpath": ')
    write_dag(dags_b, "team_a_added_while_broken")
    proc.wait_for(
        lambda: "team_a_added_while_broken" in _active_dags(env, "team-a"),
        timeout=60,
        what="DAG via last good",
    )
    _loops_passed(env, proc, "team-a", 3)
    assert env.bundles()["team-a"].active
    assert _active_dags(env, "team-a") == {"team_a_second", "team_a_added_while_broken"}

    # unimportable (allowed by glob) and disallowed classpaths -> never become bundles
    write_bundle_file(watch_dir, "ghost", "airflow_bundles_ext.no_such_module.Bundle", {"path": str(dags_a)})
    write_bundle_file(watch_dir, "evil", "subprocess.Popen", {"args": ["true"]})
    write_bundle_file(watch_dir, "team-c", kwargs={"path": str(dags_a)})
    proc.wait_for(lambda: "team_a_first" in _active_dags(env, "team-c"), timeout=60, what="team-c DAG")
    assert "ghost" not in env.bundles() and "evil" not in env.bundles()
    assert env.bundles()["team-a"].active

    # delete -> bundle inactive and its DAGs stale at once; the other bundles untouched; its local
    # storage reclaimed after the grace period (0 here) once no task holds a version
    stored = env.storage_path / "team-a" / "versions" / "v1"
    stored.mkdir(parents=True)
    (env.storage_path / "_tracking" / "team-a").mkdir(parents=True)
    (env.storage_path / "_tracking" / "team-a" / "v1").write_text("2026-01-01T00:00:00+00:00")
    remove_bundle_file(watch_dir, "team-a")
    proc.wait_for(lambda: not env.bundles()["team-a"].active, timeout=30, what="team-a inactive")
    proc.wait_for(lambda: not _active_dags(env, "team-a"), timeout=30, what="team-a DAGs stale")
    assert env.bundles()["team-c"].active and env.bundles()["static-local"].active
    assert _active_dags(env, "static-local") == {"static_dag"}
    proc.wait_for(
        lambda: not (env.storage_path / "team-a").exists(), timeout=30, what="team-a storage reclaimed"
    )
    assert not (env.storage_path / "_tracking" / "team-a").exists()
    assert proc.alive()

    # metrics reached a real StatsD socket
    proc.wait_for(lambda: statsd.count("bundles_ext.watcher.bundles_removed") >= 1, timeout=30, what="metric")
    assert statsd.count("bundles_ext.watcher.bundles_added") >= 2
    assert statsd.count("bundles_ext.watcher.reloads") >= 4
    assert statsd.count("bundles_ext.watcher.invalid_files") >= 3
