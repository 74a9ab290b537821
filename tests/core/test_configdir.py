"""The pure config-directory core: snapshot from injected stat/listdir, diff, reconcile."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from airflow_bundles_ext.core.bundle_config import BundleSpec
from airflow_bundles_ext.core.configdir import (
    DirSnapshot,
    FileError,
    FileStat,
    SnapshotDiff,
    changed_bundles,
    reconcile,
)

LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"


def spec(name: str, file: str, path: str = "/d") -> BundleSpec:
    return BundleSpec(name=name, classpath=LOCAL, kwargs={"path": path}, source=file)


def fake_fs(files: dict[str, tuple[int, int, int]]):
    calls: list[str] = []

    def listdir(directory):
        calls.append(f"listdir {directory}")
        return list(files)

    def stat(path):
        calls.append(f"stat {path}")
        name = os.path.basename(path)
        if name not in files:
            raise FileNotFoundError(path)
        mtime, size, ino = files[name]
        return SimpleNamespace(st_mtime_ns=mtime, st_size=size, st_ino=ino, st_mode=0o100644)

    return listdir, stat, calls


def test_snapshot_stats_config_files_only_and_never_reads():
    listdir, stat, calls = fake_fs(
        {
            "a.json": (1, 10, 100),
            ".hidden.json": (1, 1, 1),
            "b.json.tmp": (1, 1, 2),
            "c.json~": (1, 1, 3),
            "notes.txt": (1, 1, 4),
        }
    )
    snap = DirSnapshot.take("/cfg", listdir=listdir, stat=stat)
    assert snap.files == {"a.json": FileStat(mtime_ns=1, size=10, inode=100)}
    assert calls == ["listdir /cfg", "stat /cfg/a.json"]


def test_snapshot_skips_a_file_that_vanishes_between_listdir_and_stat():
    listdir, stat, _ = fake_fs({"a.json": (1, 1, 1)})
    snap = DirSnapshot.take("/cfg", listdir=lambda d: ["a.json", "gone.json"], stat=stat)
    assert set(snap.files) == {"a.json"}


def test_diff_is_set_arithmetic_over_mtime_size_inode():
    before = DirSnapshot(
        {
            "a.json": FileStat(1, 1, 1),
            "b.json": FileStat(1, 1, 2),
            "c.json": FileStat(1, 1, 3),
            "d.json": FileStat(1, 1, 4),
        }
    )
    after = DirSnapshot(
        {
            "a.json": FileStat(1, 1, 1),
            "b.json": FileStat(2, 1, 2),
            "c.json": FileStat(1, 1, 9),
            "e.json": FileStat(1, 1, 5),
        }
    )
    diff = after.diff(before)
    assert diff == SnapshotDiff(
        added=frozenset({"e.json"}), removed=frozenset({"d.json"}), changed=frozenset({"b.json", "c.json"})
    )
    assert diff.to_read == {"b.json", "c.json", "e.json"}
    assert not after.diff(after)


def test_valid_files_are_in_force_and_become_last_good():
    res = reconcile({"a.json": spec("a", "a.json"), "b.json": spec("b", "b.json")}, {})
    assert set(res.bundles) == {"a", "b"}
    assert res.last_good == {"a.json": spec("a", "a.json"), "b.json": spec("b", "b.json")}
    assert not res.errors


def test_invalid_file_keeps_its_last_good_definition_in_force():
    good = spec("a", "a.json")
    res = reconcile({"a.json": FileError("a.json", "a.json: malformed JSON")}, {"a.json": good})
    assert res.bundles == {"a": good}
    assert res.last_good == {"a.json": good}
    assert res.errors["a.json"].message == "a.json: malformed JSON"
    assert res.stale_files == {"a.json"}


def test_invalid_file_without_last_good_contributes_nothing():
    res = reconcile({"a.json": FileError("a.json", "bad")}, {})
    assert res.bundles == {}
    assert set(res.errors) == {"a.json"}


def test_deleted_file_drops_its_bundle_and_its_last_good():
    res = reconcile({}, {"a.json": spec("a", "a.json")})
    assert res.bundles == {}
    assert res.last_good == {}


def test_static_list_wins_over_a_file_with_the_same_name():
    res = reconcile({"a.json": spec("shared", "a.json")}, {}, static_names={"shared"})
    assert res.bundles == {}
    assert "dag_bundle_config_list" in res.errors["a.json"].message


def test_a_fresh_file_wins_over_a_stale_last_good_claiming_its_name():
    # A last good definition saved before names had to equal file stems must not block the file
    # that now owns the name (attack: team-a.json claiming team-b, then turning invalid).
    stale = {"team-a.json": spec("team-b", "team-a.json", "/evil")}
    parsed = {"team-a.json": FileError("team-a.json", "bad"), "team-b.json": spec("team-b", "team-b.json")}
    res = reconcile(parsed, stale)
    assert res.bundles["team-b"].source == "team-b.json"


def test_an_unusable_last_good_definition_stands_in_for_nothing_and_says_why():
    last = {"a.json": spec("a", "a.json")}
    res = reconcile({"a.json": FileError("a.json", "a.json: bad")}, last, usable=lambda s: "policy narrowed")
    assert res.bundles == {}
    assert (
        res.errors["a.json"].message
        == "a.json: bad; its last good definition cannot stand in: policy narrowed"
    )
    assert res.last_good == last  # kept on record: a wider policy brings it back


@pytest.mark.parametrize("moved", [True, False])
def test_changed_bundles_compares_definitions_not_files(moved):
    before = {"x": spec("x", "a.json"), "y": spec("y", "y.json"), "z": spec("z", "z.json")}
    after = {
        "x": spec("x", "b.json" if moved else "a.json"),
        "y": spec("y", "y.json", "/other"),
        "w": spec("w", "w.json"),
    }
    added, removed, changed = changed_bundles(before, after)
    assert (added, removed, changed) == ({"w"}, {"z"}, {"y"})
