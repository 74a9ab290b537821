"""The real ``airflow-bundle-sync`` console script as a subprocess, for tests and the demo.

Demo hook::

    from tests.rig.sidecar import put_bundle, start_sidecar, stop_sidecar
    client = moto.boto3_client(); client.create_bucket(Bucket="config-bucket")
    sidecar = start_sidecar(moto.endpoint, "config-bucket", "airflow/dag-bundles/", watched_dir)
    put_bundle(client, "config-bucket", "airflow/dag-bundles/", "team-a", {"path": "/dags/a"})
    ...                     # the file appears in watched_dir within ``interval`` seconds
    stop_sidecar(sidecar)   # SIGTERM; returns the exit code (0)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SCRIPT_NAME = "airflow-bundle-sync"


def console_script(name: str = SCRIPT_NAME) -> str:
    """An installed console script next to this interpreter (the venv's), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `pip install -e .`")
    return found


def sidecar_env(
    endpoint: str,
    bucket: str,
    prefix: str,
    directory: Path,
    *,
    health_file: Path,
    mode: str = "sidecar",
    interval: float = 0.2,
    **extra: str,
) -> dict[str, str]:
    """Environment for the console script: the blog's variables plus moto's dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "RUN_MODE": mode,
            "SYNC_INTERVAL": str(interval),
            "BUNDLE_BUCKET": bucket,
            "BUNDLE_PREFIX": prefix,
            "BUNDLE_PATH": str(directory),
            "HEALTH_FILE": str(health_file),
        }
    )
    env.update(extra)
    return env


def run_sync(env: Mapping[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the console script to completion (``RUN_MODE=once``, ``probe``, bad settings)."""
    return subprocess.run(
        [console_script(), *args], env=dict(env), capture_output=True, text=True, timeout=timeout
    )


class Sidecar:
    """A running ``airflow-bundle-sync`` process; always :meth:`stop` it."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *args: str) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.health_file = Path(self.env["HEALTH_FILE"])
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [console_script(), *args], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def health(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.health_file.read_text())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_for(self, check: Callable[[], bool], *, timeout: float = 30, what: str = "condition") -> None:
        """Poll ``check`` every 50 ms; fail with the sidecar's log tail on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}; sidecar log:\n{self.log_tail()}"
        )

    def wait_cycle_after(self, cycle: int, *, timeout: float = 30) -> dict[str, Any]:
        """Wait for a successful cycle numbered above ``cycle``; return its health record."""
        self.wait_for(
            lambda: (self.health() or {}).get("cycle", 0) > cycle, timeout=timeout, what=f"cycle > {cycle}"
        )
        return self.health() or {}

    def wait_exit(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sidecar still running after {timeout}s; log:\n{self.log_tail()}") from None

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, wait, SIGKILL as a last resort; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def start_sidecar(
    endpoint: str,
    bucket: str,
    prefix: str,
    directory: Path,
    *,
    interval: float = 1.0,
    health_file: Path | None = None,
    log_path: Path | None = None,
    **extra_env: str,
) -> Sidecar:
    """Demo hook: start the sidecar loop against an S3 endpoint (e.g. the rig's moto server)."""
    directory.mkdir(parents=True, exist_ok=True)
    health = health_file or directory.parent / f"{directory.name}.sync-health"
    log = log_path or directory.parent / f"{directory.name}.sync.log"
    env = sidecar_env(endpoint, bucket, prefix, directory, health_file=health, interval=interval, **extra_env)
    return Sidecar(env, log)


def put_bundle(
    client: Any,
    bucket: str,
    prefix: str,
    name: str,
    kwargs: Mapping[str, Any],
    classpath: str = "airflow.dag_processing.bundles.local.LocalDagBundle",
) -> str:
    """Demo hook: upload ``<prefix><name>.json`` as CI would; returns the key."""
    key = f"{prefix.rstrip('/')}/{name}.json" if prefix.strip("/") else f"{name}.json"
    body = json.dumps({"name": name, "classpath": classpath, "kwargs": dict(kwargs)}, indent=2).encode()
    client.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def stop_sidecar(sidecar: Sidecar, timeout: float = 10) -> int:
    """Demo hook: SIGTERM the sidecar and return its exit code (0 on a clean stop)."""
    return sidecar.stop(timeout)
