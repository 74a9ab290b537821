"""``GitDagBundle``: a git DAG bundle that fetches only what the DAGs need and publishes atomically.

Layout under ``<storage root>/<bundle name>``::

    store.git/            bare, partial (blob:none), shallow object store; origin = URL without secrets
    versions/<sha>/       one plain tree per commit (sparse: subdir + sparse_dirs), never modified
    current -> versions/<sha>    what the DAG processor parses (``path``), flipped by one rename
    modules/<name>.git    object stores of submodules, when ``submodules=True``

The refresh is a straight line: resolve the tracked ref with one ``ls-remote`` → same commit as
published? done → fetch that commit (depth 1, no blobs) → check out its sparse files into a
staging dir (blobs fetched in one batch) → rename into ``versions/<sha>`` → flip ``current``.
A SIGKILL anywhere leaves ``current`` on a complete tree; the next refresh sweeps the debris
(see ``publish.py`` and ``git_store.py``). Version trees hold no ``.git``: they are plain files,
so Airflow's stale-version cleanup can delete them with ``rmtree`` and nothing is left to prune.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from airflow.dag_processing.bundles.base import BaseDagBundle

from airflow_bundles_ext.bundles._common import (
    VersionHolds,
    counting_failures,
    ensure_pinned_version,
    initialize_or_serve_published,
    make_bundle_version,
)
from airflow_bundles_ext.bundles.git_auth import GitAuth
from airflow_bundles_ext.bundles.git_io import DEFAULT_TIMEOUT, GitCommandError, GitRunner
from airflow_bundles_ext.bundles.git_store import GitStore
from airflow_bundles_ext.bundles.git_submodules import checkout_submodules
from airflow_bundles_ext.core import git_urls, refs
from airflow_bundles_ext.core.paths import check_segment, safe_relative_path
from airflow_bundles_ext.errors import (
    BundleConfigError,
    BundlesExtError,
    GitSourceError,
    VersionUnavailableError,
)
from airflow_bundles_ext.metrics import BundleMetrics
from airflow_bundles_ext.publish import VersionStore
from airflow_bundles_ext.tree_check import TreeLimits, check_tree

STORE_DIR = "store.git"
MODULES_DIR = "modules"
_GC_EVERY = 20  # fetches between ``git gc --auto`` checks
_RENEW_BEFORE = timedelta(minutes=5)  # re-resolve a minted token (GitHub App) this long before it expires


class GitDagBundle(BaseDagBundle):
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

    supports_versioning = True

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
        check_segment(self.name, what="bundle name")
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
        if not git_timeout or git_timeout <= 0:
            raise BundleConfigError(source, "must be a positive number of seconds", key="git_timeout")
        self.git_timeout = float(git_timeout)
        self.git_low_speed_time = _positive(git_low_speed_time, source, "git_low_speed_time")
        self.restricted = bool(restricted)
        self.limits = TreeLimits(
            max_files=_positive_int(max_files, source, "max_files"),
            max_bytes=_positive_int(max_bytes, source, "max_bytes"),
            external_symlinks=not self.restricted,
        )
        self._store_versions = VersionStore(self.base_dir, self.versions_dir)
        self._metrics = BundleMetrics("git", self.name)
        self._log = structlog.get_logger(__name__).bind(bundle_name=self.name, tracking_ref=tracking_ref)
        self._auth: tuple[str, GitAuth] | None = None
        self._view_repo_url: tuple[str | None] | None = None  # read from the connection once
        self._fetch_count = 0
        self._holds = VersionHolds(self.name)

    def __repr__(self) -> str:
        ref, version = self.tracking_ref, self.version
        return f"<GitDagBundle(name={self.name!r}, tracking_ref={ref!r}, version={version!r})>"

    # --- Airflow interface ---------------------------------------------------------------------

    @property
    def path(self) -> Path:
        root = self.versions_dir / self.version if self.version else self.base_dir / "current"
        return root / self.subdir if self.subdir else root

    def get_current_version(self) -> Any:
        version = self.version or self._store_versions.published_version()
        return make_bundle_version(version) if version else None

    def view_url_template(self) -> str | None:
        if self._view_url_template:
            return self._view_url_template
        return git_urls.view_url_template(self._repo_url_for_view(), self.subdir)

    def preflight(self) -> None:
        """Checks that need the connection, run once by the DAG processor when a file is read.

        A restricted bundle whose repo_url is not on its connection's host is refused here, so
        its file is reported invalid instead of failing every refresh.
        """
        if self.restricted:
            self._forget_credentials()
            self._credentials()

    def initialize(self) -> None:
        if self.version:
            self._initialize_pinned(self._pinned_sha())
        else:
            initialize_or_serve_published(self.refresh, self._store_versions.published_version, self._log)
        super().initialize()

    def refresh(self) -> None:
        if self.version:
            raise BundlesExtError(
                f"cannot refresh bundle {self.name!r}: it is pinned to version {self.version}; "
                "only the unpinned bundle follows tracking_ref"
            )
        with (
            self._metrics.timer("refresh_duration"),
            counting_failures(self._metrics, self._log, on_failure=self._forget_credentials),
            self.lock(),
        ):
            fetched = self._retrying_auth(self._sync)
        self._metrics.incr("fetches" if fetched else "noop_refreshes")

    # --- steps ---------------------------------------------------------------------------------

    def _retrying_auth(self, sync: Callable[[], bool]) -> bool:
        """Run ``sync``; if the remote refuses credentials read earlier, read them again and retry once.

        Credentials are cached between refreshes; a rotated token or an expired GitHub App
        token then fails once here instead of failing the refresh.
        """
        cached = self._auth is not None
        try:
            return sync()
        except GitCommandError as exc:
            if exc.reason != "auth" or not cached:
                raise
            self._log.info("credentials refused, reading the git connection again", error=str(exc))
            self._forget_credentials()
            return sync()

    def _sync(self) -> bool:
        """Resolve, compare, fetch, build, publish. Returns whether anything was fetched."""
        self._store_versions.sweep()
        with self._open_store() as store:
            return self._sync_with(store)

    def _sync_with(self, store: GitStore) -> bool:
        resolved = self._resolve(store)
        published = self._store_versions.published_version()
        # Held before looking for its tree: a stale cleanup may be deleting an old tree we go back to.
        self._holds.hold(resolved.sha)
        try:
            if resolved.sha == published:
                return False
            sha = resolved.sha
            fetched = not self._store_versions.has(sha)
            if fetched:
                sha = self._with_store_repair(store, lambda s: self._fetch_tracked(s, resolved))
            self._store_versions.publish(sha)
        finally:
            self._holds.keep_only(self._store_versions.published_version())
        self._log.info("published", version=sha, previous=published, ref=resolved.refname)
        if fetched:
            self._maybe_gc(store)
        return fetched

    def _resolve(self, store: GitStore) -> refs.Resolved:
        if self.ref.kind == "sha":
            return refs.Resolved(self.ref.value, None)
        listing = store.ls_remote(refs.ls_remote_patterns(self.ref), ref=self.tracking_ref)
        try:
            return refs.resolve(self.ref, refs.parse_ls_remote(listing))
        except refs.RefNotFoundError as exc:
            raise refs.RefNotFoundError(f"{exc} (remote {git_urls.redact_url(store.runner.url)})") from exc

    def _fetch_tracked(self, store: GitStore, resolved: refs.Resolved) -> str:
        store.ensure(store.runner.url)
        if resolved.refname:
            sha = store.fetch_ref(resolved.refname)
        else:
            store.fetch_sha(resolved.sha, keep=True)
            sha = resolved.sha
        self._holds.hold(sha)  # the branch may have moved since ls-remote
        if not self._store_versions.has(sha):
            self._build(store, sha)
        return sha

    def _initialize_pinned(self, sha: str) -> None:
        ensure_pinned_version(self.name, sha, self._store_versions, self._build_pinned)

    def _build_pinned(self, sha: str) -> None:
        with self.lock():
            if self._store_versions.has(sha):
                return
            self._store_versions.sweep()
            with self._open_store() as store:
                self._with_store_repair(store, lambda s: self._fetch_pinned(s, sha))
            self._log.info("version built", version=sha)

    def _fetch_pinned(self, store: GitStore, sha: str) -> str:
        store.ensure(store.runner.url)
        if not store.has_commit(sha):
            try:
                store.fetch_sha(sha, keep=False)
            except GitCommandError as refused:
                if refused.reason != "refused":
                    raise
                self._log.warning(
                    "fetch by SHA refused, fetching all branches and tags", version=sha, error=str(refused)
                )
                store.fetch_wide(ref=sha)
                if not store.has_commit(sha):
                    raise VersionUnavailableError(
                        f"git version unavailable: {git_urls.redact_url(store.runner.url)} commit {sha}: "
                        "no branch or tag of the remote contains it; it was force-pushed away or never pushed"
                    ) from refused
        try:
            self._build(store, sha)
        finally:
            with contextlib.suppress(GitSourceError):
                store.drop_wide_refs()
        return sha

    def _build(self, store: GitStore, sha: str) -> None:
        patterns = refs.sparse_patterns(self.subdir, self.sparse_dirs)
        where = f"bundle {self.name!r} commit {sha}"
        if self.limits.max_files is not None:  # before any blob is fetched: trees are in the store
            self.limits.check_counts(store.count_files(sha, self._sparse_roots()), None, where)
        with self._store_versions.stage(
            sha, check=lambda root: check_tree(root, self.limits, where)
        ) as staging:
            store.checkout(sha, staging, patterns)
            if self.submodules:
                checkout_submodules(store, sha, staging, self._sparse_roots(), self.base_dir / MODULES_DIR)

    def _with_store_repair(self, store: GitStore, step: Any) -> str:
        """Run ``step(store)``; if it fails on a damaged store, rebuild the store and retry once.

        Only a failure that does not point at the remote (reason ``failed``: a bad object, a
        broken shallow file, a store killed mid-write) discards the store; it is only a cache, so
        that is always safe. Timeouts, network, auth and refusal errors are raised as they are:
        rebuilding would only repeat them (holding the bundle lock) and refetch what we had.
        """
        try:
            return str(step(store))
        except GitCommandError as first:
            if first.reason != "failed":
                raise
            self._log.warning("git step failed, rebuilding the object store and retrying", error=str(first))
            store.discard()
            return str(step(store))

    def _sparse_roots(self) -> list[str] | None:
        roots = ([self.subdir] if self.subdir else []) + self.sparse_dirs
        return roots or None

    # --- plumbing ------------------------------------------------------------------------------

    def _pinned_sha(self) -> str:
        version = (self.version or "").lower()
        if not refs.is_full_sha(version):
            raise VersionUnavailableError(
                f"git version unavailable: bundle {self.name!r} version {self.version!r}: "
                "a version of this bundle is a full commit SHA; use the version recorded by Airflow"
            )
        return version

    @contextlib.contextmanager
    def _open_store(self) -> Iterator[GitStore]:
        """The object store, with credentials in the git environment for the duration (lazy lookup)."""
        url, auth = self._credentials()
        with auth.env(url) as env:
            env = {**env, **self._transfer_limits()}
            runner = GitRunner(None, url, env=env, secrets=auth.secrets(), timeout=self.git_timeout)
            yield GitStore.at(self.base_dir / STORE_DIR, runner)

    def _transfer_limits(self) -> dict[str, str]:
        if self.git_low_speed_time is None:
            return {}
        return {
            "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
            "GIT_HTTP_LOW_SPEED_TIME": str(int(self.git_low_speed_time)),
        }

    def _credentials(self) -> tuple[str, GitAuth]:
        if self._auth is not None and _expiring(self._auth[1].expires_at):
            self._forget_credentials()
        if self._auth is None:
            from airflow_bundles_ext.bundles.git_auth import resolve_auth

            url, auth = resolve_auth(
                self.repo_url,
                self.git_conn_id,
                self._log,
                restricted=self.restricted,
                where=f"bundle {self.name!r}",
            )
            if self.git_low_speed_time is not None:
                auth = dataclasses.replace(
                    auth, server_alive_interval=max(1, int(self.git_low_speed_time / 3))
                )
            self._auth = (url, auth)
        return self._auth

    def _forget_credentials(self) -> None:
        """Read the connection again next time: the credential may have rotated or expired."""
        self._auth = None

    def _repo_url_for_view(self) -> str | None:
        if self.repo_url:
            return self.repo_url
        if self._auth is not None:
            return self._auth[0]
        if self._view_repo_url is None:
            from airflow_bundles_ext.bundles.git_auth import connection_repo_url

            self._view_repo_url = (connection_repo_url(self.git_conn_id),)
        return self._view_repo_url[0]

    def _maybe_gc(self, store: GitStore) -> None:
        self._fetch_count += 1
        if self._fetch_count % _GC_EVERY == 1:
            store.gc()


def _positive(value: Any, source: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise BundleConfigError(source, "must be a positive number", key=key)
    return float(value)


def _positive_int(value: Any, source: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BundleConfigError(source, "must be a positive whole number", key=key)
    return value


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at - _RENEW_BEFORE <= datetime.now(UTC)
