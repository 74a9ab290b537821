"""Fixtures for the watcher tests: a watched directory in an Airflow env and a StatsD UDP sink for
the DAG processor e2e tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_bundles_ext.watcher.demo import LOCAL_BUNDLE, activation_env


class StatsdSink:
    """A UDP socket on 127.0.0.1 standing in for a StatsD server; collects metric lines."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Receive continuously: the processor sends many metrics and a full buffer drops datagrams.
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.lines.extend(data.decode(errors="replace").splitlines())

    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        }

    def drain(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def count(self, name: str) -> int:
        """Sum of counter increments for ``airflow.<name>``."""
        total = 0
        for line in self.drain():
            metric, _, rest = line.partition(":")
            if metric == f"airflow.{name}" and rest.endswith("|c"):
                total += int(rest.split("|")[0])
        return total

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def statsd() -> Iterator[StatsdSink]:
    sink = StatsdSink()
    try:
        yield sink
    finally:
        sink.close()


@pytest.fixture
def watch_dir(airflow_env) -> Path:
    """A watched directory for ``airflow_env``, switched on through the env var alone."""
    directory = airflow_env.home / "bundle-conf"
    directory.mkdir()
    airflow_env.extra_env.update(activation_env(directory))
    # These tests parse real DAG files through LocalDagBundle, which the platform must allow.
    airflow_env.extra_env.setdefault("AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS", LOCAL_BUNDLE)
    return directory
