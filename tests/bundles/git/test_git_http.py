"""GitDagBundle against a smart-HTTP git server on 127.0.0.1 that requires credentials."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from airflow_bundles_ext.bundles.git import GitDagBundle
from airflow_bundles_ext.errors import GitSourceError, VersionUnavailableError
from tests.bundles.git.conftest import HTTP_TOKEN, HTTP_USER, scan_for, tree
from tests.rig.git import git


def http_bundle(server, conn_id=None, **kwargs) -> GitDagBundle:
    kwargs.setdefault("name", "hb")
    kwargs.setdefault("tracking_ref", "main")
    kwargs.setdefault("subdir", "dags")
    return GitDagBundle(repo_url=server.url("repo.git"), git_conn_id=conn_id, **kwargs)


def test_token_auth_fetches_and_the_token_lands_nowhere(bundle_storage, http_remote, http_conn, capfd):
    server, remote = http_remote()
    first = remote.commit({"dags/a.py": "a\n", "etl/x.bin": os.urandom(1000)})
    b = http_bundle(server, http_conn())
    b.initialize()
    second = remote.commit({"dags/a.py": "b\n"})
    b.refresh()
    assert (b.get_current_version().version, tree(b.path)) == (second, {"a.py": "b\n"})
    assert {r.user for r in server.requests if r.user} == {HTTP_USER}
    pinned = http_bundle(server, http_conn(), version=first)
    pinned.initialize()
    assert tree(pinned.path) == {"a.py": "a\n"}
    config = (b.base_dir / "store.git" / "config").read_text()
    assert f"url = {server.url('repo.git')}" in config
    assert scan_for(bundle_storage, HTTP_TOKEN) == []
    out, err = capfd.readouterr()  # structlog writes to stdout/stderr, never to caplog
    assert "version published" in out + err  # the captured output holds the bundle's log lines
    assert HTTP_TOKEN not in out + err


def test_token_embedded_in_repo_url_is_used_but_never_stored(bundle_storage, http_remote, capfd):
    server, remote = http_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    url = server.url("repo.git").replace("http://", f"http://{HTTP_USER}:{HTTP_TOKEN}@")
    b = GitDagBundle(name="emb", tracking_ref="main", repo_url=url)
    b.initialize()
    assert b.get_current_version().version == sha
    assert scan_for(bundle_storage, HTTP_TOKEN) == []
    out, err = capfd.readouterr()
    assert "version published" in out + err
    assert HTTP_TOKEN not in out + err + repr(b)


def test_noop_refresh_is_one_ls_remote_and_no_fetch(bundle_storage, http_remote, http_conn):
    server, remote = http_remote()
    remote.commit({"dags/a.py": "a\n"})
    b = http_bundle(server, http_conn())
    b.initialize()
    fetches = server.commands("fetch")
    ls_refs = server.commands("ls-refs")
    b.refresh()
    assert server.commands("fetch") == fetches
    assert server.commands("ls-refs") == ls_refs + 1


def test_wrong_token_raises_without_the_token_and_keeps_serving(
    bundle_storage, http_remote, http_conn, capfd
):
    server, remote = http_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    http_bundle(server, http_conn()).initialize()
    remote.commit({"dags/a.py": "b\n"})
    wrong = "wrong-token-7c1d9e"
    restarted = http_bundle(server, http_conn(password=wrong))
    restarted.initialize()  # serves the published version
    with pytest.raises(GitSourceError) as err:
        restarted.refresh()
    message = str(err.value)
    assert "credentials" in message and server.url("repo.git") in message and "main" in message
    assert wrong not in message and HTTP_TOKEN not in message
    assert (restarted.get_current_version().version, tree(restarted.path)) == (sha, {"a.py": "a\n"})
    out, errout = capfd.readouterr()
    assert "refresh failed" in out + errout  # the failure was logged, without the token
    assert scan_for(bundle_storage, wrong) == [] and wrong not in out + errout


def test_pinned_version_falls_back_to_wide_fetch_when_server_refuses_sha(
    bundle_storage, http_remote, http_conn, tmp_path
):
    server, remote = http_remote(protocol_v2=False, any_sha=False)
    old = remote.commit({"dags/a.py": "old\n"})
    remote.commit({"dags/a.py": "new\n"})
    b = http_bundle(server, http_conn(), version=old)
    b.initialize()
    assert tree(b.path) == {"a.py": "old\n"}
    probe = tmp_path / "probe.git"
    git("init", "-q", "--bare", str(probe))
    authed = server.url("repo.git").replace("http://", f"http://{HTTP_USER}:{HTTP_TOKEN}@")
    refused = subprocess.run(
        ["git", "-C", str(probe), "fetch", "--depth=1", authed, old], capture_output=True, text=True
    )
    assert "unadvertised object" in refused.stderr  # so the bundle had to fall back to the wide fetch


def test_every_git_command_has_a_timeout(bundle_storage, http_remote, http_conn):
    server, remote = http_remote()
    remote.commit({"dags/a.py": "a\n"})
    server.hang = True
    b = http_bundle(server, http_conn(), git_timeout=2)
    start = time.monotonic()
    with pytest.raises(GitSourceError, match="timed out after 2s"):
        b.initialize()
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "tracked"])
def test_network_error_during_fetch_neither_widens_the_fetch_nor_rebuilds_the_store(
    bundle_storage, http_remote, http_conn, pinned
):
    server, remote = http_remote()
    old = remote.commit({"dags/a.py": "old\n"})
    processor = http_bundle(server, http_conn())
    processor.initialize()
    new = remote.commit({"dags/a.py": "new\n"})
    store = processor.base_dir / "store.git"
    inode = store.stat().st_ino
    server.fail_fetch_status = 502  # a proxy in trouble: a transport error, not a refusal
    fetches = server.commands("fetch")
    with pytest.raises(GitSourceError) as err:
        if pinned:
            http_bundle(server, http_conn(), version=new).initialize()
        else:
            processor.refresh()
    assert not isinstance(err.value, VersionUnavailableError)
    assert server.commands("fetch") == fetches + 1
    assert store.stat().st_ino == inode
    assert git("for-each-ref", "--format=%(refname)", "refs/abx/wide/", cwd=store) == ""
    assert processor.get_current_version().version == old


def test_rotated_token_is_read_again_and_the_refresh_succeeds(bundle_storage, http_remote, http_conn):
    server, remote = http_remote()
    remote.commit({"dags/a.py": "a\n"})
    b = http_bundle(server, http_conn())
    b.initialize()
    second = remote.commit({"dags/a.py": "b\n"})
    server.password = "rotated-token-5e8f"  # as an expired GitHub App token is replaced by a new one
    http_conn(password="rotated-token-5e8f")
    b.refresh()
    assert (b.get_current_version().version, tree(b.path)) == (second, {"a.py": "b\n"})
