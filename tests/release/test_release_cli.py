"""``airflow-bundle-release publish | rollback | list`` through the real console script, against
the moto server with request counting and fault injection."""

from __future__ import annotations

import json

from airflow_bundles_ext.release import EXIT_CONFLICT, EXIT_NO_CAS, EXIT_USAGE
from tests.release.conftest import BUCKET, ROOT
from tests.rig.airflow_env import wait_for

POINTER = "etls/project-a/dags/_releases/current.json"
FILES = {f"team/{i:02}.py": f"x = {i}\n" for i in range(10)}


def test_publish_uploads_every_object_once_then_writes_the_pointer_last(release):
    release.write(FILES)
    first = release.publish()
    assert first.code == 0, first.stderr
    assert first.out["changed"] and first.out["previous"] is None
    assert first.out["objects"] == {"total": 10, "uploaded": 10, "skipped": 0}
    pointer = json.loads(release.client.get_object(Bucket=BUCKET, Key=POINTER)["Body"].read())
    assert pointer["version"] == first.out["version"]
    keys = release.keys("etls/project-a/dags/_releases/")
    assert f"etls/project-a/dags/_releases/manifests/{first.out['version']}.json" in keys
    assert f"etls/project-a/dags/_releases/archives/{first.out['version']}.tar.zst" in keys
    assert not [k for k in keys if ".cas-probe" in k]  # the probe cleans up after itself


def test_publishing_an_unchanged_tree_puts_nothing_and_one_changed_file_puts_one_object(release):
    release.write(FILES)
    v1 = release.publish().out["version"]
    release.s3.reset_counts()
    unchanged = release.publish()
    assert unchanged.code == 0 and not unchanged.out["changed"] and unchanged.out["version"] == v1
    assert release.s3.counts().requests == {"GET:GetObject": 1}  # the pointer only
    release.write({"team/03.py": "changed = 1\n"})
    release.s3.reset_counts()
    one = release.publish("--expect-current", v1)
    assert one.code == 0 and one.out["objects"] == {"total": 10, "uploaded": 1, "skipped": 9}
    object_puts = [k for k in release.keys("etls/project-a/dags/_releases/objects/")]
    assert len(object_puts) == 11


def test_expect_current_refuses_to_replace_a_newer_release(release):
    release.write(FILES)
    v1 = release.publish().out["version"]
    release.write({"team/00.py": "newer = 1\n"})
    v2 = release.publish("--expect-current", v1).out["version"]
    release.write({"team/00.py": "older pipeline run\n"})
    stale = release.publish("--expect-current", v1)
    assert stale.code == EXIT_CONFLICT and f"the current release is {v2}, not {v1}" in stale.stderr
    pointer = json.loads(release.client.get_object(Bucket=BUCKET, Key=POINTER)["Body"].read())
    assert pointer["version"] == v2


def test_two_pipelines_racing_for_the_pointer_one_wins_and_the_other_replaces_nothing(release):
    release.write(FILES)
    v1 = release.publish().out["version"]
    release.write({"team/00.py": "pipeline a\n"})
    # Pipeline A read the pointer (v1); its pointer PUT is held at the server while B publishes.
    release.s3.add_faults(
        {"op": "PutObject", "key": r"current\.json$", "action": "hold", "name": "a", "times": 1}
    )
    a = release.start("publish", str(release.tree), ROOT, "--expect-current", v1)
    try:
        wait_for(lambda: release.s3.held("a") == 1, timeout=60, what="A held at its pointer PUT")
        release.write({"team/00.py": "pipeline b\n"})
        b = release.publish("--expect-current", v1)
    finally:
        release.s3.release("a")
    out, err = a.communicate(timeout=60)
    assert b.code == 0, b.stderr
    assert a.returncode == EXIT_CONFLICT and "another pipeline moved the pointer" in err, err
    pointer = json.loads(release.client.get_object(Bucket=BUCKET, Key=POINTER)["Body"].read())
    assert pointer["version"] == b.out["version"] and pointer["previous"] == v1


def test_an_endpoint_that_ignores_conditional_writes_is_refused_unless_no_cas(release):
    release.write(FILES)
    release.s3.add_faults({"op": "PutObject", "action": "ignore-conditions", "times": -1})
    refused = release.publish()
    assert refused.code == EXIT_NO_CAS and "--no-cas" in refused.stderr
    assert not release.keys(POINTER)
    forced = release.publish("--no-cas")
    assert forced.code == 0 and release.keys(POINTER) == [POINTER]


def test_rollback_moves_the_pointer_back_and_list_says_which_is_current(release):
    release.write(FILES)
    v1 = release.publish().out["version"]
    release.write({"team/00.py": "v2\n"})
    v2 = release.publish().out["version"]
    back = release.run("rollback", ROOT, v1, "--expect-current", v2)
    assert back.code == 0 and back.out == {
        "changed": True,
        "pointer": f"s3://{BUCKET}/{POINTER}",
        "previous": v2,
        "version": v1,
    }
    listing = release.run("list", ROOT)
    assert listing.out["current"] == v1
    assert [(r["version"], r["current"]) for r in listing.out["releases"]] == [(v1, True), (v2, False)]
    unknown = release.run("rollback", ROOT, "0" * 32)
    assert unknown.code == 1 and "NoSuchKey" in unknown.stderr


def test_bad_arguments_exit_2_naming_what_to_pass(release):
    bad = release.run("publish", str(release.tree), "gs://elsewhere/x")
    assert bad.code == EXIT_USAGE and "expected s3://BUCKET/PREFIX" in bad.stderr


def test_airflow_bundles_ext_releases_lists_a_release_mode_bundles_releases(release, airflow_env):
    release.write(FILES)
    v1 = release.publish().out["version"]
    release.write({"team/00.py": "v2\n"})
    v2 = release.publish().out["version"]
    airflow_env.extra_env.update(release.s3.client_env())
    kwargs = {"bucket_name": BUCKET, "prefix": "etls/project-a/dags", "release_mode": True}
    airflow_env.set_bundles(
        [{"name": "rel", "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle", "kwargs": kwargs}]
    )

    proc = airflow_env.airflow("bundles-ext", "releases", "rel", "-o", "json")

    out = proc.stdout
    rows = json.loads(out[0 if out.startswith("[") else out.index("\n[") + 1 :])
    assert [(r["version"], r["current"]) for r in rows] == [(v1, "False"), (v2, "True")]
    other = airflow_env.airflow("bundles-ext", "releases", "nope", check=False)
    assert other.returncode != 0 and "not configured" in other.stdout + other.stderr
