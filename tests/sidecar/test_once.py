"""RUN_MODE=once (the init container) and the probe, through the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.rig.moto import free_port
from tests.rig.sidecar import run_sync
from tests.sidecar.conftest import PREFIX, bundle_json

EVIL = "os.system"


def test_blocker_makes_an_airflow_import_fail_and_leaves_a_marker(rig):
    # Control for every other test here: the blocker really intercepts `import airflow`.
    env = rig.env()
    proc = subprocess.run([sys.executable, "-c", "import airflow"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "must not import airflow" in proc.stderr
    assert rig.marker.exists()
    rig.marker.unlink()


def test_once_syncs_valid_files_only_and_reports_the_rest_in_the_health_file(rig):
    for name in ("team-a", "team-b", "team-c"):
        rig.put(f"{name}.json", bundle_json(name))
    rig.put("broken.json", b'{"name": "broken",')
    rig.put("evil.json", bundle_json("evil", classpath=EVIL))
    rig.put("README.md", b"how to add a bundle")
    rig.put("nested/team-d.json", bundle_json("team-d"))
    rig.dir.mkdir()
    debris = rig.dir / ".team-a.json.4242.deadbeef.tmp"  # left by a killed sidecar
    debris.write_bytes(b"{")

    proc = rig.once()

    assert proc.returncode == 0, proc.stderr
    assert rig.files() == {f"{n}.json": bundle_json(n) for n in ("team-a", "team-b", "team-c")}
    health = rig.health()
    assert (health["objects"], health["written"], health["files"], health["ignored"]) == (5, 3, 3, 1)
    reasons = {r["key"]: r["reason"] for r in health["rejections"]}
    assert set(reasons) == {PREFIX + "broken.json", PREFIX + "evil.json", PREFIX + "nested/team-d.json"}
    assert f"s3://bundle-config/{PREFIX}broken.json" in reasons[PREFIX + "broken.json"]
    assert "malformed JSON" in reasons[PREFIX + "broken.json"]
    assert "may not be used in a bundle file" in reasons[PREFIX + "evil.json"]


def test_once_again_gets_nothing_and_rewrites_nothing_even_without_its_state_file(rig):
    for name in ("team-a", "team-b"):
        rig.put(f"{name}.json", bundle_json(name))
    assert rig.once().returncode == 0
    before = rig.stamps()
    for lose_state in (False, True):
        if lose_state:
            (rig.dir / ".airflow-bundle-sync.state").unlink()
        rig.s3.reset_counts()
        proc = rig.once()
        assert proc.returncode == 0, proc.stderr
        counts = rig.s3.counts()
        assert (counts.op("ListObjectsV2"), counts.op("GetObject")) == (1, 0)
        assert rig.stamps() == before


def test_allow_list_comes_from_the_watchers_setting_or_the_flag(rig):
    rig.put("custom.json", bundle_json("custom", classpath="my_company.bundles.Custom"))
    assert rig.once().returncode == 0
    assert rig.files() == {}
    proc = rig.once(AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS="my_company.bundles.*")
    assert proc.returncode == 0, proc.stderr
    assert list(rig.files()) == ["custom.json"]
    rig.put("other.json", bundle_json("other", classpath="other.Bundle"))
    assert rig.once("--allowed-classpaths", "other.Bundle,my_company.*").returncode == 0
    assert list(rig.files()) == ["custom.json", "other.json"]


def test_bad_settings_exit_2_naming_the_variable(rig):
    proc = rig.once(SYNC_INTERVAL="soon")
    assert proc.returncode == 2
    assert "SYNC_INTERVAL" in proc.stderr and "--interval" in proc.stderr
    env = rig.env()
    del env["BUNDLE_BUCKET"]
    proc = run_sync(env)
    assert proc.returncode == 2 and "BUNDLE_BUCKET" in proc.stderr
    assert not rig.dir.exists()


def test_once_exits_1_and_writes_nothing_when_the_endpoint_is_down(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    proc = rig.once(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="2")
    assert proc.returncode == 1
    assert rig.files() == {} and not rig.health_file.exists()


def test_a_failed_cycle_changes_nothing_on_disk(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    rig.put("team-b.json", bundle_json("team-b"))
    assert rig.once().returncode == 0
    before, health_before = rig.files(), rig.health_file.stat().st_mtime_ns
    rig.put("team-a.json", bundle_json("team-a", path="/dags/v2"))
    rig.put("team-b.json", bundle_json("team-b", path="/dags/v2"))
    rig.s3.add_faults(
        {"op": "GetObject", "key": "team-b", "times": -1, "status": 500, "code": "InternalError"}
    )

    proc = rig.once(AWS_MAX_ATTEMPTS="2")

    assert proc.returncode == 1
    assert rig.files() == before  # team-a was fetched fine, but is not written either
    assert rig.health_file.stat().st_mtime_ns == health_before


def test_throttling_and_cut_bodies_are_retried_within_the_cycle(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    rig.put("team-b.json", bundle_json("team-b"))
    rig.s3.add_faults(
        {"op": "ListObjectsV2", "times": 1, "status": 503, "code": "SlowDown"},
        {"op": "GetObject", "key": "team-a", "times": 2, "status": 503, "code": "SlowDown"},
        {"op": "GetObject", "key": "team-b", "times": 1, "action": "truncate"},
    )
    rig.s3.reset_counts()

    proc = rig.once()

    assert proc.returncode == 0, proc.stderr
    assert rig.files() == {"team-a.json": bundle_json("team-a"), "team-b.json": bundle_json("team-b")}
    counts = rig.s3.counts()
    assert counts.op("ListObjectsV2") == 2 and counts.op("GetObject") == 5


def test_an_empty_listing_deletes_nothing_unless_allowed(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    assert rig.once().returncode == 0
    rig.delete("team-a.json")
    proc = rig.once()
    assert proc.returncode == 1
    assert list(rig.files()) == ["team-a.json"]
    proc = rig.once(ALLOW_EMPTY="true")
    assert proc.returncode == 0, proc.stderr
    assert rig.files() == {}


def test_probe_fails_when_the_health_file_is_missing_or_stale(rig):
    env = rig.env()
    assert run_sync(env, "probe", "--max-age", "60").returncode == 1
    rig.put("team-a.json", bundle_json("team-a"))
    assert rig.once().returncode == 0
    fresh = run_sync(env, "probe", "--max-age", "60")
    assert fresh.returncode == 0, fresh.stderr
    old = time.time() - 120
    os.utime(rig.health_file, (old, old))
    stale = run_sync(env, "probe", "--max-age", "60")
    assert stale.returncode == 1 and "120s ago" in stale.stderr


def test_an_object_the_sidecar_may_not_read_is_refused_alone(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    rig.put("team-x.json", bundle_json("team-x"))
    rig.s3.add_faults(
        {"op": "GetObject", "key": "team-x", "times": -1, "status": 403, "code": "AccessDenied"}
    )

    proc = rig.once()

    assert proc.returncode == 0, proc.stderr
    assert list(rig.files()) == ["team-a.json"]
    [refusal] = rig.health()["rejections"]
    assert refusal["key"] == PREFIX + "team-x.json" and "AccessDenied" in refusal["reason"]
