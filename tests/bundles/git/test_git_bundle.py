"""GitDagBundle against real repositories and the real git binary (``file://`` remotes)."""

from __future__ import annotations

import os

import pytest

from airflow_bundles_ext.bundles.git import GitDagBundle
from airflow_bundles_ext.errors import BundleConfigError, GitSourceError, UnsafePathError
from tests.bundles.git.conftest import tree
from tests.rig.git import git


def bundle(remote, **kwargs) -> GitDagBundle:
    kwargs.setdefault("name", "gb")
    kwargs.setdefault("tracking_ref", "main")
    return GitDagBundle(repo_url=remote.url, **kwargs)


def version(b: GitDagBundle) -> str:
    return b.get_current_version().version


def _exists(b: GitDagBundle, obj: str) -> bool:
    import subprocess

    env = {**os.environ, "GIT_NO_LAZY_FETCH": "1"}
    r = subprocess.run(["git", "--git-dir", str(b.base_dir / "store.git"), "cat-file", "-e", obj], env=env)
    return r.returncode == 0


def test_constructor_does_no_io_and_validates_kwargs(bundle_storage):
    b = GitDagBundle(
        name="lazy",
        tracking_ref="main",
        repo_url="https://unreachable.invalid/r.git",
        git_conn_id="no_such_conn",
    )
    assert b.path == bundle_storage / "lazy" / "current"
    assert list(bundle_storage.iterdir()) == []
    with pytest.raises(BundleConfigError, match="tracking_ref"):
        GitDagBundle(name="bad", tracking_ref="--upload-pack=x", repo_url="file:///x")
    with pytest.raises(UnsafePathError):
        GitDagBundle(name="bad", tracking_ref="main", repo_url="file:///x", subdir="../etc")


def test_branch_checks_out_only_subdir_and_fetches_only_the_tracked_commit(bundle_storage, git_remote):
    remote = git_remote()
    big = os.urandom(50_000)
    sha = remote.commit({"dags/a.py": "a = 1\n", "etl/big.bin": big, "README": "hi"})
    remote.create_branch("feature", remote.commit({"dags/f.py": "f\n"}, push=False))
    remote.tag("v-other", remote.head())
    b = bundle(remote, subdir="dags")
    b.initialize()
    assert version(b) == sha
    assert tree(b.path) == {"a.py": "a = 1\n"}
    assert os.readlink(b.base_dir / "current") == f"versions/{sha}"
    assert not (b.versions_dir / sha / "etl").exists() and not (b.versions_dir / sha / "README").exists()
    big_blob = git("rev-parse", f"{sha}:etl/big.bin", cwd=remote.work)
    assert not _exists(b, big_blob), "a blob outside subdir was fetched"
    assert not _exists(b, remote.head()), "an unrelated branch/tag commit was fetched"
    refs_in_store = git("for-each-ref", "--format=%(refname)", cwd=b.base_dir / "store.git")
    assert refs_in_store == "refs/abx/tracked"


def test_refresh_publishes_new_commit_and_keeps_old_tree_untouched(bundle_storage, git_remote):
    remote = git_remote()
    first = remote.commit({"dags/a.py": "a = 1\n"})
    b = bundle(remote, subdir="dags")
    b.initialize()
    second = remote.commit({"dags/a.py": "a = 2\n", "dags/b.py": "b\n"})
    b.refresh()
    assert version(b) == second
    assert tree(b.path) == {"a.py": "a = 2\n", "b.py": "b\n"}
    assert tree(b.versions_dir / first / "dags") == {"a.py": "a = 1\n"}
    b.refresh()  # unchanged remote
    assert version(b) == second


def test_tag_moved_forward_and_back_is_followed(bundle_storage, git_remote):
    remote = git_remote()
    one = remote.commit({"dags/a.py": "1\n"})
    remote.tag("stable")
    b = bundle(remote, tracking_ref="stable")
    b.initialize()
    assert version(b) == one
    two = remote.commit({"dags/a.py": "2\n"})
    remote.tag("stable", two, force=True)
    b.refresh()
    assert (version(b), tree(b.path / "dags")) == (two, {"a.py": "2\n"})
    remote.tag("stable", one, force=True)
    b.refresh()
    assert (version(b), tree(b.path / "dags")) == (one, {"a.py": "1\n"})


