"""Reading and validating one file of the watched directory, and when to try it again.

:class:`FileReader` turns one directory entry into a :data:`ParseResult`: the effective bundle
definition, or a :class:`FileError` naming the file. The validation is
:func:`~airflow_bundles_ext.core.bundle_config.parse_bundle_file` (shape and tenancy policy) plus
the ``check`` callable (in Airflow processes: the class imports, is a DAG bundle and its
constructor accepts the kwargs). Any exception, however unexpected, concerns that file only.

Invalid and unavailable are told apart. A file is *invalid* when its content is wrong: it is
read again only when its stat changes. A check that could not be *completed* (an I/O error, a
failure of the check itself such as a connection lookup during an outage) is retried with
backoff (1 s doubling to 60 s) while the last good definition stays in force.
"""

from __future__ import annotations

import os
import stat as stat_mod
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES, BundleSpec, parse_bundle_file
from airflow_bundles_ext.core.configdir import FileError, FileStat, ParseResult
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.core.text import printable
from airflow_bundles_ext.errors import BundleConfigError, CheckUnavailable

Check = Callable[[BundleSpec, bool], None]
"""Extra validation of a parsed spec. The flag says the spec equals its file's last good
definition (already proven by the DAG processor). Raises :class:`BundleConfigError` when the
spec is invalid, :class:`CheckUnavailable` when the check could not be completed."""

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
_NOT_REGULAR = (
    "not a regular file (a directory, FIFO, socket or device); only regular files (or symlinks to "
    "them) are read: replace it with a regular file"
)


def read_bytes(path: Path) -> bytes:
    """At most one byte over the limit; never blocks on a FIFO swapped in after the stat."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
            raise BundleConfigError(path.name, _NOT_REGULAR)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class DirIO:
    """The filesystem and the clock of a view: the seam where tests inject faults."""

    listdir: Callable[[str], Iterable[str]] = os.listdir
    stat: Callable[[str], os.stat_result] = os.stat
    read: Callable[[Path], bytes] = read_bytes
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class _Retry:
    due: float
    delay: float


@dataclass
class FileReader:
    """Reads files of one directory with one ``check``; keeps the retry schedule."""

    directory: Path
    io: DirIO
    check: Check | None = None
    reads: int = 0
    retry: dict[str, _Retry] = field(default_factory=dict)

    def due(self, present: Iterable[str], now: float) -> set[str]:
        """Files whose check could not complete and whose retry is due."""
        return {f for f in present if f in self.retry and self.retry[f].due <= now}

    def forget(self, present: Iterable[str]) -> None:
        """Drop the retries of files that are gone."""
        for file in set(self.retry) - set(present):
            del self.retry[file]

    def read(
        self, file: str, fstat: FileStat, policy: TenancyPolicy, last_good: BundleSpec | None
    ) -> ParseResult:
        previous = self.retry.pop(file, None)
        self.reads += 1
        try:
            spec = self._parse(file, fstat, policy)
            if self.check is not None:
                self.check(spec, last_good == spec)
            return spec
        except BundleConfigError as exc:
            return FileError(file, str(exc))
        except Exception as exc:  # OSError, CheckUnavailable, or a check that broke: this file only
            return self._retry_later(file, exc, previous)

    def _parse(self, file: str, fstat: FileStat, policy: TenancyPolicy) -> BundleSpec:
        if not fstat.is_regular:
            raise BundleConfigError(file, _NOT_REGULAR)
        if fstat.size > MAX_FILE_BYTES:
            raise BundleConfigError(
                file, f"file is {fstat.size} bytes, over the {MAX_FILE_BYTES} byte limit; one bundle per file"
            )
        path = self.directory / file
        real, root = os.path.realpath(path), os.path.realpath(self.directory)
        if os.path.commonpath([real, root]) != root:
            raise BundleConfigError(
                file,
                f"symlink points outside the watched directory (to {real}); copy the file into it instead",
            )
        return parse_bundle_file(self.io.read(path), file=file, policy=policy)

    def _retry_later(self, file: str, exc: Exception, previous: _Retry | None) -> FileError:
        """May be transient (EIO, NFS, a secrets backend outage): retry later, backing off."""
        delay = min(previous.delay * 2, RETRY_MAX_S) if previous else RETRY_FIRST_S
        self.retry[file] = _Retry(due=self.io.clock() + delay, delay=delay)
        if isinstance(exc, OSError):
            what = "cannot read"
        elif isinstance(exc, CheckUnavailable):
            what = "cannot check"
        else:
            what = f"check failed unexpectedly ({type(exc).__name__})"
        return FileError(file, f"invalid bundle config {printable(file)}: {what}: {exc}; retrying")
