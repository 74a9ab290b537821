"""``airflow bundles-ext validate`` through the real ``airflow`` CLI in a subprocess."""

from __future__ import annotations

import json

from airflow_bundles_ext.watcher.demo import write_bundle_file


def _rows(stdout: str) -> list[dict[str, str]]:
    start = 0 if stdout.startswith("[") else stdout.index("\n[") + 1
    return json.loads(stdout[start:])


def test_validate_reports_every_file_and_fails_on_any_invalid_one(airflow_env, tmp_path):
    conf = tmp_path / "conf"
    write_bundle_file(conf, "team-a", kwargs={"path": str(tmp_path)})
    write_bundle_file(conf, "dup", kwargs={"path": str(tmp_path)}, file_name="team-a-copy.json")
    write_bundle_file(conf, "dup", kwargs={"path": str(tmp_path)}, file_name="team-b.json")
    write_bundle_file(conf, "evil", "subprocess.Popen", {"args": ["true"]})
    write_bundle_file(conf, "static-one", kwargs={"path": str(tmp_path)})
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
        "team-b.json",
        "evil.json",
        "static-one.json",
        "broken.json",
    }
    assert rows["team-a.json"]["status"] == "ok" and rows["team-a.json"]["bundle"] == "team-a"
    assert rows["team-a-copy.json"]["status"] == "ok"
    assert rows["team-b.json"]["status"] == "invalid"
    assert "already defined by team-a-copy.json" in rows["team-b.json"]["error"]
    assert "not on the allow-list" in rows["evil.json"]["error"]
    assert "dag_bundle_config_list, which wins" in rows["static-one.json"]["error"]
    assert "malformed JSON" in rows["broken.json"]["error"]


def test_validate_passes_a_clean_directory_and_prints_a_table(airflow_env, tmp_path):
    conf = tmp_path / "conf"
    write_bundle_file(conf, "team-a", kwargs={"path": str(tmp_path)})

    proc = airflow_env.airflow("bundles-ext", "validate", str(conf))

    header = next(line for line in proc.stdout.splitlines() if line.startswith("file "))
    assert header.split() == ["file", "bundle", "status", "error"]
    assert any(line.split()[:3] == ["team-a.json", "team-a", "ok"] for line in proc.stdout.splitlines())


def test_validate_without_a_directory_explains_what_to_pass(airflow_env):
    proc = airflow_env.airflow("bundles-ext", "validate", check=False)
    assert proc.returncode != 0
    assert "dag_bundle_config_path is not set" in proc.stdout + proc.stderr
