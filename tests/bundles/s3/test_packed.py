"""Packed versions: a fresh worker (or a processor starting cold) gets a version with two GETs,
verified file by file; a missing, corrupt or truncated archive falls back to one GET per object."""

from __future__ import annotations

import os
import signal

import pytest

from airflow_bundles_ext import archive
from airflow_bundles_ext.core import manifest as mf
from tests.bundles.s3.conftest import Bucket, start_bundle, tree
from tests.rig.airflow_env import wait_for

FILES = {f"pkg/{i:03}.py": f"x = {i}\n" * 20 for i in range(40)}


def built(bucket, make_bundle, files=FILES):
    bucket.put(files)
    processor = make_bundle()
    processor.initialize()
    return processor, processor.get_current_version().version


def test_the_processor_stores_one_archive_per_new_version_next_to_its_manifest(s3, bucket, make_bundle):
    processor, v1 = built(bucket, make_bundle)
    keys = bucket.keys("_airflow_bundles_ext/")
    assert keys == [processor.manifest_key(v1), processor.archive_key(v1)]
    bucket.put({"pkg/000.py": "changed\n"})
    s3.reset_counts()
    processor.refresh()
    counts = s3.counts()
    assert (counts.op("GetObject"), counts.op("PutObject")) == (1, 2)  # the change; manifest + archive
    processor.refresh()  # no change: no new archive
    assert len(bucket.keys("_airflow_bundles_ext/")) == 4


def test_a_fresh_worker_gets_an_old_version_in_two_requests_on_an_unversioned_bucket(
    s3, bucket, make_bundle, fresh_root
):
    processor, v1 = built(bucket, make_bundle)
    bucket.put({k: "rewritten\n" for k in FILES})  # every object changed: only the archive has v1
    processor.refresh()
    fresh_root()
    s3.reset_counts()
    worker = make_bundle(version=v1)
    worker.initialize()
    assert tree(worker.path) == {k: v.encode() for k, v in FILES.items()}
    assert s3.counts().total == 2 and s3.counts().op("GetObject") == 2  # manifest, archive


@pytest.mark.parametrize("damage", ["missing", "corrupt", "truncated", "wrong content"])
def test_a_damaged_archive_falls_back_to_one_get_per_object(s3, make_bundle, fresh_root, damage):
    bucket = Bucket(s3, versioned=True)
    processor, v1 = built(bucket, make_bundle)
    key = processor.archive_key(v1)
    good = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
    if damage == "missing":
        bucket.client.delete_object(Bucket=bucket.name, Key=key)
    elif damage == "corrupt":
        bucket.client.put_object(Bucket=bucket.name, Key=key, Body=b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    elif damage == "truncated":
        bucket.client.put_object(Bucket=bucket.name, Key=key, Body=good[: len(good) // 2])
    else:  # a valid archive of other content under this version's key
        other = processor.base_dir / "other"
        (other / "pkg").mkdir(parents=True)
        entries = []
        for path in FILES:
            (other / path).write_text("evil = 1\n")
            entries.append(mf.Entry(path, "e", len("evil = 1\n")))
        archive.pack(other, mf.manifest_of(entries), processor.base_dir / "evil.tar.zst")
        bucket.client.put_object(
            Bucket=bucket.name, Key=key, Body=(processor.base_dir / "evil.tar.zst").read_bytes()
        )
    fresh_root()
    s3.reset_counts()
    worker = make_bundle(version=v1)
    worker.initialize()
    assert tree(worker.path) == {k: v.encode() for k, v in FILES.items()}
    assert s3.counts().op("GetObject") == 2 + len(FILES)  # manifest, the archive tried, each object
    assert list((worker.base_dir / ".staging").iterdir()) == []


def test_a_processor_starting_cold_uses_the_archive(s3, bucket, make_bundle, fresh_root):
    built(bucket, make_bundle)
    fresh_root("second-processor")
    s3.reset_counts()
    cold = make_bundle()
    cold.initialize()
    counts = s3.counts()
    assert tree(cold.path) == {k: v.encode() for k, v in FILES.items()}
    assert (counts.op("ListObjectsV2"), counts.op("GetObject"), counts.op("PutObject")) == (1, 2, 0)


def test_a_processor_killed_while_storing_an_archive_leaves_none_a_worker_would_trust(
    s3, bucket, make_bundle, fresh_root
):
    bucket.put(FILES)
    s3.reset_counts()
    s3.add_faults({"op": "PutObject", "key": r"\.tar\.zst$", "action": "delay", "seconds": 30, "times": 1})
    proc = start_bundle("--name", "s3dags", "--bucket", "dag-bucket", "--max-workers", "4")
    try:
        wait_for(
            lambda: s3.counts().op("PutObject") >= 2 or proc.poll() is not None,
            timeout=90,
            what="archive PUT",
        )
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    s3.clear_faults()
    keys = bucket.keys("_airflow_bundles_ext/")
    assert len(keys) == 1 and keys[0].endswith(".json")  # the manifest; no archive object at all
    version = keys[0].rsplit("/", 1)[1][: -len(".json")]
    fresh_root()
    worker = make_bundle(version=version)
    worker.initialize()  # falls back to objects
    assert tree(worker.path) == {k: v.encode() for k, v in FILES.items()}
