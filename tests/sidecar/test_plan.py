"""The pure diff and review of a cycle, with plain data."""

from __future__ import annotations

import json

import pytest

from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES, Allowlist
from airflow_bundles_ext.core.manifest import Listed
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.errors import EmptySourceRefusedError, UnsafePathError
from airflow_bundles_ext.sidecar.plan import (
    Download,
    LocalFile,
    Rejection,
    Target,
    file_name_for,
    md5_hex,
    plan_cycle,
    review,
)

S3 = "airflow_bundles_ext.bundles.s3.S3DagBundle"
DEFAULT = TenancyPolicy()
P = "cfg/"


def body(name: str, classpath: str = S3) -> bytes:
    return json.dumps({"name": name, "classpath": classpath, "kwargs": {"bucket_name": "dags"}}).encode()


def obj(name: str, data: bytes, etag: str | None = None) -> Listed:
    return Listed(P + name, etag or md5_hex(data), len(data))


def plan(listing, local=None, remembered=None, allow_empty=False):
    return plan_cycle(
        listing, local or {}, remembered or {}, prefix=P, allow_empty=allow_empty, source="s3://b/cfg/"
    )


def test_file_name_for_maps_flat_json_keys_and_ignores_other_keys():
    assert file_name_for("cfg/team-a.json", P) == "team-a.json"
    assert file_name_for("cfg/", P) is None  # folder marker
    assert file_name_for("cfg/README.md", P) is None
    assert file_name_for("cfg/.hidden.json", P) is None
    assert file_name_for("cfg/a.json.tmp", P) is None
    assert file_name_for("cfg/sub/README.md", P) is None


@pytest.mark.parametrize("key", ["cfg/sub/a.json", "cfg/a b.json", "cfg/-x.json", "cfg/a..b.json"])
def test_file_name_for_refuses_nested_and_unsafe_bundle_keys(key):
    with pytest.raises(UnsafePathError):
        file_name_for(key, P)


def test_new_objects_are_fetched_and_local_files_in_step_by_recorded_etag_are_not():
    a, b = body("a"), body("b")
    local = {"a.json": LocalFile("a.json", md5_hex(a), len(a), synced_etag="kms-etag-a")}
    result = plan([obj("a.json", a, etag="kms-etag-a"), obj("b.json", b)], local)
    assert [t.name for t in result.fetch] == ["b.json"]
    assert [t.name for t in result.in_step] == ["a.json"]
    assert result.delete == ()


def test_changed_etag_is_fetched_even_when_size_is_the_same():
    a = body("a")
    local = {"a.json": LocalFile("a.json", md5_hex(a), len(a), synced_etag="old")}
    assert [t.etag for t in plan([obj("a.json", a, etag="new")], local).fetch] == ["new"]


def test_without_a_record_a_single_part_etag_equal_to_the_local_md5_is_in_step():
    a = body("a")
    local = {"a.json": LocalFile("a.json", md5_hex(a), len(a))}
    assert [t.name for t in plan([obj("a.json", a)], local).in_step] == ["a.json"]
    multipart = plan([obj("a.json", a, etag=md5_hex(a) + "-2")], local)
    assert [t.name for t in multipart.fetch] == ["a.json"]


def test_local_files_missing_from_the_listing_are_deleted():
    a, b = body("a"), body("b")
    local = {n: LocalFile(n, md5_hex(d), len(d)) for n, d in (("a.json", a), ("b.json", b))}
    assert plan([obj("a.json", a)], local).delete == ("b.json",)


def test_listing_without_bundle_files_refuses_to_delete_everything_unless_allowed():
    local = {"a.json": LocalFile("a.json", md5_hex(body("a")), len(body("a")))}
    readme = Listed(P + "README.md", "e", 3)
    with pytest.raises(EmptySourceRefusedError, match="ALLOW_EMPTY"):
        plan([readme], local)
    assert plan([readme], local, allow_empty=True).delete == ("a.json",)
    assert plan([], {}).delete == ()  # nothing local: an empty listing is just empty


def test_oversize_nested_and_remembered_objects_are_rejected_without_a_get():
    big = Listed(P + "big.json", "e1", MAX_FILE_BYTES + 1)
    nested = Listed(P + "team/x.json", "e2", 10)
    bad = Listed(P + "bad.json", "e3", 10)
    remembered = {bad.key: Rejection(bad.key, "e3", "malformed")}
    result = plan([big, nested, bad], remembered=remembered)
    assert result.fetch == ()
    assert {r.key for r in result.rejected} == {big.key, nested.key, bad.key}
    changed = plan([Listed(bad.key, "e4", 10)], remembered=remembered)
    assert [t.key for t in changed.fetch] == [bad.key]  # a new version is looked at again


def test_review_refuses_invalid_bodies_and_names_the_key_and_reason():
    bad_json = Download(Target("a.json", "cfg/a.json", "e1"), b"{nope", "e1")
    disallowed = Download(Target("b.json", "cfg/b.json", "e2"), body("b", "evil.Bundle"), "e2")
    accepted, rejected = review([bad_json, disallowed], {}, bucket="bkt", policy=DEFAULT)
    assert accepted == []
    reasons = {r.key: r.reason for r in rejected}
    assert "s3://bkt/cfg/a.json" in reasons["cfg/a.json"] and "malformed JSON" in reasons["cfg/a.json"]
    assert "may not be used in a bundle file" in reasons["cfg/b.json"]
    custom = TenancyPolicy(allowlist=Allowlist.parse("evil.*"))
    accepted, _ = review([disallowed], {}, bucket="bkt", policy=custom)
    assert [a.target.name for a in accepted] == ["b.json"]


def test_review_marks_identical_content_unchanged_and_skips_vanished_objects():
    a = body("a")
    local = {"a.json": LocalFile("a.json", md5_hex(a), len(a))}
    same = Download(Target("a.json", "cfg/a.json", "e1"), a, "e1")
    gone = Download(Target("z.json", "cfg/z.json", "e9"), None, "e9")
    accepted, rejected = review([same, gone], local, bucket="b", policy=DEFAULT)
    assert [(x.target.name, x.changed) for x in accepted] == [("a.json", False)]
    assert rejected == []


def test_review_refuses_a_file_whose_bundle_name_is_not_its_stem():
    dup = Download(Target("b.json", "cfg/b.json", "e2"), body("team"), "e2")
    accepted, rejected = review([dup], {}, bucket="bkt", policy=DEFAULT)
    assert accepted == []
    assert "s3://bkt/cfg/b.json" in rejected[0].reason and "differs from the file name" in rejected[0].reason


def test_review_passes_on_a_refused_get_without_remembering_it():
    refused = Download(
        Target("a.json", "cfg/a.json", "e1"), None, "e1", refused="download refused: AccessDenied"
    )
    accepted, rejected = review([refused], {}, bucket="b", policy=DEFAULT)
    assert accepted == [] and rejected[0].reason.startswith("download refused") and not rejected[0].remember
