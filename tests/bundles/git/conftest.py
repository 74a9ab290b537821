"""Fixtures of the git bundle tests: a credentialed smart-HTTP git server and bundle factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.rig.git import GitRemote, git
from tests.rig.git_http import GitHttpServer

HTTP_USER = "bundle-bot"
HTTP_TOKEN = "tok-3f9a1c7e5d2b48a6"  # the secret the credential scans look for


@pytest.fixture
def http_remote(tmp_path: Path) -> Iterator[Callable[..., tuple[GitHttpServer, GitRemote]]]:
    """Factory: ``http_remote(protocol_v2=True)`` -> (server, remote) serving ``repo.git`` over HTTP."""
    servers: list[GitHttpServer] = []

    def make(*, protocol_v2: bool = True, any_sha: bool = True) -> tuple[GitHttpServer, GitRemote]:
        root = tmp_path / f"http-{len(servers)}"
        root.mkdir()
        remote = GitRemote(root, name="repo")
        if not any_sha:
            git("config", "uploadpack.allowAnySHA1InWant", "false", cwd=remote.bare)
        server = GitHttpServer(root, username=HTTP_USER, password=HTTP_TOKEN, protocol_v2=protocol_v2).start()
        servers.append(server)
        return server, remote

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Factory: define an Airflow git connection through the environment; returns its id."""

    def define(conn_id: str = "git_http", *, password: str = HTTP_TOKEN, **extra: str) -> str:
        import json

        conn = {"conn_type": "git", "login": HTTP_USER, "password": password, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return define


def tree(path: Path) -> dict[str, str]:
    """Relative path -> text of every file under ``path`` (follows the ``current`` symlink)."""
    return {
        str(p.relative_to(path)): p.read_text(errors="replace")
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def scan_for(root: Path, secret: str) -> list[Path]:
    """Files under ``root`` (not following symlinks) whose bytes or name contain ``secret``."""
    hits = []
    needle = secret.encode()
    for p in root.rglob("*"):
        if needle in str(p).encode():
            hits.append(p)
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes():
            hits.append(p)
    return hits
