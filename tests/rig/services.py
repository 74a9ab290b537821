"""Long-running processes of the rig (``airflow scheduler``, ``airflow celery worker``, ...).

Each :class:`Service` runs in its own session (``start_new_session``), so it and every child it
forks form one process group that :meth:`Service.stop` ends by PID: ``SIGTERM`` to the leader
(which stops its own children: a Celery worker's pool, a scheduler's executor), ``SIGKILL`` to
the group after a grace period, and ``SIGKILL`` to the group once more for any child that
outlived its leader. :func:`stop_all` signals a list of services at once and then waits, so
stopping six Airflow processes costs the slowest one, not the sum.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path


class Service:
    """One command in its own process group, logging to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        *,
        stop_timeout: float = 20,
    ) -> None:
        self.name = name
        self.stop_timeout = stop_timeout
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
        return f"--- {self.name} log tail ({self.log_path}):\n{text}"

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        stop_all([self])


def stop_all(services: Iterable[Service], timeout: float | None = None) -> None:
    """SIGTERM every service's leader, wait up to each one's ``stop_timeout`` (or ``timeout``),
    counted from the same moment, then SIGKILL the group of each one still running."""
    running = [s for s in services if s.proc is not None]
    for service in running:
        if service.alive():
            assert service.proc is not None
            service.proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    for service in running:
        assert service.proc is not None
        deadline = start + (service.stop_timeout if timeout is None else timeout)
        try:
            service.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.signal_group(signal.SIGKILL)
            service.proc.wait()
        # Children that outlived the leader (a task process, a pool child) are still in the group.
        service.signal_group(signal.SIGKILL)
        service.proc = None
