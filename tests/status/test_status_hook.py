"""The processor-side status writer in this process, on a real migrated SQLite DB: an idle loop
issues no statement, a refresh (of any bundle class) is written once, in one transaction, and a
refresh-request marker never reaches the parse queue."""

from __future__ import annotations

import shutil
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from airflow_bundles_ext.integration.status_hook import StatusHook
from airflow_bundles_ext.status.model import REFRESH_MARKER


class Bundle:
    """Any bundle class: the hook wraps instances, whatever their class."""

    def __init__(self, name: str, base: Path, *, fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.base_dir, self.versions_dir = base / name, base / name / "versions"
        self.is_initialized = False

    def initialize(self) -> None:
        self.refresh()  # like upstream bundles: counted once, not twice
        self.is_initialized = True

    def refresh(self) -> None:
        if self.fail:
            raise RuntimeError("remote https://user:hunter2@example.com/r.git unreachable")


@pytest.fixture
def db(sqlite_template, tmp_path, monkeypatch):
    from airflow import settings

    path = tmp_path / "status.db"
    shutil.copyfile(sqlite_template.path, path)
    old = settings.SQL_ALCHEMY_CONN
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{path}")
    settings.SQL_ALCHEMY_CONN = f"sqlite:///{path}"
    settings.reconfigure_orm()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(settings.engine, "before_cursor_execute", count)
    try:
        yield SimpleNamespace(statements=statements, engine=sa.create_engine(f"sqlite:///{path}"))
    finally:
        sa.event.remove(settings.engine, "before_cursor_execute", count)
        settings.SQL_ALCHEMY_CONN = old
        settings.reconfigure_orm()


def _manager(tmp_path, *bundles):
    return SimpleNamespace(
        _dag_bundles=list(bundles),
        _bundle_versions={},
        _force_refresh_bundles=set(),
        _file_queue=OrderedDict(),
        bundle_refresh_check_interval=1,
    )


def _rows(db):
    with db.engine.connect() as conn:
        return {
            r.bundle_name: r
            for r in conn.execute(__import__("sqlalchemy").text("select * from bundles_ext_bundle_status"))
        }


def test_idle_loops_issue_no_statement_and_refreshes_are_written_once(db, tmp_path):
    good, bad = Bundle("good", tmp_path), Bundle("bad", tmp_path, fail=True)
    manager = _manager(tmp_path, good, bad)
    hook = StatusHook(manager, lambda: None)
    hook.start()
    for bundle in manager._dag_bundles:  # the stock loop: initialize, then refresh
        hook.before_refresh()
        try:
            bundle.initialize()
        except RuntimeError:
            pass
    hook.after_refresh()
    rows = _rows(db)
    assert rows["good"].consecutive_failures == 0 and rows["good"].last_success_at is not None
    assert rows["bad"].consecutive_failures == 1
    assert "hunter2" not in rows["bad"].last_error and "***@example.com" in rows["bad"].last_error
    db.statements.clear()
    for _ in range(50):
        hook.before_refresh()
        hook.after_refresh()
    assert db.statements == []
    with pytest.raises(RuntimeError):
        bad.refresh()
    hook.after_refresh()
    writes = [s for s in db.statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert len(writes) == 1 and "bundles_ext_bundle_status" in writes[0]
    assert _rows(db)["bad"].consecutive_failures == 2


def test_a_restarted_processor_keeps_failing_since_and_the_last_error(db, tmp_path):
    bad = Bundle("bad", tmp_path, fail=True)
    first = StatusHook(_manager(tmp_path, bad), lambda: None)
    first.start()
    with pytest.raises(RuntimeError):
        bad.refresh()
    first.after_refresh()
    since = _rows(db)["bad"].failing_since
    again = Bundle("bad", tmp_path, fail=True)
    second = StatusHook(_manager(tmp_path, again), lambda: None)
    second.start()
    with pytest.raises(RuntimeError):
        again.refresh()
    second.after_refresh()
    row = _rows(db)["bad"]
    assert (row.consecutive_failures, row.failing_since) == (2, since)


def test_refresh_request_marker_is_dropped_from_the_parse_queue(db, tmp_path):
    from airflow.dag_processing.manager import DagFileInfo

    bundle = Bundle("good", tmp_path)
    manager = _manager(tmp_path, bundle)
    hook = StatusHook(manager, lambda: None)
    hook.start()
    real = DagFileInfo(rel_path=Path("dag.py"), bundle_name="good", bundle_path=tmp_path)
    marker = DagFileInfo(rel_path=Path(REFRESH_MARKER), bundle_name="good", bundle_path=tmp_path)
    manager._file_queue.update({marker: None, real: None})
    manager._force_refresh_bundles.add("good")
    hook.after_refresh()
    assert list(manager._file_queue) == [real]
