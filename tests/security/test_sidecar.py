"""Attacks through the config prefix that every team can write: the real ``airflow-bundle-sync``
console script against the moto server. One team's object must never stop the others' files."""

from __future__ import annotations

import json

from tests.security.conftest import SECRET
from tests.sidecar.conftest import PREFIX, bundle_json


def synced_beside(rig, attack: str, data: bytes, **faults) -> dict:
    """Put a good file and an attack object, run one cycle, return the health record."""
    rig.put("team-a.json", bundle_json("team-a"))
    rig.put(attack, data)
    if faults:
        rig.s3.add_faults({"op": "GetObject", "key": attack, "times": -1, **faults})
    proc = rig.once()
    assert proc.returncode == 0, proc.stderr
    assert list(rig.files()) == ["team-a.json"], "the good file was not synced"
    return {r["key"]: r["reason"] for r in rig.health()["rejections"]} | {"_stderr": proc.stderr}


def test_a_deeply_nested_object_is_refused_alone_and_the_cycle_completes(rig):
    health = synced_beside(rig, "nested.json", b"[" * 200_000)
    assert "nested deeper than 16 levels" in health[PREFIX + "nested.json"]


def test_an_object_with_a_huge_integer_is_refused_alone(rig):
    health = synced_beside(rig, "bigint.json", b'{"n": ' + b"9" * 5000 + b"}")
    assert "undecodable JSON" in health[PREFIX + "bigint.json"]


def test_a_per_object_4xx_refuses_that_object_only(rig):
    health = synced_beside(rig, "team-k.json", bundle_json("team-k"), status=400, code="InvalidRequest")
    assert "InvalidRequest" in health[PREFIX + "team-k.json"]


def test_an_object_served_larger_than_listed_is_read_with_a_hard_limit(rig):
    size = 64 * 1024 * 1024
    rig.s3.reset_counts()
    health = synced_beside(rig, "team-z.json", bundle_json("team-z"), action="inflate", bytes=size)
    assert "over the 1048576 byte limit" in health[PREFIX + "team-z.json"]
    assert rig.s3.counts().bytes_out < size // 4, "the sidecar read far more than the limit"


def test_a_file_naming_another_teams_bundle_is_refused_even_from_an_empty_directory(rig):
    # team-a.json claims team-b: refused whatever the directory holds (after a restart it is empty),
    # so the processor never sees two definitions of team-b.
    rig.put("team-b.json", bundle_json("team-b"))
    rig.put("team-a.json", bundle_json("team-b", path="/evil"))
    for _ in range(2):
        proc = rig.once()
        assert proc.returncode == 0, proc.stderr
        assert rig.files() == {"team-b.json": bundle_json("team-b")}
        for entry in rig.dir.iterdir():
            entry.unlink()  # a restarted sidecar with an emptyDir
    assert "differs from the file name" in rig.health()["rejections"][0]["reason"]


def test_log_lines_cannot_be_forged_with_control_characters_in_a_key(rig):
    forged = "x\r\x1b[2K2026-01-01T00:00:00Z info file written file=team-a.json"
    rig.put("team-a.json", bundle_json("team-a"))
    rig.put(forged, bundle_json("x"))
    proc = rig.once()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert not any("\r" in line or "\x1b" in line for line in lines)
    refused = [line for line in lines if "object refused" in line]
    assert len(refused) == 1 and "\\x0d\\x1b[2K" in refused[0].replace("\\\\", "\\")


def test_no_secret_of_a_refused_object_is_written_anywhere(rig):
    body = json.dumps(
        {
            "name": "team-t",
            "classpath": "airflow_bundles_ext.bundles.git.GitDagBundle",
            "kwargs": {"repo_url": f"https://bot:{SECRET}@github.com/a/r.git", "tracking_ref": "main"},
        }
    ).encode()
    health = synced_beside(rig, "team-t.json", body)
    assert "credentials inside repo_url" in health[PREFIX + "team-t.json"]
    assert SECRET not in rig.health_file.read_text() and SECRET not in health["_stderr"]
    assert all(SECRET.encode() not in p.read_bytes() for p in rig.dir.iterdir())


def test_the_sidecar_applies_the_platforms_policy_file_like_the_watcher(rig, tmp_path):
    policy = tmp_path / "tenancy-policy.json"
    policy.write_text(
        json.dumps(
            {
                "tenants": {
                    "teams": {
                        "files": ["{team}.json"],
                        "conn_ids": ["aws_{team}"],
                        "s3": [{"bucket": "dags", "prefixes": ["{team}"]}],
                    }
                },
                "default": None,
            }
        )
    )
    granted = json.loads(bundle_json("team-a", path="team-a"))
    granted["kwargs"]["aws_conn_id"] = "aws_team-a"
    rig.put("team-a.json", json.dumps(granted).encode())
    reaching = json.loads(bundle_json("team-b", path="team-a"))  # another team's prefix
    reaching["kwargs"]["aws_conn_id"] = "aws_team-b"
    rig.put("team-b.json", json.dumps(reaching).encode())

    proc = rig.once(AIRFLOW__BUNDLES_EXT__TENANCY_POLICY=str(policy))

    assert proc.returncode == 0, proc.stderr
    assert list(rig.files()) == ["team-a.json"]
    [refusal] = rig.health()["rejections"]
    assert "s3://dags/team-a is not granted" in refusal["reason"] and "tenant 'teams'" in refusal["reason"]

    policy.write_text('{"tenants": {"teams": {"files": []}}}')
    proc = rig.once(AIRFLOW__BUNDLES_EXT__TENANCY_POLICY=str(policy))
    assert proc.returncode == 2 and "key tenants.teams.files" in proc.stderr
