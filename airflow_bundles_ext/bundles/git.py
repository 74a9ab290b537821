"""``GitDagBundle``: a git DAG bundle that fetches only what the DAGs need and publishes atomically.

Built on :class:`~airflow_bundles_ext.bundles.base.VersionedTreeBundle`, which owns locking,
holds, publishing and the Airflow contract. This module is the source:

- **resolve the latest version**: one ``ls-remote`` for the tracked ref; if its commit is new,
  fetch that commit with ``--depth=1 --filter=blob:none`` (commits and trees, no blobs);
- **build**: make sure the commit is in the store (a worker fetches it by SHA), then check out
  its sparse files (``subdir`` + ``sparse_dirs``) into the staging dir, blobs fetched in one batch.

Layout under ``<storage root>/<bundle name>``::

    store.git/            bare, partial (blob:none), shallow object store; origin = URL without secrets
    versions/<sha>/       one plain tree per commit, never modified, no ``.git``
    current -> versions/<sha>    what the DAG processor parses (``path``)
    modules/<name>.git    object stores of submodules, when ``submodules=True``
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_bundles_ext.bundles.base import Target, VersionedTreeBundle
from airflow_bundles_ext.bundles.git_auth import GitAuth
from airflow_bundles_ext.bundles.git_io import DEFAULT_TIMEOUT, GitRunner
from airflow_bundles_ext.bundles.git_store import GitStore
from airflow_bundles_ext.bundles.git_submodules import checkout_submodules
from airflow_bundles_ext.bundles.kwargs import optional_seconds, tree_limits
from airflow_bundles_ext.core import git_urls, refs
from airflow_bundles_ext.core.paths import safe_relative_path
from airflow_bundles_ext.errors import (
    GitCommandError,
    GitSourceError,
    RefNotFoundError,
    VersionUnavailableError,
)

STORE_DIR = "store.git"
MODULES_DIR = "modules"
_GC_EVERY = 20  # fetches between ``git gc --auto`` checks
_RENEW_BEFORE = timedelta(minutes=5)  # re-resolve a minted token (GitHub App) this long before it expires


class GitDagBundle(VersionedTreeBundle):
    """A git repository as a DAG bundle; accepts upstream ``GitDagBundle``'s kwargs.

    :param tracking_ref: branch, tag, full commit SHA, or tag pattern such as ``v*`` (newest by
        version order); see docs/git-bundle.md.
    :param repo_url: the remote; if unset, the git connection's host.
    :param subdir: directory of the DAGs inside the repository; only it (and ``sparse_dirs``)
        is checked out.
    :param git_conn_id: Airflow git connection for credentials (default ``git_default`` when it
        exists; not needed for public and ``file://`` URLs).
    :param submodules: check out submodules that lie inside the checked-out directories.
    :param sparse_dirs: more directories to check out (for example shared code the DAGs import).
    :param prune_dotgit_folder: accepted for drop-in compatibility; version trees never hold ``.git``.
    :param git_timeout: seconds after which any single git command is killed.
    :param git_low_speed_time: seconds after which a transfer below 1 KB/s is aborted (HTTP), and
        ssh drops a server that stops answering; ``None``: git's defaults.
    :param max_files: / :param max_bytes: caps on the files and bytes of one checked-out version.
    :param restricted: the rules for bundle files (set by the tenancy policy, not by the file): a
        connection's credentials only go to the host it names, never over plain http; no
        local or ``file://`` remote; symlinks that leave the tree are refused.
    """

    component = "git"

    def __init__(
        self,
        *,
        tracking_ref: str,
        repo_url: str | None = None,
        subdir: str | None = None,
        git_conn_id: str | None = None,
        submodules: bool = False,
        sparse_dirs: list[str] | None = None,
        prune_dotgit_folder: bool = True,
        git_timeout: float = DEFAULT_TIMEOUT,
        git_low_speed_time: float | None = None,
        max_files: int | None = None,
        max_bytes: int | None = None,
        restricted: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        source = f"bundle {self.name!r}"
        self.tracking_ref = tracking_ref
        self.ref = refs.parse_tracking_ref(tracking_ref, source=source)
        self.repo_url = repo_url
        self.subdir = str(safe_relative_path(subdir.strip("/"), what="subdir")) if subdir else None
        self.sparse_dirs = [
            str(safe_relative_path(d.strip("/"), what="sparse_dirs entry")) for d in sparse_dirs or []
        ]
        self.git_conn_id = git_conn_id
        self.submodules = bool(submodules)
        self.prune_dotgit_folder = prune_dotgit_folder
        self.git_timeout = optional_seconds(git_timeout, source, "git_timeout") or DEFAULT_TIMEOUT
        self.git_low_speed_time = optional_seconds(git_low_speed_time, source, "git_low_speed_time")
        self.restricted = bool(restricted)
        self.limits = tree_limits(max_files, max_bytes, source, external_symlinks=not self.restricted)
        self.log = self.log.bind(tracking_ref=tracking_ref)
        self._auth: tuple[str, GitAuth] | None = None
        self._view_repo_url: tuple[str | None] | None = None  # read from the connection once
        self._fetches = 0

    def __repr__(self) -> str:
        ref, version = self.tracking_ref, self.version
        return f"<GitDagBundle(name={self.name!r}, tracking_ref={ref!r}, version={version!r})>"

    def parse_version(self, version: str) -> str:
        sha = version.lower()
        if not refs.is_full_sha(sha):
            raise VersionUnavailableError(
                f"git version unavailable: bundle {self.name!r} version {version!r}: "
                "a version of this bundle is a full commit SHA; use the version recorded by Airflow"
            )
        return sha

    def preflight(self) -> None:
        """Checks that need the connection, run when the DAG processor reads a bundle file.

        A restricted bundle whose repo_url is not on its connection's host is refused here, so
        its file is reported invalid instead of failing every refresh.
        """
        if self.restricted:
            self.refresh_failed()
            self._credentials()

    def view_url_template(self) -> str | None:
        if self._view_url_template:
            return self._view_url_template
        return git_urls.view_url_template(self._repo_url_for_view(), self.subdir)

    # --- the source -------------------------------------------------------------------------------

    def resolve_latest(self) -> Target:
        git = self._git()
        resolved = self._ls_remote(git)
        if resolved.sha == self.store.published_version() or self.store.has(resolved.sha):
            return Target(resolved.sha)
        git = self._git()  # credentials may have been read again by _ls_remote
        sha = git.fetch_tracked(resolved)
        self._fetches += 1
        self.metrics.incr("fetches")
        self.log.info("fetched", version=sha, ref=resolved.refname)
        return Target(sha)

    def resolve_pinned(self, version: str) -> Target:
        return Target(version)

    def build(self, target: Target, staging: Path) -> None:
        git = self._git()
        try:
            git.repairing(lambda: self._checkout(git, target.version, staging))
        finally:
            with contextlib.suppress(GitSourceError):
                git.drop_wide_refs()

    def published(self, target: Target, built: bool) -> None:
        if built and self._fetches % _GC_EVERY == 1:
            self._git().gc()

    def refresh_failed(self) -> None:
        """Read the connection again next time: the credential may have rotated or expired."""
        self._auth = None

    # --- steps ------------------------------------------------------------------------------------

    def _ls_remote(self, git: GitStore) -> refs.Resolved:
        """Resolve the tracked ref with one ``ls-remote``; credentials read earlier and refused by the
        remote (a rotated token, an expired GitHub App token) are read again and tried once more."""
        cached = self._auth is not None
        try:
            return self._resolve_with(git)
        except GitCommandError as exc:
            if exc.reason != "auth" or not cached:
                raise
            self.log.info("credentials refused, reading the git connection again", error=str(exc))
            self.refresh_failed()
            return self._resolve_with(self._git())

    def _resolve_with(self, git: GitStore) -> refs.Resolved:
        if self.ref.kind == "sha":
            return refs.Resolved(self.ref.value, None)
        listing = git.ls_remote(refs.ls_remote_patterns(self.ref), ref=self.tracking_ref)
        try:
            return refs.resolve(self.ref, refs.parse_ls_remote(listing))
        except RefNotFoundError as exc:
            raise RefNotFoundError(f"{exc} (remote {git_urls.redact_url(git.runner.url)})") from exc

    def _checkout(self, git: GitStore, sha: str, staging: Path) -> None:
        git.ensure_commit(sha)
        roots = ([self.subdir] if self.subdir else []) + self.sparse_dirs or None
        if self.limits.max_files is not None:  # before any blob is fetched: trees are in the store
            self.limits.check_counts(git.count_files(sha, roots), None, f"bundle {self.name!r} commit {sha}")
        git.checkout(sha, staging, refs.sparse_patterns(self.subdir, self.sparse_dirs))
        if self.submodules:
            checkout_submodules(git, sha, staging, roots, self.base_dir / MODULES_DIR)

    # --- plumbing ---------------------------------------------------------------------------------

    def _git(self) -> GitStore:
        """The object store, with this bundle's credentials and transfer limits in git's environment."""
        url, auth = self._credentials()
        env = {**auth.env(url), **self._transfer_limits()}
        runner = GitRunner(None, url, env=env, secrets=auth.secrets(), timeout=self.git_timeout)
        return GitStore.at(self.base_dir / STORE_DIR, runner)

    def _transfer_limits(self) -> dict[str, str]:
        if self.git_low_speed_time is None:
            return {}
        return {
            "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
            "GIT_HTTP_LOW_SPEED_TIME": str(int(self.git_low_speed_time)),
        }

    def _credentials(self) -> tuple[str, GitAuth]:
        if self._auth is not None and _expiring(self._auth[1].expires_at):
            self.refresh_failed()
        if self._auth is None:
            from airflow_bundles_ext.bundles.git_connection import resolve_auth

            where = f"bundle {self.name!r}"
            url, auth = resolve_auth(
                self.repo_url, self.git_conn_id, self.log, restricted=self.restricted, where=where
            )
            if self.git_low_speed_time is not None:
                auth = dataclasses.replace(
                    auth, server_alive_interval=max(1, int(self.git_low_speed_time / 3))
                )
            self._auth = (url, auth)
        return self._auth

    def _repo_url_for_view(self) -> str | None:
        if self.repo_url:
            return self.repo_url
        if self._auth is not None:
            return self._auth[0]
        if self._view_repo_url is None:
            from airflow_bundles_ext.bundles.git_connection import connection_repo_url

            self._view_repo_url = (connection_repo_url(self.git_conn_id),)
        return self._view_repo_url[0]


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at - _RENEW_BEFORE <= datetime.now(UTC)
