"""GitDagBundle over SSH against a private sshd on 127.0.0.1: key file, inline key with passphrase,
host-key checking and the SSH agent, with upstream's connection extras."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from airflow_bundles_ext.bundles.git import GitDagBundle
from airflow_bundles_ext.errors import GitSourceError
from tests.bundles.git.conftest import scan_for, tree
from tests.rig.sshd import SshServer, keygen, sshd_available


@pytest.fixture(autouse=True)
def _require_sshd():
    """scripts/setup installs openssh-server; in CI (CI=true) its absence fails instead of skipping."""
    if not sshd_available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("openssh-server is required in CI (scripts/setup installs it) but sshd is missing")
        pytest.skip("openssh-server is not installed (scripts/setup installs it)")


@pytest.fixture
def sshd(tmp_path):
    root = tmp_path / "sshd"
    root.mkdir()
    server = SshServer(root).start()
    yield server
    server.stop()


def define_conn(monkeypatch, conn_id: str, **extra) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "git", "extra": extra}))
    return conn_id


def ssh_bundle(sshd, remote, conn_id, **kwargs) -> GitDagBundle:
    return GitDagBundle(
        name=kwargs.pop("name", "sb"),
        tracking_ref="main",
        subdir="dags",
        repo_url=sshd.url(remote.bare),
        git_conn_id=conn_id,
        **kwargs,
    )


def test_ssh_key_file_with_known_hosts_and_strict_checking(
    bundle_storage, sshd, git_remote, tmp_path, monkeypatch
):
    remote = git_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    key = keygen(tmp_path / "client_key")
    sshd.authorize(key.with_suffix(".pub"))
    conn = define_conn(
        monkeypatch,
        "git_ssh",
        key_file=str(key),
        strict_host_key_checking="yes",
        known_hosts_file=str(sshd.known_hosts(tmp_path / "known_hosts")),
    )
    b = ssh_bundle(sshd, remote, conn)
    b.initialize()
    assert (b.get_current_version().version, tree(b.path)) == (sha, {"a.py": "a\n"})


def test_ssh_inline_private_key_with_passphrase_never_lands_on_disk(
    bundle_storage, sshd, git_remote, tmp_path, monkeypatch, capfd
):
    remote = git_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    passphrase = "pass-phrase-91b2"
    key = keygen(tmp_path / "client_key", passphrase)
    sshd.authorize(key.with_suffix(".pub"))
    private = key.read_text()
    conn = define_conn(
        monkeypatch,
        "git_ssh",
        private_key=private,
        private_key_passphrase=passphrase,
        strict_host_key_checking="yes",
        known_hosts_file=str(sshd.known_hosts(tmp_path / "known_hosts")),
    )
    b = ssh_bundle(sshd, remote, conn)
    b.initialize()
    assert b.get_current_version().version == sha
    body = private.splitlines()[1]  # a line of the key's base64 body
    assert scan_for(bundle_storage, body) == [] and scan_for(bundle_storage, passphrase) == []
    out, err = capfd.readouterr()
    assert "version published" in out + err  # structlog's lines are in the captured output
    assert body not in out + err and passphrase not in out + err


def test_ssh_unknown_host_key_is_refused_with_strict_checking(
    bundle_storage, sshd, git_remote, tmp_path, monkeypatch
):
    remote = git_remote()
    remote.commit({"dags/a.py": "a\n"})
    key = keygen(tmp_path / "client_key")
    sshd.authorize(key.with_suffix(".pub"))
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    conn = define_conn(
        monkeypatch, "git_ssh", key_file=str(key), strict_host_key_checking="yes", known_hosts_file=str(empty)
    )
    with pytest.raises(GitSourceError, match="known_hosts"):
        ssh_bundle(sshd, remote, conn).initialize()


def test_ssh_agent_from_ssh_auth_sock(bundle_storage, sshd, git_remote, tmp_path, monkeypatch):
    remote = git_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    key = keygen(tmp_path / "agent_key")
    sshd.authorize(key.with_suffix(".pub"))
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"])
        subprocess.run(
            ["ssh-add", "-q", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)}, check=True
        )
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        conn = define_conn(
            monkeypatch,
            "git_ssh",
            strict_host_key_checking="yes",
            known_hosts_file=str(sshd.known_hosts(tmp_path / "known_hosts")),
        )
        b = ssh_bundle(sshd, remote, conn)
        b.initialize()
        assert b.get_current_version().version == sha
    finally:
        agent.terminate()
        agent.wait(10)


_KILLED_CHILD = """
from airflow_bundles_ext.bundles.git import GitDagBundle
GitDagBundle(
    name="killed", tracking_ref="main", repo_url="ssh://git@127.0.0.1:1/repo.git", git_conn_id="git_ssh"
).initialize()
"""


def test_inline_key_is_never_written_to_a_file_even_when_the_refresh_is_killed(
    bundle_storage, tmp_path, monkeypatch
):
    """A SIGKILL mid-connection skips every ``finally``: nothing holding the key may be on disk then."""
    private = keygen(tmp_path / "client_key").read_text()
    body = private.splitlines()[1]
    tmpdir, marker = tmp_path / "tmp", tmp_path / "connecting"
    tmpdir.mkdir()
    define_conn(  # the proxy stands for a slow network: ssh waits on it, with the key loaded
        monkeypatch,
        "git_ssh",
        private_key=private,
        strict_host_key_checking="no",
        host_proxy_cmd=f"sh -c 'echo $$ > {marker}; exec sleep 600'",
    )
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD],
        env={**os.environ, "TMPDIR": str(tmpdir)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.is_file() or not marker.read_text().strip():
            assert child.poll() is None and time.monotonic() < deadline, "ssh never reached the proxy"
            time.sleep(0.02)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)
        if marker.is_file() and marker.read_text().strip():  # git runs in its own process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(int(marker.read_text())), signal.SIGKILL)
    assert scan_for(tmpdir, body) == []
