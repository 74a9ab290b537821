"""The README's demo runs the stock DAG processor, shows DAGs appear, and Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once reaped or defunct.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(") ", 1)[1][0] != "Z"


@pytest.mark.e2e
def test_demo_shows_dags_then_ctrl_c_stops_everything_and_removes_its_dir():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "scenario done" in line:
                break
        output = "".join(lines)
        assert "scenario done" in output, output
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        output += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    for expected in (
        "DAG demo_hello: visible",  # act 1: LocalDagBundle
        "DAG demo_goodbye: STALE",
        "DAG s3_demo_second: visible",  # act 2: S3 bundle, a new version after an upload
        "DAG git_demo_second: visible",  # act 3: git bundle, a new commit
        "DAG team_drop_hello: visible",  # act 4: a JSON file dropped into the watched dir
        "bundle team-drop: INACTIVE",
        "DAG team_drop_hello: STALE",
        "the sidecar wrote team-s3.json",  # act 5: S3 -> sidecar -> watcher
        "DAG team_s3_hello: visible",
        "stopped: nothing left running",
    ):
        assert expected in output, f"{expected!r} missing from the demo output:\n{output}"
    demo_dir = Path(re.search(r"demo dir: (\S+)", output).group(1))
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", output)]
    assert len(pids) == 3  # moto, the DAG processor, the sidecar
    assert not demo_dir.exists()
    assert not [pid for pid in pids if _pid_alive(pid)]
