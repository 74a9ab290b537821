"""One sync cycle as a straight line of steps.

    list (complete, all pages) -> scan local -> plan -> fetch -> review -> apply -> save state

Where a failure or a crash can land:

- listing, fetching: nothing local has been touched yet; a failure or a stop signal
  abandons the cycle and the directory stays exactly as it was.
- apply: each file is replaced by ``atomic_write`` (temp + fsync + rename), so the watcher
  sees the old content or the new, never a partial file. A crash between two files leaves
  some files new and some old, each one valid; the next cycle finishes the job. Files are
  deleted only after every write, and only because the complete listing lacks them.
- state: saved last. A crash before it costs hashing (and perhaps GETs) next cycle, not a
  spurious write: a file is rewritten only when its bytes differ.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from airflow_bundles_ext.errors import SyncInterrupted
from airflow_bundles_ext.s3_client import S3Objects
from airflow_bundles_ext.sidecar import state
from airflow_bundles_ext.sidecar.config import SyncConfig
from airflow_bundles_ext.sidecar.log import get_logger
from airflow_bundles_ext.sidecar.plan import Accepted, LocalFile, Plan, Rejection, plan_cycle, review
from airflow_bundles_ext.sidecar.s3 import download_all, interruptible, list_objects


@dataclass(frozen=True)
class CycleReport:
    """What one successful cycle saw and did; the health file holds it."""

    objects: int  # bundle files listed under the prefix
    fetched: int  # GET requests made
    written: tuple[str, ...]  # files replaced or created
    deleted: tuple[str, ...]  # files removed because their object is gone
    unchanged: int  # listed files already in step
    rejected: tuple[Rejection, ...]  # objects not synced, with the reason
    ignored: int  # keys under the prefix that are not bundle files
    files: int  # bundle files in the directory after the cycle


class Syncer:
    """Keeps ``config.path`` in step with ``config.source``; call :meth:`run_cycle` repeatedly."""

    def __init__(self, config: SyncConfig, client: Any, stop: threading.Event | None = None) -> None:
        self.config = config
        self.objects = S3Objects(client, config.bucket, max_attempts=config.max_attempts)
        self.stop = stop or threading.Event()
        self.log = get_logger(__name__).bind(source=config.source)
        self._remembered: dict[str, Rejection] = {}
        self._reported: set[tuple[str, str, str]] = set()
        self.policy = config.policy_source()

    def prepare(self) -> None:
        """Check the tenancy policy, create the directory, remove temp files a killed predecessor left."""
        self.policy.current()
        self.config.path.mkdir(parents=True, exist_ok=True)
        for path in state.sweep_debris(self.config.path):
            self.log.info("debris removed", path=str(path))

    def run_cycle(self) -> CycleReport:
        """One cycle. Raises :class:`BundlesExtError` (nothing changed on disk) or
        :class:`SyncInterrupted` when a stop signal arrives while waiting on S3."""
        cfg = self.config
        policy = self.policy.current()  # one stat; a policy that became invalid fails the cycle
        listing = interruptible(lambda: list_objects(self.objects, cfg.prefix), self.stop, "listing")
        records = state.load_records(cfg.path, cfg.source)
        local = state.scan(cfg.path, records)
        plan = plan_cycle(
            listing,
            local,
            self._remembered,
            prefix=cfg.prefix,
            allow_empty=cfg.allow_empty,
            source=cfg.source,
        )
        fetched = interruptible(
            lambda: download_all(self.objects, plan.fetch, self.stop), self.stop, "download"
        )
        accepted, refused = review(fetched, local, bucket=cfg.bucket, policy=policy)
        rejected = (*plan.rejected, *refused)
        self._report(rejected)
        written = self._apply(plan, local, records, accepted)
        return CycleReport(
            objects=len(plan.fetch) + len(plan.in_step),
            fetched=len(plan.fetch),
            written=written,
            deleted=plan.delete,
            unchanged=len(plan.in_step) + sum(1 for a in accepted if not a.changed),
            rejected=rejected,
            ignored=len(plan.ignored),
            files=len(local) - len(plan.delete) + sum(1 for a in accepted if a.target.name not in local),
        )

    def _apply(
        self,
        plan: Plan,
        local: dict[str, LocalFile],
        records: dict[str, state.FileRecord],
        accepted: list[Accepted],
    ) -> tuple[str, ...]:
        """Write changed files, delete gone ones, save the state. Returns the files written."""
        directory = self.config.path
        kept = {n: r for n, r in records.items() if n in local and local[n].synced_etag == r.etag}
        for target in plan.in_step:
            if target.name not in kept or kept[target.name].etag != target.etag:
                found = local[target.name]  # in step by content: adopt the ETag, no GET
                kept[target.name] = state.record_for(directory / target.name, target.etag, found.md5)
        written: list[str] = []
        for item in accepted:
            if self.stop.is_set():
                state.save_records(directory, self.config.source, kept)
                raise SyncInterrupted(f"stopped after writing {len(written)} of the changed files")
            path = directory / item.target.name
            if item.changed:
                state.write_file(path, item.body)
                written.append(item.target.name)
                self.log.info("file written", file=item.target.name, key=item.target.key)
            kept[item.target.name] = state.record_for(path, item.target.etag, item.md5)
        for name in plan.delete:
            state.delete_file(directory / name)
            kept.pop(name, None)
            self.log.info("file deleted", file=name, reason="object gone from the listing")
        state.save_records(directory, self.config.source, kept)
        return tuple(written)

    def _report(self, rejected: tuple[Rejection, ...]) -> None:
        """Log each refusal once per object version; remember those to skip until they change."""
        self._remembered = {r.key: r for r in rejected if r.remember}
        current = {(r.key, r.etag, r.reason) for r in rejected}
        for key, etag, reason in sorted(current - self._reported):
            self.log.error(
                "object refused", key=key, etag=etag, reason=reason, kept="the previous local copy, if any"
            )
        self._reported = current
