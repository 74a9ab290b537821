"""A moto S3 server on 127.0.0.1 in a subprocess, with HTTP-level counts and faults."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Counts:
    """What the server saw since the last reset."""

    requests: dict[str, int]
    bytes_out: int
    bytes_in: int

    def op(self, name: str) -> int:
        """Requests of one S3 operation, e.g. ``counts.op("GetObject")``."""
        return sum(n for k, n in self.requests.items() if k.split(":", 1)[1] == name)

    def method(self, method: str) -> int:
        return sum(n for k, n in self.requests.items() if k.split(":", 1)[0] == method)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


class MotoServer:
    """Start with :meth:`start`, always :meth:`stop`. ``endpoint`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.rig.moto_runner", "--port", str(self.port)],
            stdout=log,
            stderr=log,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._proc.returncode}")
            try:
                self._call("GET", "/_rig/counts")
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not start on {self.endpoint} within {timeout}s")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def reset(self) -> None:
        """Forget every bucket, count and fault."""
        self._call("POST", "/moto-api/reset")
        self.clear_faults()
        self.reset_counts()

    def counts(self) -> Counts:
        raw = self._call("GET", "/_rig/counts")
        return Counts(requests=raw["requests"], bytes_out=raw["bytes_out"], bytes_in=raw["bytes_in"])

    def reset_counts(self) -> None:
        self._call("POST", "/_rig/counts/reset")

    def add_faults(self, *rules: dict[str, Any]) -> None:
        self._call("POST", "/_rig/faults", list(rules))

    def held(self, name: str) -> int:
        """Requests that reached the ``hold`` fault ``name`` so far."""
        return int(self._call("GET", f"/_rig/held/{name}")["held"])

    def release(self, name: str) -> None:
        """Let the requests waiting at the ``hold`` fault ``name`` go on."""
        self._call("POST", f"/_rig/release/{name}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/_rig/faults")

    def client_env(self) -> dict[str, str]:
        """Environment for any boto3 or Airflow process that should talk to this server."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's dummy credentials
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
                }
            ),
        }

    def boto3_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"}, retries={"total_max_attempts": 1, "mode": "standard"}
            ),
        )
