"""The pure reclaim plan: which removed bundles' storage is due, from plain sets and marks."""

from __future__ import annotations

from airflow_bundles_ext.core.storage_reclaim import plan


def test_unconfigured_bundle_is_marked_when_first_seen_and_not_due_before_the_grace_period():
    result = plan({"a", "gone"}, {"a"}, {}, now=100.0, grace_period=60)
    assert dict(result.marks) == {"gone": 100.0}
    assert result.due == ()


def test_bundle_is_due_once_unconfigured_for_the_whole_grace_period():
    result = plan({"gone", "later"}, set(), {"gone": 40.0, "later": 41.0}, now=100.0, grace_period=60)
    assert result.due == ("gone",)
    assert dict(result.marks) == {"gone": 40.0, "later": 41.0}


def test_zero_grace_period_makes_a_new_removal_due_at_once():
    assert plan({"gone"}, set(), {}, now=5.0, grace_period=0).due == ("gone",)


def test_configured_again_drops_the_mark_so_a_later_removal_starts_over():
    result = plan({"back"}, {"back"}, {"back": 1.0}, now=100.0, grace_period=60)
    assert dict(result.marks) == {} and result.due == ()


def test_mark_without_storage_is_dropped():
    result = plan(set(), set(), {"reclaimed-elsewhere": 1.0}, now=100.0, grace_period=0)
    assert dict(result.marks) == {} and result.due == ()
