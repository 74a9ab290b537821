"""Reads and writes of the status tables (SQLAlchemy Core on Airflow's session).

Writes are upserts (``INSERT ... ON CONFLICT DO UPDATE`` on PostgreSQL and SQLite, ``ON
DUPLICATE KEY UPDATE`` on MySQL) so two processors reporting the same invalid file never
collide. Times are stored in UTC; SQLite hands them back naive and they are made aware here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from airflow_bundles_ext.status.model import BundleStatus, Changes, InvalidFile, RefreshRecord, Storage
from airflow_bundles_ext.status.tables import bundle_status, invalid_file


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def write(
    session: Session, bundles: Changes[BundleStatus], files: Changes[InvalidFile], now: datetime
) -> None:
    """Apply both sets of changes in the caller's transaction."""
    if bundles.upserts:
        rows = [_bundle_row(s, now) for s in bundles.upserts.values()]
        _upsert(session, bundle_status, "bundle_name", rows)
    if bundles.deletes:
        session.execute(sa.delete(bundle_status).where(bundle_status.c.bundle_name.in_(bundles.deletes)))
    if files.upserts:
        _upsert(session, invalid_file, "file", [_file_row(f, now) for f in files.upserts.values()])
    if files.deletes:
        session.execute(sa.delete(invalid_file).where(invalid_file.c.file.in_(files.deletes)))


def read_bundles(session: Session, names: Iterable[str] | None = None) -> dict[str, tuple[BundleStatus, Any]]:
    """Bundle name -> (status, ``updated_at``)."""
    query = sa.select(bundle_status)
    if names is not None:
        query = query.where(bundle_status.c.bundle_name.in_(list(names)))
    return {r.bundle_name: (_bundle_status(r), utc(r.updated_at)) for r in session.execute(query)}


def read_invalid_files(session: Session) -> dict[str, InvalidFile]:
    return {r.file: _invalid_file(r) for r in session.execute(sa.select(invalid_file))}


def _upsert(session: Session, table: sa.Table, key: str, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    update = [c.name for c in table.columns if c.name != key]
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(table).values(rows)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).values(rows)
        stmt = stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in update})
    elif dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table).values(rows)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update})
    else:  # another dialect: delete then insert, in the same transaction
        session.execute(sa.delete(table).where(table.c[key].in_([r[key] for r in rows])))
        stmt = sa.insert(table).values(rows)
    session.execute(stmt)


def _bundle_row(s: BundleStatus, now: datetime) -> dict[str, Any]:
    r = s.refresh
    return {
        "bundle_name": s.name,
        "source": s.source,
        "active": s.active,
        "version": s.version,
        "refresh_started_at": r.started_at,
        "refresh_ended_at": r.ended_at,
        "refresh_duration_s": r.duration_s,
        "last_success_at": r.last_success_at,
        "last_error": r.last_error,
        "last_error_at": r.last_error_at,
        "failing_since": r.failing_since,
        "consecutive_failures": r.consecutive_failures,
        "storage_bytes": s.storage.bytes if s.storage else None,
        "storage_versions": s.storage.versions if s.storage else None,
        "reporter": s.reporter,
        "updated_at": now,
    }


def _bundle_status(row: Any) -> BundleStatus:
    refresh = RefreshRecord(
        started_at=utc(row.refresh_started_at),
        ended_at=utc(row.refresh_ended_at),
        duration_s=row.refresh_duration_s,
        last_success_at=utc(row.last_success_at),
        last_error=row.last_error,
        last_error_at=utc(row.last_error_at),
        failing_since=utc(row.failing_since),
        consecutive_failures=row.consecutive_failures or 0,
    )
    storage = None
    if row.storage_bytes is not None:
        storage = Storage(bytes=row.storage_bytes, versions=row.storage_versions or 0)
    return BundleStatus(
        name=row.bundle_name,
        source=row.source,
        active=bool(row.active),
        version=row.version,
        refresh=refresh,
        storage=storage,
        reporter=row.reporter,
    )


def _file_row(f: InvalidFile, now: datetime) -> dict[str, Any]:
    return {
        "file": f.file,
        "error": f.error,
        "bundle_name": f.bundle_name,
        "since": f.since,
        "reporter": f.reporter,
        "updated_at": now,
    }


def _invalid_file(row: Any) -> InvalidFile:
    return InvalidFile(
        file=row.file,
        error=row.error,
        bundle_name=row.bundle_name,
        since=utc(row.since),
        reporter=row.reporter,
    )


def as_mapping(items: Mapping[str, tuple[BundleStatus, Any]]) -> dict[str, BundleStatus]:
    return {name: status for name, (status, _) in items.items()}
