"""The bundles a watched directory defines right now, as every Airflow process sees them.

:meth:`ConfigDirView.resolve` stats every config file (no reads when nothing changed), reads
and validates only added or changed files (:class:`~.reader.FileReader`), and reconciles the
results with the last good definitions (:func:`airflow_bundles_ext.core.configdir.reconcile`).
Each distinct error is logged once, when it appears, not on every loop.

A ``stat`` that fails for one file affects that file only; an unreadable directory, or an
unusable tenancy policy, keeps the previous result (or the persisted last good definitions when
there is none yet). Reconciling runs only when a parse result actually changed. A new tenancy
policy means every file is admitted again.

Only the writer (the DAG processor) saves ``last_good.json``; every view reloads it when its
stat changes, so a lagging process never writes an older definition back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from airflow_bundles_ext.core.bundle_config import BundleSpec
from airflow_bundles_ext.core.configdir import DirSnapshot, FileError, ParseResult, Resolution, reconcile
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.core.text import printable
from airflow_bundles_ext.errors import PolicyError
from airflow_bundles_ext.policy_source import PolicySource
from airflow_bundles_ext.watcher.reader import Check, DirIO, FileReader
from airflow_bundles_ext.watcher.state import LastGoodStore

log = structlog.get_logger(__name__)

Usable = Callable[[BundleSpec], "str | None"]
"""Why a last good spec cannot stand in for its invalid file in this process, or ``None``."""


class ConfigDirView:
    """One watched directory. Thread-safe; one instance per directory per process."""

    def __init__(
        self,
        directory: Path,
        *,
        policy: PolicySource,
        last_good: LastGoodStore,
        check: Check | None = None,
        usable: Usable | None = None,
        io: DirIO | None = None,
        report: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self.policy = policy
        self._policy_in_force: TenancyPolicy | None = None
        self._policy_error: str | None = None
        self._store = last_good
        self._usable = usable
        self._report_errors = report
        self._io = io or DirIO()
        self._reader = FileReader(self.directory, self._io, check)
        self._lock = threading.Lock()
        self._snapshot: DirSnapshot | None = None
        self._parsed: dict[str, ParseResult] = {}
        self._last_good: dict[str, BundleSpec] = {}  # read on the first resolve, not here
        self._resolution: Resolution | None = None
        self._static: frozenset[str] = frozenset()
        self._unavailable: str | None = None
        self.generation = 0
        """Incremented whenever the resolution (bundles or errors) changes."""
        self.errors_reported = 0
        """Count of distinct file errors logged so far (for the invalid-files metric)."""
        self.reconciles = 0
        """Times the parse results were reconciled (only when one changed)."""

    def resolve(self, static_names: Iterable[str] = ()) -> Resolution:
        with self._lock:
            static = frozenset(static_names)
            reloaded = self._reload_last_good()
            policy = self._current_policy()
            changed = self._refresh(policy) if policy is not None else self._policy_unavailable()
            if changed or reloaded or self._resolution is None or static != self._static:
                self._reconcile(static)
            assert self._resolution is not None
            return self._resolution

    def _current_policy(self) -> TenancyPolicy | None:
        """The tenancy policy; a new one means every file is admitted again. ``None``: unusable."""
        try:
            policy = self.policy.current()
        except PolicyError as exc:
            if self._policy_error != str(exc):
                log.error("tenancy policy unusable; bundles stay as they were", error=str(exc))
                self._policy_error = str(exc)
            return None
        if self._policy_error is not None:
            log.info("tenancy policy usable again", policy=policy.source)
            self._policy_error = None
        if policy is not self._policy_in_force:
            if self._policy_in_force is not None:
                log.info("tenancy policy changed; every bundle file is checked again", policy=policy.source)
            self._policy_in_force = policy
            self._forget_parses()
        return policy

    def _policy_unavailable(self) -> bool:
        """Like an unreadable directory: what is in force stays; at a cold start, the last good."""
        if self._snapshot is not None or self._parsed:
            return False
        self._parsed = {f: FileError(f, f"{f}: {self._policy_error}") for f in self._last_good}
        return bool(self._parsed)

    def become_writer(self, check: Check) -> None:
        """Make this view the one that saves ``last_good.json`` (the DAG processor), with ``check``.

        Files already validated with another check are validated again on the next resolve.
        """
        with self._lock:
            self._store.writable = True
            if check is not self._reader.check:
                self._reader.check = check
                self._forget_parses()

    def _forget_parses(self) -> None:
        self._snapshot, self._parsed = None, {}
        self._reader.retry.clear()

    @property
    def reads(self) -> int:
        """Files read and validated so far (for tests and the benchmark)."""
        return self._reader.reads

    @property
    def last_resolution(self) -> Resolution | None:
        return self._resolution

    @property
    def snapshot(self) -> DirSnapshot | None:
        return self._snapshot

    def parse_results(self) -> dict[str, ParseResult]:
        """File -> what reading and validating it gave, as of the last :meth:`resolve`."""
        with self._lock:
            return dict(self._parsed)

    def _reload_last_good(self) -> bool:
        specs = self._store.reload_if_changed()
        if specs is None or specs == self._last_good:
            return False
        self._last_good = specs
        return True

    def _refresh(self, policy: TenancyPolicy) -> bool:
        """Take a snapshot and read what changed; return whether any parse result changed."""
        try:
            snap = DirSnapshot.take(str(self.directory), listdir=self._io.listdir, stat=self._io.stat)
        except OSError as exc:
            return self._directory_unavailable(exc)
        if self._unavailable is not None:
            log.info("watched directory readable again", directory=str(self.directory))
            self._unavailable = None
        present = snap.names
        to_read = snap.diff(self._snapshot or DirSnapshot()).to_read | self._reader.due(
            snap.files, self._io.clock()
        )
        changed = False
        for file in set(self._parsed) - present:
            del self._parsed[file]
            changed = True
        self._reader.forget(snap.files)
        for file in sorted(to_read & present):
            result = self._read(snap, file, policy)
            if self._parsed.get(file) != result:
                self._parsed[file] = result
                changed = True
        self._snapshot = snap  # only now: a read that went wrong is read again next time
        return changed

    def _read(self, snap: DirSnapshot, file: str, policy: TenancyPolicy) -> ParseResult:
        if file in snap.errors:
            return FileError(
                file, f"invalid bundle config {printable(file)}: cannot stat: {snap.errors[file]}; retrying"
            )
        return self._reader.read(file, snap.files[file], policy, self._last_good.get(file))

    def _directory_unavailable(self, exc: OSError) -> bool:
        message = f"watched directory {self.directory} cannot be listed: {exc}"
        if self._unavailable != message:
            log.error(
                "watched directory unavailable; bundles stay as they were",
                directory=str(self.directory),
                error=str(exc),
            )
            self._unavailable = message
        if self._snapshot is not None or self._parsed:
            return False
        # Nothing seen yet in this process: the persisted last good definitions stand in.
        self._parsed = {f: FileError(f, f"{f}: {message}") for f in self._last_good}
        return bool(self._parsed)

    def _reconcile(self, static: frozenset[str]) -> None:
        self.reconciles += 1
        resolution = reconcile(self._parsed, self._last_good, static, self._usable)
        previous = self._resolution
        self._report(previous, resolution)
        self._static = static
        self._resolution = resolution
        if self._unavailable is None and self._policy_error is None:
            # Every view remembers what it saw (a process without the shared state still keeps
            # a bundle whose file breaks later); only the writer saves it.
            self._last_good = dict(resolution.last_good)
            self._store.save(resolution.last_good)
        if previous is None or _summary(previous) != _summary(resolution):
            self.generation += 1

    def _report(self, previous: Resolution | None, resolution: Resolution) -> None:
        before = {f: e.message for f, e in previous.errors.items()} if previous else {}
        for file, error in sorted(resolution.errors.items()):
            if before.get(file) == error.message:
                continue
            self.errors_reported += 1
            if not self._report_errors:
                continue
            in_force = file in resolution.stale_files
            log.error(
                "bundle config file invalid",
                file=file,
                directory=str(self.directory),
                error=error.message,
                last_good_in_force=in_force,
            )
        for file in sorted(set(before) - set(resolution.errors)):
            if file in self._parsed and self._report_errors:
                log.info("bundle config file valid again", file=file, directory=str(self.directory))


def _summary(res: Resolution) -> tuple[object, ...]:
    bundles = sorted((n, s.source, repr(s.as_config_entry())) for n, s in res.bundles.items())
    errors = sorted((f, e.message) for f, e in res.errors.items())
    return (bundles, errors)


_views: dict[str, ConfigDirView] = {}
_views_lock = threading.Lock()


def shared_view(directory: Path, factory: Callable[[], ConfigDirView]) -> ConfigDirView:
    """The process-wide view of ``directory``, created by ``factory`` on first use."""
    key = os.path.abspath(directory)
    with _views_lock:
        view = _views.get(key)
        if view is None:
            view = _views[key] = factory()
        return view
