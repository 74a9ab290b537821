"""Metrics reach a real StatsD listener (a UDP socket on 127.0.0.1)."""

from __future__ import annotations

import socket

import pytest

from tests.bundles.s3.conftest import run_bundle


@pytest.fixture
def statsd():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    try:
        yield sock
    finally:
        sock.close()


def received(sock: socket.socket) -> list[str]:
    lines: list[str] = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return lines
        lines.extend(data.decode().splitlines())


# "core": stats initialised the way the DAG processor does; "sdk": the way the task runner does.
@pytest.mark.parametrize("stats", ["core", "sdk"])
def test_refresh_emits_duration_and_object_counts_to_statsd(bucket, bundle_storage, statsd, stats):
    bucket.put({"a.py": "a = 1\n", "b.py": "b = 22\n", "c/d.py": "d = 333\n"})
    env = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "af",
    }
    answer = run_bundle("--name", "metered", "--bucket", "dag-bucket", "--stats", stats, env=env)
    assert "version" in answer, answer
    lines = received(statsd)
    assert any(
        line.startswith("af.bundles_ext.s3.refresh_duration:") and line.endswith("|ms") for line in lines
    )
    assert "af.bundles_ext.s3.objects_downloaded:3|c" in lines
    assert "af.bundles_ext.s3.bytes_downloaded:21|c" in lines
    assert "af.bundles_ext.s3.objects_listed:3|g" in lines
    # the processor packed the version it built (packed=True, the default)
    assert any(line.startswith("af.bundles_ext.s3.archive_bytes:") for line in lines), lines
    assert any(line.startswith("af.bundles_ext.s3.archive_duration:") for line in lines), lines
