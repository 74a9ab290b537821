"""The pieces of the deployment rig: process groups stopped by PID, a broker no one else shares,
git served anonymously."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.rig.broker import CLAIM_KEY, RedisBroker, redis_reachable
from tests.rig.git import GitRemote, git
from tests.rig.git_http import GitHttpServer
from tests.rig.services import Service, stop_all

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # the rule of tests/conftest.py


def _group_members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True, check=True).stdout
    return [
        int(p) for p, g, st in (line.split() for line in out.splitlines()) if int(g) == pgid and "Z" not in st
    ]


def test_stopping_a_service_ends_every_process_of_its_group(tmp_path):
    # The leader ignores SIGTERM and has a child that does too: only the group SIGKILL ends them.
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    child = f"{ignore}; time.sleep(300)"
    script = f"{ignore}; import subprocess, sys; subprocess.Popen([sys.executable, '-c', {child!r}]);"
    script += "print('up', flush=True); time.sleep(300)"
    service = Service(
        "stubborn", [sys.executable, "-c", script], os.environ, tmp_path / "s.log", tmp_path
    ).start()
    pid = service.pid
    assert pid is not None
    while "up" not in (tmp_path / "s.log").read_text():
        assert service.alive()
    stop_all([service], timeout=1)
    assert _group_members(pid) == []


def test_anonymous_git_server_serves_a_clone_and_records_credentials_a_client_sends(tmp_path):
    (tmp_path / "root").mkdir()
    remote = GitRemote(tmp_path / "root", name="public")
    sha = remote.commit({"dags/a.py": "x = 1\n"})
    server = GitHttpServer.anonymous(tmp_path / "root").start()
    try:
        url = server.url("public.git")
        git("clone", "-q", url, str(tmp_path / "clone"))
        assert git("rev-parse", "HEAD", cwd=tmp_path / "clone") == sha
        assert server.authorizations == []  # the clone sent none
        header = "http.extraHeader=Authorization: Basic dXNlcjpzZWNyZXQ="  # a client sending credentials
        subprocess.run(["git", "-c", header, "ls-remote", url], capture_output=True, text=True, timeout=60)
        assert set(server.authorizations) == {"Basic dXNlcjpzZWNyZXQ="}
    finally:
        server.stop()


def test_each_broker_claims_a_redis_db_of_its_own_and_gives_it_back():
    if not redis_reachable():
        if IN_CI:
            pytest.fail("Redis on 127.0.0.1:6379 is required in CI (CI=true) but is not reachable")
        pytest.skip("Redis on 127.0.0.1:6379 is not reachable")
    import redis

    first, second = RedisBroker().claim(), RedisBroker().claim()
    try:
        assert first.db != second.db or first.db == second.db == 0
        assert {first.prefix, first.queue}.isdisjoint({second.prefix, second.queue})
        client = redis.Redis(host="127.0.0.1", port=6379, db=first.db)
        if first.db:
            assert client.get(CLAIM_KEY) == first.id.encode()
        first.release()
        assert client.get(CLAIM_KEY) != first.id.encode()
        client.close()
    finally:
        first.release()
        second.release()
