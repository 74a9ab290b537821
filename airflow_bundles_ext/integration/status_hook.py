"""The DAG processor reports bundle status: refresh outcomes, versions, storage, invalid files.

Called from the patched ``DagFileProcessorManager`` (:mod:`.processor`):

* ``start()`` after ``prepare_bundles``: load the stored rows once (so a restart keeps
  ``failing_since`` and the last error), wrap every bundle instance.
* ``before_refresh()`` each loop: wrap bundle instances that are new (the list object changed:
  the watcher or the stock loader replaced it). Wrapping puts an instance attribute over
  ``initialize`` and ``refresh`` that records start, end, duration and the error, whatever the
  bundle class (static or file-defined, this package's or upstream's).
* ``after_refresh()`` each loop: drop refresh-request markers from the parse queue; then, only
  when something changed (a refresh ran, a bundle came or went, the watched directory's
  resolution moved), write the changed rows in one transaction. An idle loop does no query.

Refresh requests need nothing here: the API writes a ``dag_priority_parsing_request`` row
(:data:`~airflow_bundles_ext.status.model.REFRESH_MARKER`), which the stock loop claims for
its own bundles and force-refreshes at once (Airflow 3.2 and 3.3).

Internals used: ``_dag_bundles``, ``_bundle_versions``, ``_force_refresh_bundles``, ``_file_queue``.
A failure here is logged and never stops the processor.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from airflow_bundles_ext.status import store
from airflow_bundles_ext.status.model import (
    REFRESH_MARKER,
    STATIC,
    BundleStatus,
    Changes,
    InvalidFile,
    RefreshRecord,
    Storage,
    changes,
    describe_exception,
    keep_since,
    record_failure,
    record_start,
    record_success,
)
from airflow_bundles_ext.status.storage import measure

log = structlog.get_logger(__name__)

WRAPPED = "_bundles_ext_status_wrapped"
STORAGE_EVERY_S = 600.0
"""A bundle's storage is measured after a refresh that changed its version, else at most this often."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StatusHook:
    """The status writer of one ``DagFileProcessorManager``."""

    def __init__(
        self, manager: Any, watcher: Callable[[], Any], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.manager = manager
        self.watcher = watcher
        self.clock = clock
        self.reporter = f"{socket.gethostname()}:{os.getpid()}"
        self.records: dict[str, RefreshRecord] = {}
        self.storage: dict[str, tuple[Storage, str | None, float]] = {}
        self.written: dict[str, BundleStatus] = {}
        self.written_files: dict[str, InvalidFile] = {}
        self.files: dict[str, InvalidFile] = {}
        self._to_measure: set[str] = set()
        self._seen_list: object = None
        self._seen_generation = -1
        self._in_call: set[str] = set()
        self._dirty = True
        self._retry_at = 0.0
        self._failing = False

    # --- processor loop ----------------------------------------------------------------------

    def start(self) -> None:
        try:
            from airflow.utils.session import create_session

            with create_session() as session:
                stored = store.read_bundles(session)
                self.written_files = store.read_invalid_files(session)
        except Exception as exc:
            log.warning("cannot read stored bundle status; starting afresh", error=str(exc))
            stored = {}
        self.written = {name: status for name, (status, _) in stored.items()}
        self.files = dict(self.written_files)
        for name, status in self.written.items():
            self.records[name] = status.refresh
        self.before_refresh()

    def before_refresh(self) -> None:
        bundles = self.manager._dag_bundles
        if bundles is self._seen_list:
            return
        self._seen_list = bundles
        for bundle in bundles:
            if not getattr(bundle, WRAPPED, False):
                self._wrap(bundle)
        self._dirty = True

    def after_refresh(self) -> None:
        self._drop_refresh_markers()
        self.before_refresh()
        self._update_invalid_files()
        if not self._dirty or self.clock() < self._retry_at:
            return
        self._measure_storage()
        self.flush()

    # --- recording -----------------------------------------------------------------------------

    def _wrap(self, bundle: Any) -> None:
        for method in ("initialize", "refresh"):
            setattr(bundle, method, self._recorded(bundle.name, getattr(bundle, method)))
        setattr(bundle, WRAPPED, True)

    def _recorded(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            if name in self._in_call:  # initialize() calling refresh(): one outcome, not two
                return original(*args, **kwargs)
            self._in_call.add(name)
            start = self.clock()
            self.records[name] = record_start(self.records.get(name, RefreshRecord()), _utcnow())
            try:
                result = original(*args, **kwargs)
            except Exception as exc:
                self.records[name] = record_failure(
                    self.records[name], _utcnow(), self.clock() - start, describe_exception(exc)
                )
                raise
            else:
                self.records[name] = record_success(self.records[name], _utcnow(), self.clock() - start)
                self._to_measure.add(name)
                return result
            finally:
                self._in_call.discard(name)
                self._dirty = True

        return call

    def _drop_refresh_markers(self) -> None:
        m = self.manager
        if not m._force_refresh_bundles:
            return
        queue = m._file_queue
        for file in [f for f in queue if str(f.rel_path) == REFRESH_MARKER]:
            if isinstance(queue, dict):
                queue.pop(file, None)
            else:
                queue.remove(file)

    def _update_invalid_files(self) -> None:
        watcher = self.watcher()
        if watcher is None or watcher.view.generation == self._seen_generation:
            return
        self._seen_generation = watcher.view.generation
        resolution = watcher.view.resolve(watcher.static)
        current = [
            InvalidFile(
                file=file,
                error=error.message,
                bundle_name=spec.name if (spec := resolution.last_good.get(file)) else None,
                reporter=self.reporter,
            )
            for file, error in resolution.errors.items()
        ]
        self.files = keep_since(self.files, current, _utcnow())
        self._dirty = True

    def _measure_storage(self) -> None:
        versions = self.manager._bundle_versions
        by_name = {b.name: b for b in self.manager._dag_bundles}
        for name in sorted(self._to_measure):
            bundle = by_name.get(name)
            if bundle is None:
                continue
            previous = self.storage.get(name)
            version = versions.get(name)
            if previous and previous[1] == version and self.clock() - previous[2] < STORAGE_EVERY_S:
                continue
            size = measure(Path(bundle.base_dir), Path(bundle.versions_dir))
            self.storage[name] = (size, version, self.clock())
        self._to_measure.clear()

    # --- writing -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, BundleStatus]:
        m = self.manager
        watcher = self.watcher()
        sources = {n: s.source for n, s in watcher.applied.items()} if watcher is not None else {}
        out: dict[str, BundleStatus] = {}
        for bundle in m._dag_bundles:
            name = bundle.name
            previous = self.written.get(name)
            measured = self.storage.get(name)
            out[name] = BundleStatus(
                name=name,
                source=sources.get(name, STATIC),
                active=True,
                version=m._bundle_versions.get(name, previous.version if previous else None),
                refresh=self.records.get(name, RefreshRecord()),
                storage=measured[0] if measured else (previous.storage if previous else None),
                reporter=self.reporter,
            )
        for name, row in self.written.items():
            if name not in out and row.active and row.reporter == self.reporter:
                out[name] = replace(row, active=False)  # this processor dropped it
        return out

    def flush(self) -> None:
        from airflow.utils.session import create_session

        bundles = self.snapshot()
        bundle_changes = changes(self.written, bundles, delete_missing=False)
        file_changes: Changes[InvalidFile] = (
            changes(self.written_files, self.files) if self.watcher() is not None else Changes()
        )
        try:
            if bundle_changes or file_changes:
                with create_session() as session:
                    store.write(session, bundle_changes, file_changes, _utcnow())
        except Exception as exc:
            if not self._failing:
                log.warning("cannot write bundle status; retrying", error=str(exc))
            self._failing = True
            self._retry_at = self.clock() + float(getattr(self.manager, "bundle_refresh_check_interval", 5))
            return
        self.written.update(bundle_changes.upserts)
        if file_changes:
            self.written_files = dict(self.files)
        self._failing = False
        self._dirty = False
