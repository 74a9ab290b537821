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
    assert re.search(r"DAG demo_hello: visible", output)
    assert re.search(r"DAG demo_goodbye: STALE", output)
    assert "stopped: nothing left running" in output
    demo_dir = Path(re.search(r"demo dir: (\S+)", output).group(1))
    processor_pid = int(re.search(r"dag-processor` \(pid (\d+)\)", output).group(1))
    assert not demo_dir.exists()
    assert not _pid_alive(processor_pid)
