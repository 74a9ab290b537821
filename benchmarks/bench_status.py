"""Bundle status: push refresh and webhook to visible, and the status writer's idle cost.

* ``push_refresh_to_visible`` / ``webhook_to_visible``: the stock ``airflow api-server`` (with
  the plugin) and ``airflow dag-processor`` on SQLite (test rig), a git bundle with
  ``refresh_interval=300`` and the stock ``bundle_refresh_check_interval`` (5 s). Wall time from
  sending ``POST /bundles-ext/api/v1/bundles/<name>/refresh`` (resp. a signed GitHub push
  webhook) until ``dag_bundle.version`` is the new commit. Goal: <= 2 s.
* ``idle_cpu_300_bundles``: CPU seconds (user + system, the processor's whole process group,
  from ``/proc``) of a DAG processor with 300 static ``LocalDagBundle`` over a fixed window
  after warm-up, stock ``bundle_refresh_check_interval`` (5 s) and ``refresh_interval=60`` so
  every bundle refreshes (and is written) during the window; ``[bundles_ext] status_writer``
  on ("ours") versus off ("upstream"), runs alternating. Goal: ratio <= 1.1.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Options, Result

ROOT = Path(__file__).resolve().parent.parent
WINDOW_S = 60.0
GIT = "airflow_bundles_ext.bundles.git.GitDagBundle"
LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"
STOCK_TIMING = {
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
}


def _wait(check: Any, timeout: float, what: str, interval: float = 0.02) -> float:
    start = time.perf_counter()
    while True:
        try:
            if check():
                return time.perf_counter() - start
        except Exception:
            pass
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"benchmark timed out waiting for {what}")
        time.sleep(interval)


def _latency_cases(work: Path, template: Any, repeat: int) -> list[Case]:
    from tests.rig.airflow_env import DagProcessor
    from tests.rig.api_server import ApiServer
    from tests.rig.git import GitRemote
    from tests.status.conftest import GITHUB_URL, USERS, git_dags, github_signature, push_payload

    env = template.new_env(work / "latency")
    remotes = {n: GitRemote(work / "remotes", n) for n in ("repo", "hooked")}
    git_dags(remotes["repo"], "bench_repo")
    git_dags(remotes["hooked"], "bench_hooked")
    slow = {"subdir": "dags", "tracking_ref": "main", "refresh_interval": 300}
    env.set_bundles(
        [
            {"name": "repo", "classpath": GIT, "kwargs": {**slow, "repo_url": remotes["repo"].url}},
            {"name": "hooked", "classpath": GIT, "kwargs": {**slow, "repo_url": GITHUB_URL}},
        ]
    )
    env.extra_env.update(STOCK_TIMING)
    env.extra_env.update(
        {
            "AIRFLOW__BUNDLES_EXT__GITHUB_WEBHOOK_SECRET": "bench-secret",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.{remotes['hooked'].url}.insteadOf",
            "GIT_CONFIG_VALUE_0": GITHUB_URL,
        }
    )
    api = ApiServer(env, USERS)
    proc = DagProcessor(env).start()
    push, hook = [], []
    try:
        api.start()
        for name in ("repo", "hooked"):
            head = remotes[name].head()
            _wait(lambda n=name, h=head: env.bundles()[n].version == h, 120, f"{name} initial", 0.2)
        token = api.token("editor")
        for i in range(repeat):
            sha = git_dags(remotes["repo"], "bench_repo", f"bench_repo_{i}")
            start = time.perf_counter()
            response = api.request(
                "POST",
                "/bundles-ext/api/v1/bundles/repo/refresh",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 202, response.text
            _wait(lambda s=sha: env.bundles()["repo"].version == s, 60, "pushed commit")
            push.append(time.perf_counter() - start)
            sha = git_dags(remotes["hooked"], "bench_hooked", f"bench_hooked_{i}")
            body = push_payload()
            headers = {
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": github_signature(body, "bench-secret"),
            }
            start = time.perf_counter()
            response = api.request(
                "POST", "/bundles-ext/api/v1/webhooks/github", content=body, headers=headers
            )
            assert response.json()["refreshed"] == ["hooked"], response.text
            _wait(lambda s=sha: env.bundles()["hooked"].version == s, 60, "webhook commit")
            hook.append(time.perf_counter() - start)
    finally:
        proc.stop()
        api.stop()
        env.dispose()
    note = "git bundle, refresh_interval=300, bundle_refresh_check_interval=5, SQLite"
    return [
        Case("push_refresh_to_visible", Result(wall_s=push), None, goal="<= 2 s", notes=note),
        Case("webhook_to_visible", Result(wall_s=hook), None, goal="<= 2 s", notes=note),
    ]


def _cpu_seconds(pgid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp; utime, stime, cutime, cstime follow at 11..14
            total += sum(int(x) for x in fields[11:15])
    return total / ticks


def _idle_run(work: Path, template: Any, writer: bool, run: int) -> float:
    from tests.rig.airflow_env import DagProcessor

    env = template.new_env(work / f"idle-{run}-{'on' if writer else 'off'}")
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    env.set_bundles(
        [
            {"name": f"b{i:03d}", "classpath": LOCAL, "kwargs": {"path": str(empty), "refresh_interval": 60}}
            for i in range(300)
        ]
    )
    env.extra_env.update(STOCK_TIMING)
    env.extra_env["AIRFLOW__BUNDLES_EXT__STATUS_WRITER"] = str(writer)
    proc = DagProcessor(env).start()
    try:
        _wait(lambda: len([r for r in env.bundles().values() if r.last_refreshed]) == 300, 300, "warm-up", 1)
        if writer:
            _wait(
                lambda: env.query("select count(*) from bundles_ext_bundle_status")[0][0] == 300,
                60,
                "rows",
                1,
            )
        time.sleep(5)
        assert proc.proc is not None
        before = _cpu_seconds(proc.proc.pid)
        time.sleep(WINDOW_S)
        return _cpu_seconds(proc.proc.pid) - before
    finally:
        proc.stop()
        env.dispose()


def _idle_case(work: Path, template: Any, runs: int) -> Case:
    on: list[float] = []
    off: list[float] = []
    for run in range(runs):
        off.append(_idle_run(work, template, False, run))
        on.append(_idle_run(work, template, True, run))
    note = f"CPU s per {WINDOW_S:.0f} s window, median of {runs} alternating runs; wall_s column = CPU s"
    return Case(
        "idle_cpu_300_bundles",
        Result(wall_s=on, extra={"cpu_s": sorted(on)[len(on) // 2]}),
        Result(wall_s=off, extra={"cpu_s": sorted(off)[len(off) // 2]}),
        goal="ratio <= 1.1",
        notes=note,
    )


def run(opts: Options) -> list[Case]:
    work = Path(tempfile.mkdtemp(prefix="abx-bench-status-"))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tests.rig.airflow_env import SqliteTemplate

        template = SqliteTemplate(work / "template")
        cases = _latency_cases(work, template, max(1, opts.repeat))
        cases.append(_idle_case(work, template, 1 if opts.quick else min(2, max(1, opts.repeat))))
        print(json.dumps({c.name: c.ours.wall_s for c in cases}), file=sys.stderr)
        return cases
    finally:
        shutil.rmtree(work, ignore_errors=True)
