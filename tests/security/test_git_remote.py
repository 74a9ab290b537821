"""Attacks on the git side: where a connection's credentials go, what a checkout may contain, and
what a slow or huge remote may cost. A real git binary against smart-HTTP servers on 127.0.0.1
that record every ``Authorization`` header they receive, and a private sshd."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_bundles_ext.bundles.git import GitDagBundle
from airflow_bundles_ext.errors import BundleConfigError, GitSourceError, SourceLimitError, UnsafePathError
from airflow_bundles_ext.watcher.demo import activation_env
from tests.bundles.git.conftest import scan_for
from tests.rig.git import GitRemote, git
from tests.rig.git_http import GitHttpServer
from tests.rig.moto import free_port
from tests.rig.sshd import SshServer, keygen, sshd_available
from tests.security.conftest import GIT, SECRET, bundle, resolve, write


@pytest.fixture
def capture(tmp_path) -> Iterator[tuple[GitHttpServer, GitRemote]]:
    """A git server that wants a token the bundles do not have, and records what they send."""
    root = tmp_path / "capture"
    root.mkdir()
    remote = GitRemote(root, name="repo")
    remote.commit({"dags/a.py": "a = 1\n"})
    server = GitHttpServer(root, username="collector", password="not-the-token").start()
    yield server, remote
    server.stop()


@pytest.fixture
def public(tmp_path) -> Iterator[tuple[GitHttpServer, GitRemote]]:
    """An anonymous git server (a public repository)."""
    root = tmp_path / "public"
    root.mkdir()
    remote = GitRemote(root, name="repo")
    server = GitHttpServer(root, username=None, password=None).start()
    yield server, remote
    server.stop()


def git_conn(host: str) -> str:
    return json.dumps({"conn_type": "git", "host": host, "login": "platform-bot", "password": SECRET})


def test_a_bundle_file_never_sends_a_git_connections_token_to_a_host_of_its_choosing(
    airflow_env, capture, tmp_path
):
    server, _ = capture
    conf = tmp_path / "conf"
    # main sent git_default's token (Basic auth, plain HTTP) to this URL; the file is refused now.
    write(
        conf,
        "steal.json",
        bundle("steal", GIT, repo_url=server.url("repo.git"), git_conn_id="git_default", tracking_ref="main"),
    )
    # Control: anonymous access to the same server is attempted, without any credential.
    write(conf, "anon.json", bundle("anon", GIT, repo_url=server.url("repo.git"), tracking_ref="main"))
    airflow_env.extra_env.update(
        {
            **activation_env(conf),
            "AIRFLOW_CONN_GIT_DEFAULT": git_conn("https://git.platform.example/acme/p.git"),
        }
    )

    answer, output = resolve(airflow_env, initialize=True)

    assert "steal" not in answer["bundles"] and "never sent over plain http" in answer["errors"]["steal.json"]
    assert "git ls-remote failed" in answer["initialized"]["anon"]  # it tried, and was refused
    assert server.requests, "the control request never reached the capture server"
    assert server.authorizations == []
    assert SECRET not in output and scan_for(airflow_env.storage_path, SECRET) == []


def test_a_git_connection_on_plain_http_is_refused_before_any_request(airflow_env, capture, tmp_path):
    server, _ = capture
    conf = tmp_path / "conf"
    write(conf, "plain.json", bundle("plain", GIT, git_conn_id="git_default", tracking_ref="main"))
    airflow_env.extra_env.update(
        {**activation_env(conf), "AIRFLOW_CONN_GIT_DEFAULT": git_conn(server.url("repo.git"))}
    )

    answer, output = resolve(airflow_env, initialize=True)

    assert "plain" not in answer["bundles"]
    assert "never sent over plain http" in answer["errors"]["plain.json"]
    assert server.requests == [] and SECRET not in output


def test_a_restricted_bundle_refuses_a_remote_off_its_connections_host_before_contacting_it(
    bundle_storage, capture, monkeypatch
):
    server, _ = capture
    monkeypatch.setenv("AIRFLOW_CONN_GIT_DEFAULT", git_conn("https://git.platform.example/acme/p.git"))
    elsewhere = f"https://127.0.0.1:{server.port}/repo.git"
    b = GitDagBundle(
        name="b", tracking_ref="main", repo_url=elsewhere, git_conn_id="git_default", restricted=True
    )
    with pytest.raises(BundleConfigError, match=r"only sent to the host it names \(git.platform.example\)"):
        b.initialize()
    assert server.requests == []


def test_a_static_bundle_keeps_upstreams_credential_semantics(bundle_storage, tmp_path, monkeypatch):
    """Bundles of dag_bundle_config_list are the platform's own: the same token, repo_url on any host."""
    root = tmp_path / "private"
    root.mkdir()
    remote = GitRemote(root, name="repo")
    sha = remote.commit({"dags/a.py": "a = 1\n"})
    server = GitHttpServer(root, username="platform-bot", password=SECRET).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_GIT_DEFAULT", git_conn("https://git.platform.example/acme/p.git"))
        b = GitDagBundle(
            name="b", tracking_ref="main", repo_url=server.url("repo.git"), git_conn_id="git_default"
        )
        b.initialize()
        assert b.get_current_version().version == sha
    finally:
        server.stop()


