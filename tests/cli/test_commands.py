"""``airflow bundles-ext validate`` through the real ``airflow`` CLI in a subprocess."""

from __future__ import annotations

import json

from airflow_bundles_ext.watcher.demo import write_bundle_file


def _rows(stdout: str) -> list[dict[str, str]]:
    start = 0 if stdout.startswith("[") else stdout.index("\n[") + 1
    return json.loads(stdout[start:])


S3 = "airflow_bundles_ext.bundles.s3.S3DagBundle"


def s3_file(conf, name, file_name=None, **kwargs):
    return write_bundle_file(
        conf, name, S3, {"bucket_name": "b", "prefix": name, **kwargs}, file_name=file_name
    )


def test_validate_reports_every_file_and_fails_on_any_invalid_one(airflow_env, tmp_path):
    conf = tmp_path / "conf"
    s3_file(conf, "team-a")
    s3_file(conf, "team-b", file_name="team-a-copy.json")  # claims another team's name
    s3_file(conf, "team-c", aws_conn_id="aws_platform_admin")
    write_bundle_file(conf, "evil", "subprocess.Popen", {"args": ["true"]})
    write_bundle_file(conf, "local", kwargs={"path": "/"})  # LocalDagBundle: not allowed by default
    s3_file(conf, "static-one")
    (conf / "broken.json").write_text("{")
    (conf / ".hidden.json").write_text("{")  # hidden and temp files are never read
    airflow_env.set_bundles(
        [
            {
                "name": "static-one",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {},
            }
        ]
    )

    proc = airflow_env.airflow("bundles-ext", "validate", str(conf), "-o", "json", check=False)

    assert proc.returncode == 1, proc.stderr[-2000:]
    rows = {r["file"]: r for r in _rows(proc.stdout)}
    assert set(rows) == {
        "team-a.json",
        "team-a-copy.json",
        "team-c.json",
        "evil.json",
        "local.json",
        "static-one.json",
        "broken.json",
    }
    assert rows["team-a.json"]["status"] == "ok" and rows["team-a.json"]["bundle"] == "team-a"
    assert rows["team-a.json"]["tenant"] == "default"
    assert "differs from the file name" in rows["team-a-copy.json"]["error"]
    assert "connection 'aws_platform_admin' is not granted" in rows["team-c.json"]["error"]
    assert "may not be used in a bundle file" in rows["evil.json"]["error"]
    assert "may not be used in a bundle file" in rows["local.json"]["error"]
    assert "dag_bundle_config_list, which wins" in rows["static-one.json"]["error"]
    assert "malformed JSON" in rows["broken.json"]["error"]


def test_validate_passes_a_clean_directory_and_prints_a_table(airflow_env, tmp_path):
    conf = tmp_path / "conf"
    s3_file(conf, "team-a")

    proc = airflow_env.airflow("bundles-ext", "validate", str(conf))

    header = next(line for line in proc.stdout.splitlines() if line.startswith("file "))
    assert header.split() == ["file", "bundle", "tenant", "status", "error"]
    assert any(
        line.split()[:4] == ["team-a.json", "team-a", "default", "ok"] for line in proc.stdout.splitlines()
    )


def test_validate_with_an_invalid_policy_file_names_the_file_and_key(airflow_env, tmp_path):
    conf = tmp_path / "conf"
    s3_file(conf, "team-a")
    policy = tmp_path / "policy.json"
    policy.write_text('{"tenants": {"t": {"files": ["a.json"], "caps": {"max_files": -1}}}}')

    proc = airflow_env.airflow(
        "bundles-ext", "validate", str(conf), check=False, AIRFLOW__BUNDLES_EXT__TENANCY_POLICY=str(policy)
    )

    assert proc.returncode != 0
    assert f"invalid tenancy policy {policy}: key tenants.t.caps.max_files" in proc.stdout + proc.stderr


def test_validate_without_a_directory_explains_what_to_pass(airflow_env):
    proc = airflow_env.airflow("bundles-ext", "validate", check=False)
    assert proc.returncode != 0
    assert "dag_bundle_config_path is not set" in proc.stdout + proc.stderr
