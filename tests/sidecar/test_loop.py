"""RUN_MODE=sidecar: the loop, its health file, MAX_FAILURES and signals, through the console script."""

from __future__ import annotations

import signal
import time

from tests.sidecar.conftest import PREFIX, bundle_json

TEAMS = ("team-a", "team-b", "team-c")


def _no_temp_files(rig) -> list[str]:
    return [p.name for p in rig.dir.iterdir() if p.name.endswith(".tmp")]


def test_loop_rewrites_only_the_changed_file_deletes_gone_ones_and_keeps_the_good_copy(rig):
    for team in TEAMS:
        rig.put(f"{team}.json", bundle_json(team))
    sidecar = rig.start()
    first = sidecar.wait_cycle_after(0)
    assert first["files"] == 3
    before = rig.stamps()

    rig.put("team-b.json", bundle_json("team-b", path="/dags/v2"))
    sidecar.wait_for(
        lambda: rig.files()["team-b.json"] == bundle_json("team-b", path="/dags/v2"), what="team-b"
    )
    sidecar.wait_cycle_after(sidecar.health()["cycle"])  # and a quiet cycle after it
    after = rig.stamps()
    assert after["team-b.json"] != before["team-b.json"]
    assert {k: after[k] for k in ("team-a.json", "team-c.json")} == {
        k: before[k] for k in ("team-a.json", "team-c.json")
    }

    rig.delete("team-c.json")
    sidecar.wait_for(lambda: "team-c.json" not in rig.files(), what="team-c.json deleted")

    rig.put("team-a.json", b'{"name": "team-a", "classpath": ')  # a broken upload
    sidecar.wait_for(
        lambda: any(
            r["key"] == PREFIX + "team-a.json" for r in (sidecar.health() or {}).get("rejections", [])
        ),
        what="team-a.json reported as refused",
    )
    assert rig.files()["team-a.json"] == bundle_json("team-a")
    assert rig.stamps()["team-a.json"] == before["team-a.json"]
    rig.s3.reset_counts()
    sidecar.wait_cycle_after(sidecar.health()["cycle"] + 1)
    assert rig.s3.counts().op("GetObject") == 0  # the refused version is not fetched again

    assert sidecar.stop() == 0
    assert _no_temp_files(rig) == []


def test_after_max_failures_the_health_file_stops_and_the_process_exits_1(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    sidecar = rig.start(MAX_FAILURES="3", AWS_MAX_ATTEMPTS="2")
    sidecar.wait_cycle_after(0)
    rig.s3.add_faults({"op": "ListObjectsV2", "times": -1, "status": 503, "code": "ServiceUnavailable"})
    rig.s3.reset_counts()
    # Cycles run one after another: once a failing listing is seen, any earlier cycle is done.
    sidecar.wait_for(lambda: rig.s3.counts().op("ListObjectsV2") >= 1, what="a failing listing")
    last_good = (rig.health_file.stat().st_mtime_ns, rig.health()["cycle"])

    assert sidecar.wait_exit(timeout=60) == 1

    assert (rig.health_file.stat().st_mtime_ns, rig.health()["cycle"]) == last_good
    listings = rig.s3.counts().op("ListObjectsV2")
    # MAX_FAILURES cycles, each tried AWS_MAX_ATTEMPTS times (one may fall before the count reset)
    assert listings in (3 * 2 - 1, 3 * 2)
    assert rig.files() == {"team-a.json": bundle_json("team-a")}


def test_sigterm_stops_within_5_seconds_while_waiting_for_the_next_cycle(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    sidecar = rig.start(interval=600)
    sidecar.wait_cycle_after(0)
    started = time.monotonic()
    sidecar.proc.send_signal(signal.SIGTERM)
    assert sidecar.wait_exit(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert _no_temp_files(rig) == []


def test_sigint_stops_within_5_seconds_during_a_hung_request_and_writes_nothing(rig):
    rig.put("team-a.json", bundle_json("team-a"))
    sidecar = rig.start()
    sidecar.wait_cycle_after(0)
    # Hang every listing first, then upload: no cycle can list team-b.json before it hangs.
    rig.s3.reset_counts()
    rig.s3.add_faults({"op": "ListObjectsV2", "times": -1, "action": "delay", "seconds": 30})
    rig.put("team-b.json", bundle_json("team-b"))
    sidecar.wait_for(lambda: rig.s3.counts().op("ListObjectsV2") >= 1, what="a hung listing")
    started = time.monotonic()
    sidecar.proc.send_signal(signal.SIGINT)
    assert sidecar.wait_exit(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert list(rig.files()) == ["team-a.json"]
    rig.s3.clear_faults()
