"""A bundle sync in any process leaves alone the bundles that process does not know.

``airflow dags test``, a sharded or second DAG processor and the watcher itself all call
``DagBundlesManager().sync_bundles_to_db``; none may deactivate another processor's bundle or
drop its import errors. Airflow 3.3 has ``deactivate_missing=False`` for this; 3.2 does not,
and the patch hides the unknown rows from the stock method instead (both run in CI).
"""

from __future__ import annotations

import sqlite3

from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.utils.session import create_session

from airflow_bundles_ext.watcher.demo import write_bundle_file
from tests.rig.airflow_env import write_dag


def _rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_sync_keeps_unknown_bundles_active_with_their_import_errors(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    write_bundle_file(env.conf_dir, "mine", kwargs={"path": str(tmp_path / "dags")})
    with sqlite3.connect(env.db) as conn:  # another processor's bundle, with a broken file
        conn.execute("insert into dag_bundle (name, active) values ('theirs', 1)")
        conn.execute(
            "insert into import_error (id, filename, bundle_name, stacktrace) "
            "values (1, 'broken.py', 'theirs', 'SyntaxError')"
        )

    DagBundlesManager().sync_bundles_to_db()  # as the DAG processor calls it
    with create_session() as session:  # as `airflow dags test` calls it
        DagBundlesManager().sync_bundles_to_db(session=session)

    assert dict(_rows(env.db, "select name, active from dag_bundle")) == {"mine": 1, "theirs": 1}
    assert _rows(env.db, "select bundle_name, filename from import_error") == [("theirs", "broken.py")]


def test_sync_still_writes_the_bundles_this_process_knows(inprocess_watcher, tmp_path):
    env = inprocess_watcher
    write_dag(tmp_path / "dags", "dag_x")
    write_bundle_file(env.conf_dir, "mine", kwargs={"path": str(tmp_path / "dags")})
    with sqlite3.connect(env.db) as conn:  # deactivated earlier, its file is back
        conn.execute("insert into dag_bundle (name, active) values ('mine', 0)")

    DagBundlesManager().sync_bundles_to_db()

    assert dict(_rows(env.db, "select name, active from dag_bundle")) == {"mine": 1}
