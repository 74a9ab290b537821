"""The pure status core: refresh bookkeeping, secret-free errors, row diffs and the health rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_bundles_ext.status.model import (
    MAX_ERROR_CHARS,
    InvalidFile,
    RefreshRecord,
    assess,
    changes,
    clean_error,
    describe_exception,
    keep_since,
    record_failure,
    record_start,
    record_success,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_failures_count_up_from_the_first_and_a_success_resets_the_run_but_keeps_the_error():
    rec = record_failure(record_start(RefreshRecord(), at(0)), at(1), 1.0, "boom")
    rec = record_failure(record_start(rec, at(10)), at(12), 2.0, "boom again")
    assert (rec.consecutive_failures, rec.failing_since, rec.last_error) == (2, at(1), "boom again")
    rec = record_success(record_start(rec, at(20)), at(21), 1.0)
    assert (rec.consecutive_failures, rec.failing_since, rec.last_success_at) == (0, None, at(21))
    assert rec.last_error == "boom again" and rec.last_error_at == at(12)
    assert rec.duration_s == 1.0 and not rec.running


def test_a_refresh_in_progress_is_running():
    assert record_start(record_success(RefreshRecord(), at(1), 0.1), at(5)).running


def test_error_messages_lose_url_credentials_and_secret_values_and_are_cut_short():
    text = clean_error(
        "fetch https://user:ghp_SECRET@github.com/a/b.git failed; token=abc123 password: hunter2"
    )
    assert "ghp_SECRET" not in text and "abc123" not in text and "hunter2" not in text
    assert "https://***@github.com/a/b.git" in text
    assert len(clean_error("x" * 10_000)) == MAX_ERROR_CHARS
    assert describe_exception(ValueError("bad")) == "ValueError: bad"
    assert describe_exception(RuntimeError()) == "RuntimeError"


def test_changes_are_only_the_rows_that_differ():
    before = {"a": 1, "b": 2, "c": 3}
    diff = changes(before, {"a": 1, "b": 20, "d": 4})
    assert dict(diff.upserts) == {"b": 20, "d": 4} and diff.deletes == {"c"}
    assert not changes(before, dict(before))
    assert changes(before, {"a": 1}, delete_missing=False).deletes == frozenset()


def test_invalid_file_keeps_its_since_while_the_problem_stays_the_same():
    first = keep_since({}, [InvalidFile("x.json", "bad", "x")], at(0))
    same = keep_since(first, [InvalidFile("x.json", "bad", "x")], at(50))
    other = keep_since(same, [InvalidFile("x.json", "worse", "x")], at(90))
    assert same["x.json"].since == at(0) and other["x.json"].since == at(90)


def test_health_names_active_bundles_failing_n_times_and_bundles_with_invalid_files():
    bundles = [("ok", True, 0), ("flaky", True, 1), ("down", True, 3), ("gone", False, 9)]
    files = [InvalidFile("b.json", "bad", "b"), InvalidFile("orphan.json", "bad", None)]
    health = assess(bundles, files, max_failures=2)
    assert health.failing == ("down",)
    assert dict(health.invalid) == {"b": ("b.json",), "orphan.json": ("orphan.json",)}
    assert health.unhealthy_names == ("b", "down", "orphan.json") and not health.healthy
    assert assess(bundles[:2], [], max_failures=2).healthy
    assert assess([("flaky", True, 1)], [], max_failures=0).failing == ("flaky",)  # at least 1
