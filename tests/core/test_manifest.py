from __future__ import annotations

import json

import pytest

from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.errors import ManifestError, UnsafePathError


def m(*entries: tuple[str, str, int] | tuple[str, str, int, str | None]) -> mf.Manifest:
    return mf.manifest_of(mf.Entry(*e) for e in entries)


def test_version_depends_on_content_not_order_or_version_ids():
    a = m(("a.py", "e1", 1, "v1"), ("b/c.py", "e2", 2))
    b = m(("b/c.py", "e2", 2, "other"), ("a.py", "e1", 1))
    assert a.version == b.version
    assert len(a.version) == mf.VERSION_HEX_CHARS


@pytest.mark.parametrize(
    "other",
    [
        (("a.py", "e9", 1), ("b/c.py", "e2", 2)),  # etag
        (("a.py", "e1", 9), ("b/c.py", "e2", 2)),  # size
        (("a2.py", "e1", 1), ("b/c.py", "e2", 2)),  # path
        (("a.py", "e1", 1),),  # removed
    ],
)
def test_any_content_change_changes_the_version(other):
    assert m(("a.py", "e1", 1), ("b/c.py", "e2", 2)).version != m(*other).version


def test_empty_manifest_has_a_stable_version():
    assert mf.EMPTY.version == m().version


def test_diff_sorts_paths_into_added_changed_removed_unchanged():
    old = m(("keep.py", "e", 1), ("change.py", "e", 1), ("gone.py", "e", 1))
    new = m(("keep.py", "e", 1), ("change.py", "e2", 1), ("new.py", "e", 1))
    d = mf.diff(old, new)
    assert d.added == ("new.py",)
    assert d.changed == ("change.py",)
    assert d.removed == ("gone.py",)
    assert d.unchanged == ("keep.py",)
    assert d.to_download == ("change.py", "new.py")


def test_same_etag_with_other_size_counts_as_changed():
    assert mf.diff(m(("a", "e", 1)), m(("a", "e", 2))).changed == ("a",)


def test_carry_version_ids_only_for_unchanged_entries():
    old = m(("a", "e", 1, "va"), ("b", "e", 1, "vb"))
    new = m(("a", "e", 1), ("b", "e2", 1))
    carried = mf.carry_version_ids(old, new)
    assert carried.entries["a"].version_id == "va"
    assert carried.entries["b"].version_id is None


def test_with_version_ids_normalises_null():
    out = mf.with_version_ids(m(("a", "e", 1), ("b", "e", 1)), {"a": "null", "b": "v2"})
    assert out.entries["a"].version_id is None
    assert out.entries["b"].version_id == "v2"


def test_duplicate_paths_are_refused():
    with pytest.raises(UnsafePathError, match="duplicate"):
        m(("a", "e", 1), ("a", "e", 1))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("dags/a.py", "a.py"),
        ("dags/sub/x y ü.py", "sub/x y ü.py"),
        ("dags/", None),
        ("dags/folder/", None),
    ],
)
def test_relative_key(key, expected):
    assert mf.relative_key(key, "dags/") == expected


@pytest.mark.parametrize(
    "key",
    ["dags/../etc/passwd", "dags//a.py", "dags/./a.py", "dags/a\\b.py", "/abs.py", "dags/a/..", "dags/x\x00"],
)
def test_relative_key_refuses_unsafe_keys_naming_them(key):
    with pytest.raises(UnsafePathError) as err:
        mf.relative_key(key, "dags/" if key.startswith("dags/") else "")
    assert repr(key) in str(err.value) or key in str(err.value)


def test_file_directory_collision_is_refused_naming_both_keys():
    with pytest.raises(UnsafePathError, match=r"s3://b/p/a is a file and also a directory of s3://b/p/a/b"):
        mf.check_collisions(m(("a", "e", 1), ("a/b", "e", 1)), "s3://b/p/")


def test_deep_collision_is_found_and_near_names_are_not_collisions():
    with pytest.raises(
        UnsafePathError, match=r"x/a/b is a file and also a directory of x/a/b/c/d \(1 collision"
    ):
        mf.check_collisions(m(("a/b", "e", 1), ("a/b/c/d", "e", 1), ("a/bc", "e", 1)), "x/")
    mf.check_collisions(m(("a/b", "e", 1), ("a/bc/d", "e", 1), ("a/b.py", "e", 1), ("ab/c", "e", 1)), "x/")


def test_manifest_version_is_computed_once():
    manifest = m(("a", "e", 1))
    assert manifest.version is manifest.version


def test_dumps_loads_round_trip_keeps_entries_and_location():
    original = m(("a.py", "e1", 1, "v1"), ("d/b.py", "e2", 2))
    stored = mf.loads(mf.dumps(original, bucket="bkt", prefix="dags/"), source="test")
    assert stored.manifest == original
    assert (stored.bucket, stored.prefix) == ("bkt", "dags/")


def test_loads_refuses_a_manifest_whose_content_does_not_match_its_version():
    payload = json.loads(mf.dumps(m(("a.py", "e1", 1)), bucket="b", prefix=""))
    payload["entries"][0]["etag"] = "tampered"
    with pytest.raises(ManifestError, match="content hashes to"):
        mf.loads(json.dumps(payload).encode(), source="s3://b/m.json")


@pytest.mark.parametrize(
    "data",
    [b"not json", b"{}", b'{"format": 1, "entries": [{"path": "../x", "etag": "e", "size": 1}]}'],
)
def test_loads_refuses_garbage_naming_the_source(data):
    with pytest.raises(ManifestError, match="s3://b/m.json"):
        mf.loads(data, source="s3://b/m.json")
