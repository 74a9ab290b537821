"""Attacks on the S3 side of a bundle: a prefix that grows past the caps, an object served larger
than it was listed. The real bundle against the moto server over HTTP, with request counts."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.errors import S3SourceError, SourceLimitError


def test_a_prefix_over_the_file_or_byte_cap_is_refused_before_any_download(s3, bucket, make_bundle):
    bucket.put({"a.py": "a = 1\n"})
    b = make_bundle(max_files=3, max_bytes=10_000)
    b.initialize()
    first = b.get_current_version().version

    bucket.put({f"more{i}.py": "x\n" for i in range(4)})
    s3.reset_counts()
    with pytest.raises(SourceLimitError, match="5 files, cap max_files=3"):
        b.refresh()
    assert s3.counts().op("GetObject") == 0
    bucket.put({f"more{i}.py": None for i in range(4)} | {"big.bin": b"x" * 20_000})
    with pytest.raises(SourceLimitError, match="cap max_bytes=10000"):
        b.refresh()
    assert s3.counts().op("GetObject") == 0
    assert b.get_current_version().version == first


def test_an_object_served_larger_than_listed_is_cut_off_at_its_listed_size(s3, bucket, make_bundle):
    bucket.put({"a.py": "a = 1\n"})
    b = make_bundle(max_attempts=1)
    b.initialize()
    first = b.get_current_version().version
    bucket.put({"b.py": "b = 2\n"})
    size = 64 * 1024 * 1024
    s3.add_faults({"op": "GetObject", "key": "b.py", "times": -1, "action": "inflate", "bytes": size})
    s3.reset_counts()
    with pytest.raises(S3SourceError, match="SizeMismatch: served more than the 6 bytes listed"):
        b.refresh()
    assert s3.counts().bytes_out < size // 4
    assert b.get_current_version().version == first
    assert not any((b.base_dir / ".staging").glob("*"))  # nothing half-written left behind
