"""Bundle status as plain data: refresh bookkeeping, what changed, and the health rule.

Nothing here imports Airflow or touches a database. The DAG processor builds one
:class:`BundleStatus` per bundle it owns and one :class:`InvalidFile` per invalid file of the
watched directory; :func:`changes` tells which rows to write (only what changed), and
:func:`assess` turns stored rows into a health verdict for the API, the page and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, TypeVar

from airflow_bundles_ext.core.git_urls import redact_text

STATIC = "static"
"""``BundleStatus.source`` of a bundle from ``[dag_processor] dag_bundle_config_list``."""

REFRESH_MARKER = "__bundles_ext_refresh_request__"
"""``relative_fileloc`` of the ``dag_priority_parsing_request`` row that requests a refresh.

The stock DAG processor claims such rows for its own bundles every loop and force-refreshes
their bundles; the status hook drops the marker from the parse queue (it names no file)."""

MAX_ERROR_CHARS = 2000
"""Error messages are cut to this length before they are stored."""


@dataclass(frozen=True)
class RefreshRecord:
    """What one processor saw of a bundle's refreshes (``initialize()`` counts as a refresh).

    ``failing_since`` is the time of the first failure of the current run of failures; a
    success clears it and ``consecutive_failures`` but keeps ``last_error`` for the record.
    """

    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0

    @property
    def running(self) -> bool:
        return self.started_at is not None and (self.ended_at is None or self.ended_at < self.started_at)


def record_start(rec: RefreshRecord, at: datetime) -> RefreshRecord:
    return replace(rec, started_at=at)


def record_success(rec: RefreshRecord, at: datetime, duration_s: float) -> RefreshRecord:
    return replace(
        rec,
        ended_at=at,
        duration_s=round(duration_s, 3),
        last_success_at=at,
        failing_since=None,
        consecutive_failures=0,
    )


def record_failure(rec: RefreshRecord, at: datetime, duration_s: float, error: str) -> RefreshRecord:
    return replace(
        rec,
        ended_at=at,
        duration_s=round(duration_s, 3),
        last_error=clean_error(error),
        last_error_at=at,
        failing_since=rec.failing_since or at,
        consecutive_failures=rec.consecutive_failures + 1,
    )


_SECRET_PAIRS = re.compile(
    r"(?i)\b(password|passwd|secret|token|access_key|secret_key|authorization)(\s*[=:]\s*)(\S+)"
)


def clean_error(message: str) -> str:
    """An error message fit to store and show: URL user info and ``key=secret`` pairs removed, cut short."""
    text = redact_text(message)
    text = _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = " ".join(text.split()) if len(text) > MAX_ERROR_CHARS else text.strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` of an exception, cleaned (see :func:`clean_error`)."""
    text = str(exc).strip()
    return clean_error(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


@dataclass(frozen=True)
class Storage:
    """Bytes on the local bundle storage (hard-linked files counted once) and stored versions."""

    bytes: int = 0
    versions: int = 0


@dataclass(frozen=True)
class BundleStatus:
    """One bundle as the processor that owns it reports it."""

    name: str
    source: str
    active: bool
    version: str | None
    refresh: RefreshRecord = field(default_factory=RefreshRecord)
    storage: Storage | None = None
    reporter: str = ""


@dataclass(frozen=True)
class InvalidFile:
    """A file of the watched directory that is not in force as written.

    ``bundle_name`` is the bundle its last good definition keeps in force (``None`` if none).
    """

    file: str
    error: str
    bundle_name: str | None = None
    since: datetime | None = None
    reporter: str = ""

    def same_problem(self, other: InvalidFile) -> bool:
        return (self.error, self.bundle_name) == (other.error, other.bundle_name)


T = TypeVar("T")


@dataclass(frozen=True)
class Changes(Generic[T]):
    """Rows to upsert and keys to delete."""

    upserts: Mapping[str, T] = field(default_factory=dict)
    deletes: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


def changes(written: Mapping[str, T], now: Mapping[str, T], *, delete_missing: bool = True) -> Changes[T]:
    """What to write so the stored rows (``written``) become ``now``: changed rows only."""
    upserts = {k: v for k, v in now.items() if written.get(k) != v}
    deletes = frozenset(set(written) - set(now)) if delete_missing else frozenset()
    return Changes(upserts, deletes)


def keep_since(
    previous: Mapping[str, InvalidFile], current: Iterable[InvalidFile], at: datetime
) -> dict[str, InvalidFile]:
    """Invalid files keyed by file, with ``since`` carried over while the problem stays the same."""
    out: dict[str, InvalidFile] = {}
    for item in current:
        before = previous.get(item.file)
        since = before.since if before is not None and before.same_problem(item) else at
        out[item.file] = replace(item, since=since)
    return out


@dataclass(frozen=True)
class Health:
    """``failing``: active bundles whose last ``max_failures`` refreshes failed; ``invalid``:
    bundle name (or file, when no bundle is kept in force) -> invalid files."""

    failing: tuple[str, ...]
    invalid: Mapping[str, tuple[str, ...]]
    max_failures: int

    @property
    def healthy(self) -> bool:
        return not self.failing and not self.invalid

    @property
    def unhealthy_names(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.failing) | set(self.invalid)))


def assess(
    bundles: Iterable[tuple[str, bool, int]], invalid_files: Iterable[InvalidFile], *, max_failures: int
) -> Health:
    """Health from ``(name, active, consecutive_failures)`` triples and the invalid files."""
    limit = max(1, max_failures)
    failing = tuple(sorted(name for name, active, failures in bundles if active and failures >= limit))
    invalid: dict[str, list[str]] = {}
    for item in invalid_files:
        invalid.setdefault(item.bundle_name or item.file, []).append(item.file)
    return Health(failing, {k: tuple(sorted(v)) for k, v in sorted(invalid.items())}, limit)
