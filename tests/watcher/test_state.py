"""Watcher state files: keyed by directory and shard, corrupt state reads as empty."""

from __future__ import annotations

from airflow_bundles_ext.core.bundle_config import BundleSpec
from airflow_bundles_ext.watcher.state import (
    LastGoodStore,
    Ownership,
    OwnershipStore,
    shard_key,
    state_dir_for,
)


def test_state_dirs_differ_per_watched_directory_state_id_and_shard(tmp_path):
    a, b = state_dir_for(tmp_path, tmp_path / "conf-a"), state_dir_for(tmp_path, tmp_path / "conf-b")
    assert a != b and a.parent == tmp_path and a.name.startswith("conf-a-")
    # Two deployments mounting their directories at the same path, sharing one state volume.
    prod, staging = (state_dir_for(tmp_path, tmp_path / "conf-a", i) for i in ("prod", "staging"))
    assert len({a, prod, staging}) == 3 and prod.name.startswith("conf-a-")
    assert shard_key(None) == shard_key([]) == "all"
    assert shard_key(["y", "x"]) == shard_key(["x", "y"]) != shard_key(["x"])


def test_last_good_round_trips_and_corrupt_state_reads_as_empty(tmp_path):
    spec = BundleSpec(name="a", classpath="mod.Cls", kwargs={"path": "/d"}, source="a.json")
    LastGoodStore(tmp_path).save({"a.json": spec})
    assert LastGoodStore(tmp_path).load() == {"a.json": spec}
    (tmp_path / "last_good.json").write_text("{corrupt")
    assert LastGoodStore(tmp_path).load() == {}


def test_read_only_store_never_writes(tmp_path):
    spec = BundleSpec(name="a", classpath="mod.Cls", kwargs={}, source="a.json")
    LastGoodStore(tmp_path, writable=False).save({"a.json": spec})
    assert not (tmp_path / "last_good.json").exists()


def test_ownership_round_trips(tmp_path):
    store = OwnershipStore(tmp_path, "all")
    store.save(Ownership(owned={"a": "a.json", "s": "static"}, removed={"old": 12.5}))
    assert store.load() == Ownership(owned={"a": "a.json", "s": "static"}, removed={"old": 12.5})
    assert OwnershipStore(tmp_path, "other").load() == Ownership()


def test_corrupt_owner_file_reads_as_empty(tmp_path):
    store = OwnershipStore(tmp_path, "all")
    store.path.write_text('{"owned": {"a": "a.json"}, "removed": {"x": "yesterday"}}')
    assert store.load() == Ownership()
    store.path.write_text('{"owned": {}, "removed": {"x": [1]}}')
    assert store.load() == Ownership()


def test_a_reader_reloads_last_good_only_when_the_file_changed(tmp_path):
    spec = BundleSpec(name="a", classpath="mod.Cls", kwargs={"path": "/d"}, source="a.json")
    reader = LastGoodStore(tmp_path, writable=False)
    assert reader.load() == {}
    assert reader.reload_if_changed() is None
    LastGoodStore(tmp_path).save({"a.json": spec})
    assert reader.reload_if_changed() == {"a.json": spec}
    assert reader.reload_if_changed() is None