def test_tracking_a_full_sha_stays_on_it(bundle_storage, git_remote):
    remote = git_remote()
    one = remote.commit({"dags/a.py": "1\n"})
    remote.commit({"dags/a.py": "2\n"})
    b = bundle(remote, tracking_ref=one, subdir="dags")
    b.initialize()
    b.refresh()
    assert (version(b), tree(b.path)) == (one, {"a.py": "1\n"})


def test_tag_pattern_follows_newest_tag_by_version_order(bundle_storage, git_remote):
    remote = git_remote()
    v110 = remote.commit({"dags/a.py": "1.10\n"})
    remote.tag("v1.10.0")
    remote.commit({"dags/a.py": "1.9\n"})
    git("tag", "-a", "-m", "annotated", "v1.9.0", cwd=remote.work)
    git("push", "-q", "origin", "refs/tags/v1.9.0", cwd=remote.work)
    b = bundle(remote, tracking_ref="v1.*", subdir="dags")
    b.initialize()
    assert (version(b), tree(b.path)) == (v110, {"a.py": "1.10\n"})
    v111 = remote.commit({"dags/a.py": "1.11\n"})
    git("tag", "-a", "-m", "annotated", "v1.11.0", cwd=remote.work)  # annotated: peeled to the commit
    git("push", "-q", "origin", "refs/tags/v1.11.0", cwd=remote.work)
    b.refresh()
    assert (version(b), tree(b.path)) == (v111, {"a.py": "1.11\n"})


def test_force_pushed_branch_publishes_the_rewritten_commit(bundle_storage, git_remote):
    remote = git_remote()
    base = remote.commit({"dags/a.py": "base\n"})
    remote.commit({"dags/a.py": "lost\n", "dags/lost.py": "x\n"})
    b = bundle(remote, subdir="dags")
    b.initialize()
    git("reset", "-q", "--hard", base, cwd=remote.work)
    rewritten = remote.commit({"dags/a.py": "rewritten\n"}, push=False)
    remote.push(force=True)
    b.refresh()
    assert (version(b), tree(b.path)) == (rewritten, {"a.py": "rewritten\n"})
    remote.reset_branch(base)  # moved back to an older commit
    b.refresh()
    assert (version(b), tree(b.path)) == (base, {"a.py": "base\n"})


def test_sparse_dirs_are_checked_out_next_to_subdir(bundle_storage, git_remote):
    remote = git_remote()
    remote.commit({"dags/a.py": "a\n", "lib/util.py": "u\n", "etl/job.py": "j\n", "setup.py": "s\n"})
    b = bundle(remote, subdir="dags", sparse_dirs=["lib"])
    b.initialize()
    root = b.base_dir / "current"
    assert tree(root) == {"dags/a.py": "a\n", "lib/util.py": "u\n"}
    nosub = bundle(remote, name="gb2", sparse_dirs=["lib"])  # upstream cone semantics: root files too
    nosub.initialize()
    assert tree(nosub.path) == {"lib/util.py": "u\n", "setup.py": "s\n"}


def test_submodules_inside_subdir_are_checked_out(bundle_storage, git_remote):
    common = git_remote("common")
    common.commit({"helpers.py": "H = 1\n"})
    remote = git_remote()
    remote.commit({"dags/a.py": "a\n"})
    git(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        common.url,
        "dags/common",
        cwd=remote.work,
    )
    sha = remote.commit({}, message="add submodule")
    b = bundle(remote, subdir="dags", submodules=True)
    b.initialize()
    assert version(b) == sha
    assert tree(b.path) == {"a.py": "a\n", "common/helpers.py": "H = 1\n"}
    common.commit({"helpers.py": "H = 2\n"})
    git(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "update",
        "-q",
        "--remote",
        "dags/common",
        cwd=remote.work,
    )
    git("add", "dags/common", cwd=remote.work)
    remote.commit({}, message="bump submodule")
    b.refresh()
    assert tree(b.path)["common/helpers.py"] == "H = 2\n"


