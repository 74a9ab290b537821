"""The stock ``airflow api-server`` as a subprocess on 127.0.0.1, with simple-auth-manager users.

``ApiServer(env, users={"viewer": "VIEWER", ...})`` writes the users and their passwords into
the env (``[core] simple_auth_manager_users`` and a passwords file), starts one worker on a
free port and waits until it answers. :meth:`token` gets a JWT from ``POST /auth/token`` the
way any client of Airflow's REST API does. Always call :meth:`stop` (stops it by PID).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.rig.airflow_env import AIRFLOW_BIN, AirflowEnv

SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def auth_env(home: Path, users: dict[str, str]) -> dict[str, str]:
    """Env for every process of ``home``: simple auth manager with ``users`` (name -> role)."""
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({name: f"pw-{name}" for name in users}))
    return {
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in users.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    }


class ApiServer:
    def __init__(self, env: AirflowEnv, users: dict[str, str], *, log_name: str = "api-server.log") -> None:
        self.airflow_env = env
        self.users = users
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = env.home / log_name
        env.extra_env.update(auth_env(env.home, users))
        env.extra_env["AIRFLOW__API__BASE_URL"] = self.base_url
        env.extra_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{self.base_url}/execution/"
        self.proc: subprocess.Popen[bytes] | None = None
        self._tokens: dict[str, str] = {}

    def start(self, timeout: float = 120) -> ApiServer:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [AIRFLOW_BIN, "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=self.airflow_env.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.airflow_env.home,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"api-server exited {self.proc.returncode}\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/api/v2/version", timeout=2).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"api-server did not answer within {timeout}s\n{self.log_tail()}")

    def password(self, user: str) -> str:
        return f"pw-{user}"

    def token(self, user: str) -> str:
        if user not in self._tokens:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": user, "password": self.password(user)},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def request(self, method: str, path: str, *, user: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return "api-server log tail:\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        self.proc = None