def commit_links(remote: GitRemote, links: dict[str, str]) -> str:
    for rel, target in links.items():
        path = remote.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
        git("add", rel, cwd=remote.work)
    return remote.commit({})


@pytest.mark.parametrize(
    "links",
    [{"dags/leak.py": "/etc/hostname"}, {"dags/d": "/"}, {"dags/up.py": "../../../../../../etc/hostname"}],
    ids=["absolute", "root-dir", "dot-dot"],
)
def test_symlinks_leaving_the_checkout_are_refused_and_the_published_version_stays(
    bundle_storage, public, links
):
    server, remote = public
    good = remote.commit({"dags/a.py": "a = 1\n", "dags/link.py": None})
    b = GitDagBundle(
        name="b", tracking_ref="main", subdir="dags", repo_url=server.url("repo.git"), restricted=True
    )
    b.initialize()
    commit_links(remote, {"dags/inside.py": "a.py"})  # a link inside the tree is fine
    inside = remote.head()
    b.refresh()
    assert b.get_current_version().version == inside and (b.path / "inside.py").read_text() == "a = 1\n"

    bad = commit_links(remote, links)
    with pytest.raises(UnsafePathError, match="points outside the bundle"):
        b.refresh()
    assert b.get_current_version().version == inside != good
    assert not (b.versions_dir / bad).exists()


def test_a_git_bundle_over_its_caps_is_refused_and_the_published_version_stays(bundle_storage, public):
    server, remote = public
    first = remote.commit({"dags/a.py": "a = 1\n"})
    b = GitDagBundle(
        name="b",
        tracking_ref="main",
        subdir="dags",
        repo_url=server.url("repo.git"),
        restricted=True,
        max_files=2,
        max_bytes=64 * 1024,
    )
    b.initialize()
    too_many = remote.commit({"dags/b.py": "b\n", "dags/c.py": "c\n"})
    with pytest.raises(SourceLimitError, match="3 files, cap max_files=2"):
        b.refresh()
    fetches = server.commands("fetch")
    remote.commit({"dags/b.py": None, "dags/c.py": None, "dags/big.bin": b"x" * 100_000})
    with pytest.raises(SourceLimitError, match="cap max_bytes=65536"):
        b.refresh()
    assert b.get_current_version().version == first
    assert not (b.versions_dir / too_many).exists()
    assert fetches >= 1


def test_a_stalled_git_transfer_is_aborted_by_the_low_speed_limit(bundle_storage, public):
    server, remote = public
    remote.commit({"dags/a.py": "a = 1\n" * 2000})
    b = GitDagBundle(
        name="b",
        tracking_ref="main",
        subdir="dags",
        repo_url=server.url("repo.git"),
        restricted=True,
        git_low_speed_time=2,
        git_timeout=120,
    )
    server.stall_fetch(1)
    with pytest.raises(GitSourceError) as err:
        b.initialize()  # without the limit this waits for git_timeout (120 s) and says "timed out"
    server.release()
    assert server.stalled.is_set() and "timed out" not in str(err.value)
    assert "still expected" in str(err.value) or "too slow" in str(err.value).lower()


def test_an_ssh_url_password_never_reaches_the_stores_config(
    bundle_storage, git_remote, tmp_path, monkeypatch
):
    if not sshd_available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("openssh-server is required in CI (scripts/setup installs it)")
        pytest.skip("openssh-server is not installed (scripts/setup installs it)")
    root = tmp_path / "sshd"
    root.mkdir()
    sshd = SshServer(root).start()
    try:
        remote = git_remote()
        sha = remote.commit({"dags/a.py": "a\n"})
        key = keygen(tmp_path / "client_key")
        sshd.authorize(key.with_suffix(".pub"))
        extra = {"key_file": str(key), "strict_host_key_checking": "no"}
        monkeypatch.setenv("AIRFLOW_CONN_GIT_SSH", json.dumps({"conn_type": "git", "extra": extra}))
        url = sshd.url(remote.bare).replace(f"ssh://{sshd.user}@", f"ssh://{sshd.user}:{SECRET}@")
        b = GitDagBundle(name="b", tracking_ref="main", subdir="dags", repo_url=url, git_conn_id="git_ssh")
        b.initialize()
        assert b.get_current_version().version == sha
        assert SECRET not in (b.base_dir / "store.git" / "config").read_text()
        assert scan_for(bundle_storage, SECRET) == []
    finally:
        sshd.stop()


def test_an_access_token_in_a_query_string_never_appears_in_errors_or_logs(bundle_storage, capfd):
    url = f"http://127.0.0.1:{free_port()}/repo.git?access_token={SECRET}"
    b = GitDagBundle(name="b", tracking_ref="main", repo_url=url, git_timeout=20)
    with pytest.raises(GitSourceError) as err:
        b.initialize()
    out, errout = capfd.readouterr()
    assert SECRET not in str(err.value) and SECRET not in out + errout
    assert "127.0.0.1" in str(err.value)  # the message still says where
    assert scan_for(Path(bundle_storage), SECRET) == []
