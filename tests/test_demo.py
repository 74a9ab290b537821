"""The README's demo: the whole of Airflow on embedded defaults, what it prints, what the UI shows,
and that Ctrl-C leaves no process of it running.

One demo run serves both tests (starting it is the expensive part): it pauses before its last
act (``--pause-before-remove``), where the browser test looks at the UI; the end-to-end test
then lets it play the last act, stops it with Ctrl-C and checks everything it printed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rig.browser import available, chrome, login, screenshot, wait_for_text

REPO = Path(__file__).resolve().parents[1]
# One worker, in file order (the browser test sees the pause); the first test also starts the demo.
pytestmark = [pytest.mark.xdist_group("demo"), pytest.mark.timeout(900)]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # the rule of tests/conftest.py


def _alive_in_group(leader: int) -> list[int]:
    """PIDs of live (non-zombie) processes whose process group is ``leader``'s."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == leader:
            alive.append(int(stat.parent.name))
    return alive


class DemoProcess:
    """``scripts/demo.py`` as a subprocess, read line by line."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "demo.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.output = ""

    def read_until(self, marker: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while marker not in self.output and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output += line
        assert marker in self.output, self.output
        return self.output

    def press_enter(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def ctrl_c(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=90)
        self.output += rest
        return self.output

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"\(pid (\d+)\)", self.output)]

    def ui(self) -> tuple[str, str, str]:
        found = re.search(r"UI: (\S+)\s+\(log in as (\S+) / (\S+)\)", self.output)
        assert found, self.output
        return found.group(1), found.group(2), found.group(3)

    def assert_stopped_cleanly(self) -> None:
        assert self.proc.returncode == 0, self.output
        assert "stopped: nothing left running" in self.output
        demo_dir = Path(re.search(r"demo dir: (\S+)", self.output).group(1))
        assert not demo_dir.exists()
        pids = self.pids()
        assert len(pids) == 5, self.output  # moto, api-server, scheduler, dag-processor, triggerer
        assert not {pid: _alive_in_group(pid) for pid in pids if _alive_in_group(pid)}


PAUSED = "paused: the teams' DAGs and runs are in the UI now"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoProcess]:
    """The demo, started once, playing acts 1-4 and pausing before act 5."""
    process = DemoProcess("--pause-before-remove")
    try:
        process.read_until(PAUSED)
        yield process
    finally:
        process.kill()


@pytest.mark.e2e
@pytest.mark.browser
def test_demo_ui_lists_the_file_defined_bundles_dags_and_shows_their_bundle_version(demo, tmp_path):
    if not available():
        message = "chromium and chromedriver (/usr/bin/chromium, /usr/bin/chromedriver) are not installed"
        if IN_CI:
            pytest.fail(f"{message}; scripts/setup installs them (required in CI)")
        pytest.skip(message)
    base_url, user, password = demo.ui()
    latest = dict(re.findall(r"(team-\w+): DAG version 2 at bundle version (\w+)", demo.output))
    with chrome() as driver:
        try:
            login(driver, base_url, user, password)
            driver.get(f"{base_url}/dags")
            for dag in ("team_s3_versions", "team_s3_hold", "team_git_versions", "team_git_hold"):
                wait_for_text(driver, dag)
            for team, dag in (("team-s3", "team_s3_versions"), ("team-git", "team_git_versions")):
                driver.get(f"{base_url}/dags/{dag}/details")
                wait_for_text(driver, f"Bundle Name {team}")
                wait_for_text(driver, f"Bundle Version {latest[team]}")
        finally:
            screenshot(driver, tmp_path / "last-page.png")


@pytest.mark.e2e
def test_demo_plays_every_act_then_ctrl_c_stops_every_process_and_removes_its_dir(demo):
    try:
        demo.press_enter()
        demo.read_until("scenario done")
        output = demo.ctrl_c()
    finally:
        demo.kill()
    demo.assert_stopped_cleanly()
    for team, dag in (("team-s3", "team_s3_versions"), ("team-git", "team_git_versions")):
        first = rf"{team}: run 'first' task 'after' \(try 1\) ran CODE v1 from bundle version (\w+)"
        rerun = rf"{team}: run 'first' task 'after' \(try 2\) ran CODE v1 from bundle version (\w+)"
        for expected in (
            rf"{team}: 4 DAGs visible in the UI at bundle version \w+: http://127\.0\.0\.1:\d+/dags/{dag}",
            first,
            rf"{team}: DAG version 2 at bundle version \w+ \(code v2\)",
            rerun,
            rf"{team}: run 'second' task 'added_in_v2' \(try 1\) ran CODE v2",
            rf"{team}: bundle inactive, its 4 DAGs STALE",
        ):
            assert re.search(expected, output), f"{expected!r} missing from the demo output:\n{output}"
        # The rerun used the first run's bundle version, not the one published since.
        assert re.search(first, output).group(1) == re.search(rerun, output).group(1)
    assert re.search(r"UI: http://127\.0\.0\.1:\d+\s+\(log in as admin / \S+\)", output)
