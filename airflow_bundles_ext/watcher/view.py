"""The bundles a watched directory defines right now, as every Airflow process sees them.

:meth:`ConfigDirView.resolve` stats every config file (no reads when nothing changed), reads
and validates only added or changed files, and reconciles the results with the last good
definitions (:func:`airflow_bundles_ext.core.configdir.reconcile`). The validation is
:func:`parse_bundle_file` plus the ``check`` callable (in Airflow processes: the class imports,
is a DAG bundle and its constructor accepts the kwargs). Each distinct error is logged once,
when it appears, not on every loop.

Transient trouble removes nothing: an unreadable directory keeps the previous result (or the
persisted last good definitions when there is none yet); a file that cannot be read keeps
its last good definition and is retried on the next call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES, Allowlist, BundleSpec, parse_bundle_file
from airflow_bundles_ext.core.configdir import (
    DirSnapshot,
    FileError,
    FileStat,
    ParseResult,
    Resolution,
    reconcile,
)
from airflow_bundles_ext.errors import BundleConfigError
from airflow_bundles_ext.watcher.state import LastGoodStore

log = structlog.get_logger(__name__)

Check = Callable[[BundleSpec], None]
"""Extra validation of a parsed spec; raises :class:`BundleConfigError`."""


class ConfigDirView:
    """One watched directory. Thread-safe; one instance per directory per process."""

    def __init__(
        self,
        directory: Path,
        *,
        allowlist: Allowlist,
        last_good: LastGoodStore,
        check: Check | None = None,
        listdir: Callable[[str], Iterable[str]] = os.listdir,
        stat: Callable[[str], os.stat_result] = os.stat,
        report: bool = True,
        read: Callable[[Path], bytes] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.allowlist = allowlist
        self._store = last_good
        self._check = check
        self._report_errors = report
        self._read_bytes = read or _read_bytes
        self._listdir = listdir
        self._stat = stat
        self._lock = threading.Lock()
        self._snapshot: DirSnapshot | None = None
        self._parsed: dict[str, ParseResult] = {}
        self._retry: set[str] = set()
        self._last_good = last_good.load()
        self._resolution: Resolution | None = None
        self._static: frozenset[str] = frozenset()
        self._unavailable: str | None = None
        self.generation = 0
        """Incremented whenever the resolution (bundles or errors) changes."""
        self.errors_reported = 0
        """Count of distinct file errors logged so far (for the invalid-files metric)."""

    def resolve(self, static_names: Iterable[str] = ()) -> Resolution:
        with self._lock:
            static = frozenset(static_names)
            if self._refresh() or self._resolution is None or static != self._static:
                self._reconcile(static)
            assert self._resolution is not None
            return self._resolution

    @property
    def snapshot(self) -> DirSnapshot | None:
        return self._snapshot

    def parse_results(self) -> dict[str, ParseResult]:
        """File -> what reading and validating it gave, as of the last :meth:`resolve`."""
        with self._lock:
            return dict(self._parsed)

    def _refresh(self) -> bool:
        """Take a snapshot and read what changed; return whether any parse result changed."""
        try:
            snap = DirSnapshot.take(str(self.directory), listdir=self._listdir, stat=self._stat)
        except OSError as exc:
            return self._directory_unavailable(exc)
        if self._unavailable is not None:
            log.info("watched directory readable again", directory=str(self.directory))
            self._unavailable = None
        diff = snap.diff(self._snapshot or DirSnapshot())
        stale = set(self._parsed) - set(snap.files)
        to_read = diff.to_read | (self._retry & set(snap.files))
        self._snapshot = snap
        if not stale and not to_read:
            return False
        for file in stale:
            self._parsed.pop(file, None)
        self._retry -= stale
        for file in sorted(to_read):
            self._parsed[file] = self._read(file, snap.files[file])
        return True

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

    def _read(self, file: str, fstat: FileStat) -> ParseResult:
        self._retry.discard(file)
        path = self.directory / file
        try:
            if fstat.size > MAX_FILE_BYTES:
                raise BundleConfigError(
                    file,
                    f"file is {fstat.size} bytes, over the {MAX_FILE_BYTES} byte limit; one bundle per file",
                )
            self._check_inside(path, file)
            raw = self._read_bytes(path)
            spec = parse_bundle_file(raw, source=file, allowlist=self.allowlist)
            if self._check is not None:
                self._check(spec)
            return spec
        except BundleConfigError as exc:
            return FileError(file, str(exc))
        except OSError as exc:
            self._retry.add(file)  # may be transient (EIO, NFS): try again next time
            return FileError(file, f"invalid bundle config {file}: cannot read: {exc}; retrying")

    def _check_inside(self, path: Path, file: str) -> None:
        real = os.path.realpath(path)
        root = os.path.realpath(self.directory)
        if os.path.commonpath([real, root]) != root:
            raise BundleConfigError(
                file,
                f"symlink points outside the watched directory (to {real}); "
                "copy the file into the directory instead",
            )

    def _reconcile(self, static: frozenset[str]) -> None:
        resolution = reconcile(self._parsed, self._last_good, static)
        previous = self._resolution
        self._report(previous, resolution)
        self._static = static
        self._resolution = resolution
        if self._unavailable is None:
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


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(MAX_FILE_BYTES + 1)


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
