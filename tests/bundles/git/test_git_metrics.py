"""Refresh metrics reach a real StatsD socket, tagged by bundle (run in a child process that
initialises Airflow's stats backend the way the DAG processor does)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

_CHILD = """
import json, sys
from tests.rig.stats_init import init_stats
init_stats("core")
from airflow_bundles_ext.bundles.git import GitDagBundle
url, moved = sys.argv[1], sys.argv[2]
import os
b = GitDagBundle(name="mb", tracking_ref="main", repo_url=url)
b.initialize()  # fetch
b.refresh()     # no-op
os.rename(url[len("file://"):], moved)
try:
    b.refresh()  # failure
except Exception:
    pass
"""


def test_refresh_metrics_reach_statsd(bundle_storage, git_remote, tmp_path):
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(30)
    remote = git_remote()
    remote.commit({"dags/a.py": "a\n"})
    env = {
        **os.environ,
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(sink.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    try:
        subprocess.run(
            [sys.executable, "-c", _CHILD, remote.url, str(tmp_path / "moved.git")],
            env=env,
            cwd=Path(__file__).resolve().parents[3],  # the child imports tests.rig
            check=True,
            timeout=180,
            capture_output=True,
        )
        sink.settimeout(0.5)
        lines: list[str] = []
        try:
            while True:
                lines += sink.recv(65536).decode().splitlines()
        except TimeoutError:
            pass
    finally:
        sink.close()
    counters = {}
    timings = 0
    for line in lines:
        name, _, rest = line.partition(":")
        if rest.endswith("|c"):
            counters[name] = counters.get(name, 0) + int(rest.split("|")[0])
        elif name == "airflow.bundles_ext.git.refresh_duration" and "|ms" in rest:
            timings += 1
    assert counters.get("airflow.bundles_ext.git.fetches") == 1, json.dumps(lines)
    assert counters.get("airflow.bundles_ext.git.noop_refreshes") == 1
    assert counters.get("airflow.bundles_ext.git.refresh_failures") == 1
    assert timings == 3
