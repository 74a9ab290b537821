"""One partial, bare object store per git bundle, and checkouts from it into plain trees.

``<base_dir>/store.git`` is a bare repository whose ``origin`` is the bundle's remote
(the URL without credentials) marked as a promisor: commits and trees are fetched with
``--depth=1 --filter=blob:none`` and only for the tracked commit, and blobs arrive lazily,
in one batch, when a checkout needs them, so only files inside the sparse patterns are
ever downloaded. The one ref kept is ``refs/abx/tracked``.

Crash safety, by where a SIGKILL can land:

- *Creating the store*: it is built in ``.store.tmp-*`` and renamed to ``store.git`` as the
  last step, so ``store.git`` is always fully configured; leftovers are removed by ``ensure``.
- *Fetching*: git writes packs under temp names and updates refs with ``*.lock`` files. The
  caller holds the bundle lock, so any ``*.lock`` or temp pack found by ``ensure`` is debris of
  a killed git and is removed. A store that still fails is moved aside and rebuilt by the
  bundle (``discard``): it holds nothing that cannot be fetched again.
- *Checking out*: the tree is written into a staging directory with a private index file;
  the staging directory only becomes a version when complete (``VersionStore.stage``).

The store is only a cache of what the remote has, so a step that fails on a damaged store (git's
reason ``failed``: a bad object, a broken shallow file) discards it and runs once more
(:meth:`GitStore.repairing`). Timeouts, network, auth and refusal errors are raised as they are:
rebuilding would only repeat them (holding the bundle lock) and refetch what we had.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from airflow_bundles_ext.bundles.git_io import GitRunner
from airflow_bundles_ext.core import git_urls, refs
from airflow_bundles_ext.errors import GitCommandError, GitSourceError, VersionUnavailableError

T = TypeVar("T")

TRACKED_REF = "refs/abx/tracked"
WIDE_PREFIX = "refs/abx/wide/"
_READY_SECTION = "[abx]"  # written by the last config step of _create
# Fetch never starts background maintenance: gc runs from ``gc()``, under the bundle lock.
_NO_AUTO = ("-c", "maintenance.auto=false", "-c", "gc.auto=0", "-c", "fetch.writeCommitGraph=false")


@dataclass(frozen=True)
class GitStore:
    path: Path
    runner: GitRunner  # git_dir is ``path``

    @classmethod
    def at(cls, path: Path, runner: GitRunner) -> GitStore:
        return cls(path, replace(runner, git_dir=path))

    # --- lifecycle ---------------------------------------------------------------------------

    def ensure(self, url: str) -> None:
        """Make ``store.git`` exist and be usable; remove debris of killed git processes."""
        for debris in self.path.parent.glob(".store.tmp-*"):
            shutil.rmtree(debris, ignore_errors=True)
        if self.path.is_dir() and self._is_ready():
            self._remove_stale_locks()
            self.runner.run("config", "remote.origin.url", url, what="config remote url")
            return
        if self.path.exists():
            self.discard()
        self._create(url)

    def _is_ready(self) -> bool:
        config = self.path / "config"
        text = config.read_text(errors="replace") if config.is_file() else ""
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir() and _READY_SECTION in text

    def _create(self, url: str) -> None:
        tmp = self.path.parent / f".store.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            build = replace(self.runner, git_dir=tmp)
            build.run("init", "--quiet", "--bare", "--template=", str(tmp), what="init object store")
            for key, value in (
                ("remote.origin.url", url),
                ("remote.origin.promisor", "true"),
                ("extensions.partialClone", "origin"),
                ("core.repositoryformatversion", "1"),
                ("gc.autoDetach", "false"),
                ("gc.pruneExpire", "now"),
                ("core.logAllRefUpdates", "false"),
                ("abx.ready", "true"),
            ):
                build.run("config", key, value, what="configure object store")
            os.rename(tmp, self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def discard(self) -> None:
        """Move the store aside and delete it (it only caches what the remote has)."""
        if not self.path.exists():
            return
        aside = self.path.parent / f".store.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(self.path, aside)
        shutil.rmtree(aside, ignore_errors=True)

    def _remove_stale_locks(self) -> None:
        for lock in self.path.rglob("*.lock"):
            with contextlib.suppress(OSError):
                lock.unlink()
        for tmp in (self.path / "objects" / "pack").glob("tmp_*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        for idx in self.path.glob("abx-index-*"):
            with contextlib.suppress(OSError):
                idx.unlink()

    def repairing(self, step: Callable[[], T]) -> T:
        """``step()``; if it fails on a damaged store, discard the store and run it once more."""
        try:
            return step()
        except GitCommandError as first:
            if first.reason != "failed":
                raise
            self.discard()
            return step()

    # --- commits ------------------------------------------------------------------------------

    def fetch_tracked(self, resolved: refs.Resolved) -> str:
        """Fetch the commit a tracked ref resolved to (commits and trees, no blobs); return it.

        A branch that moved since ``ls-remote`` gives its new tip: that is what is published.
        """

        def fetch() -> str:
            self.ensure(self.runner.url)
            if resolved.refname:
                return self.fetch_ref(resolved.refname)
            self.fetch_sha(resolved.sha, keep=True)
            return resolved.sha

        return self.repairing(fetch)

    def ensure_commit(self, sha: str) -> None:
        """Make ``sha`` present: by SHA, or, where the server refuses that, from its branches and tags."""
        self.ensure(self.runner.url)
        if self.has_commit(sha):
            return
        try:
            self.fetch_sha(sha, keep=False)
        except GitCommandError as refused:
            if refused.reason != "refused":
                raise
            self.fetch_wide(ref=sha)
            if not self.has_commit(sha):
                raise VersionUnavailableError(
                    f"git version unavailable: {git_urls.redact_url(self.runner.url)} commit {sha}: no "
                    "branch or tag of the remote contains it; it was force-pushed away or never pushed"
                ) from refused

    # --- remote --------------------------------------------------------------------------------

    def ls_remote(self, patterns: list[str], *, ref: str) -> str:
        """One round trip: list the refs matching ``patterns`` (all refs if empty)."""
        direct = replace(self.runner, git_dir=None)
        return direct.run("ls-remote", "--", self.runner.url, *patterns, what="ls-remote", ref=ref)

    def fetch_ref(self, refname: str) -> str:
        """Fetch the tip of ``refname`` (shallow, no blobs) into the tracked ref; return its commit."""
        self._fetch("--depth=1", "--filter=blob:none", f"+{refname}:{TRACKED_REF}", ref=refname)
        return self.commit_of(TRACKED_REF, ref=refname)

    def fetch_sha(self, sha: str, *, keep: bool) -> None:
        """Fetch one commit by SHA (shallow, no blobs); ``keep`` points the tracked ref at it."""
        spec = f"+{sha}:{TRACKED_REF}" if keep else sha
        self._fetch("--depth=1", "--filter=blob:none", spec, ref=sha)

    def fetch_wide(self, *, ref: str) -> None:
        """All branches and tags with full contents: for servers that refuse wants by SHA.

        Such servers also refuse lazy blob fetches, so this fetch has no filter; git recorded the
        last ``--filter`` as the remote's default, which is dropped first.
        """
        with contextlib.suppress(GitSourceError):
            self.runner.run("config", "--unset-all", "remote.origin.partialclonefilter", what="config")
        self._fetch(f"+refs/heads/*:{WIDE_PREFIX}heads/*", f"+refs/tags/*:{WIDE_PREFIX}tags/*", ref=ref)

    def drop_wide_refs(self) -> None:
        out = self.runner.run("for-each-ref", "--format=%(refname)", WIDE_PREFIX, what="list refs")
        for name in out.split():
            self.runner.run("update-ref", "-d", name, what="delete ref")

    def _fetch(self, *args: str, ref: str) -> None:
        self.runner.run(
            *_NO_AUTO,
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "origin",
            *args,
            what="fetch",
            ref=ref,
        )

    # --- local ---------------------------------------------------------------------------------

    def has_commit(self, sha: str) -> bool:
        try:
            self.runner.run(
                "cat-file",
                "-e",
                f"{sha}^{{commit}}",
                what="look up commit",
                extra_env={"GIT_NO_LAZY_FETCH": "1"},
            )
        except GitSourceError:
            return False
        return True

    def commit_of(self, rev: str, *, ref: str) -> str:
        return self.runner.run(
            "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", what="resolve fetched commit", ref=ref
        ).strip()

    def checkout(self, sha: str, work_tree: Path, patterns: list[str] | None) -> None:
        """Write the files of ``sha`` (only those matching ``patterns``) into ``work_tree``.

        A private index file keeps concurrent builds and the bare store's own state apart;
        git batch-fetches the missing blobs of the selected paths in one request.
        """
        index = self.path / f"abx-index-{os.getpid()}-{secrets.token_hex(4)}"
        sparse = ["-c", "core.sparseCheckout=false"]
        if patterns:
            info = self.path / "info"
            info.mkdir(exist_ok=True)
            (info / "sparse-checkout").write_text("\n".join(patterns) + "\n")
            sparse = ["-c", "core.sparseCheckout=true", "-c", "core.sparseCheckoutCone=false"]
        try:
            self.runner.run(
                *sparse,
                "read-tree",
                "--reset",
                "-u",
                sha,
                what="checkout",
                ref=sha,
                work_tree=work_tree,
                extra_env={"GIT_INDEX_FILE": str(index)},
            )
        finally:
            with contextlib.suppress(OSError):
                index.unlink()

    def count_files(self, sha: str, under: list[str] | None) -> int:
        """Files (blobs and links) of ``sha`` under ``under`` dirs, from the trees alone (no blob fetch)."""
        out = self.runner.run(
            "ls-tree", "-r", "-z", "--name-only", sha, "--", *(under or []), what="list tree", ref=sha
        )
        return sum(1 for name in out.split("\0") if name)

    def gitlinks(self, sha: str, under: list[str] | None) -> list[tuple[str, str]]:
        """(path, commit) of the submodules recorded in ``sha``, limited to ``under`` dirs."""
        out = self.runner.run("ls-tree", "-r", "-z", sha, "--", *(under or []), what="list tree", ref=sha)
        links = []
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[0] == "160000":
                links.append((path, fields[2]))
        return links

    def gc(self) -> None:
        """Consolidate packs and drop unreachable objects when git thinks it is due; never raises."""
        with contextlib.suppress(GitSourceError):
            self.runner.run("gc", "--auto", "--quiet", what="gc")