def test_pinned_version_on_empty_root_fetches_just_that_commit(bundle_storage, git_remote):
    remote = git_remote()
    old = remote.commit({"dags/a.py": "old\n", "etl/big.bin": os.urandom(20_000)})
    new = remote.commit({"dags/a.py": "new\n"})
    b = bundle(remote, subdir="dags", version=old)
    b.initialize()
    assert b.path == bundle_storage / "gb" / "versions" / old / "dags"
    assert tree(b.path) == {"a.py": "old\n"}
    assert b.get_current_version().version == old
    assert not _exists(b, new)
    assert (b.base_dir / "store.git" / "shallow").read_text().split() == [old]
    assert not (b.base_dir / "current").exists()
    again = bundle(remote, subdir="dags", version=old)
    again.initialize()  # already on disk: no git at all
    with pytest.raises(Exception, match="pinned"):
        again.refresh()


def test_unreachable_remote_raises_and_published_version_keeps_serving(bundle_storage, git_remote):
    remote = git_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    b = bundle(remote, subdir="dags")
    b.initialize()
    remote.bare.rename(remote.bare.with_name("moved.git"))
    with pytest.raises(GitSourceError) as err:
        b.refresh()
    message = str(err.value)
    assert "ls-remote" in message and remote.url in message and "main" in message
    assert (version(b), tree(b.path)) == (sha, {"a.py": "a\n"})
    restarted = bundle(remote, subdir="dags")
    restarted.initialize()  # a restarted processor serves what is published
    assert version(restarted) == sha
    fresh = bundle(remote, name="never-published")
    with pytest.raises(GitSourceError):
        fresh.initialize()


def test_damaged_store_and_crash_debris_are_repaired(bundle_storage, git_remote):
    remote = git_remote()
    remote.commit({"dags/a.py": "1\n"})
    b = bundle(remote, subdir="dags")
    b.initialize()
    store = b.base_dir / "store.git"
    (store / "shallow.lock").write_text("")
    (store / "objects" / "pack" / "tmp_pack_x").write_text("junk")
    (b.base_dir / ".staging" / "deadbeef.1.x").mkdir(parents=True)
    (b.base_dir / ".store.tmp-1-x").mkdir()
    two = remote.commit({"dags/a.py": "2\n"})
    b.refresh()
    assert (version(b), tree(b.path)) == (two, {"a.py": "2\n"})
    assert not (store / "shallow.lock").exists() and list((b.base_dir / ".staging").iterdir()) == []
    for pack in (store / "objects" / "pack").glob("*.pack"):
        pack.write_bytes(b"corrupt")  # a damaged object store is rebuilt from the remote
    (store / "shallow").write_text("0" * 40 + "\n")
    three = remote.commit({"dags/a.py": "3\n"})
    b.refresh()
    assert (version(b), tree(b.path)) == (three, {"a.py": "3\n"})


def test_store_with_interrupted_init_is_rebuilt(bundle_storage, git_remote):
    remote = git_remote()
    sha = remote.commit({"dags/a.py": "1\n"})
    b = bundle(remote)
    (b.base_dir / "store.git" / "objects").mkdir(parents=True)  # what a killed `git init` leaves
    b.initialize()
    assert version(b) == sha


def test_view_url_template_like_upstream(bundle_storage):
    b = GitDagBundle(name="v", tracking_ref="main", repo_url="git@github.com:org/repo.git", subdir="dags")
    assert b.view_url_template() == "https://github.com/org/repo/tree/{version}/dags"
    custom = GitDagBundle(
        name="v", tracking_ref="main", repo_url="file:///x", view_url_template="https://x/{version}"
    )
    assert custom.view_url_template() == "https://x/{version}"


def test_view_url_template_comes_from_the_connection_host(bundle_storage, monkeypatch):
    """As upstream, which reads the connection in its constructor; here on first use, not before."""
    import json

    conn = {"conn_type": "git", "host": "https://github.com/org/repo.git", "login": "u", "password": "tok"}
    monkeypatch.setenv("AIRFLOW_CONN_GIT_GH", json.dumps(conn))
    b = GitDagBundle(name="v", tracking_ref="main", git_conn_id="git_gh", subdir="dags")
    assert b.view_url_template() == "https://github.com/org/repo/tree/{version}/dags"
    missing = GitDagBundle(name="w", tracking_ref="main", git_conn_id="no_such_conn")
    assert missing.view_url_template() is None
