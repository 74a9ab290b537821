"""The same deployment on PostgreSQL (required when CI=true): the status tables come from
``airflow db migrate``, health goes 200 → 503 → 200 as a bundle file breaks and is fixed, and
a push refresh and a signed GitHub webhook make new commits visible."""

from __future__ import annotations

import pytest

from tests.rig.git import GitRemote
from tests.status.conftest import GIT, GITHUB_URL, git_dags, github_signature, push_payload, wait_all_reported

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("status-postgres")]

API = "/bundles-ext/api/v1"


@pytest.fixture(scope="module")
def d(deploy, postgres_template, tmp_path_factory):
    home = tmp_path_factory.mktemp("status-pg")
    env = postgres_template.new_env(home / "airflow")
    remotes = {name: GitRemote(home / "remotes", name) for name in ("pgrepo", "hooked")}
    git_dags(remotes["pgrepo"], "pg_first")
    git_dags(remotes["hooked"], "pg_hooked_first")
    slow = {"subdir": "dags", "tracking_ref": "main", "refresh_interval": 300}
    bundles = [
        {"name": "pgrepo", "classpath": GIT, "kwargs": {**slow, "repo_url": remotes["pgrepo"].url}},
        {"name": "hooked", "classpath": GIT, "kwargs": {**slow, "repo_url": GITHUB_URL}},
    ]
    deployment = deploy(env, bundles=bundles, remotes=remotes)
    try:
        wait_all_reported(deployment, ["pgrepo", "hooked"])
        yield deployment
    finally:
        deployment.processor.stop()
        deployment.api.stop()
        postgres_template.drop(env)


def test_db_migrate_created_the_status_tables_on_postgres(d):
    assert d.env.backend == "postgres"
    assert d.env.query("select version_num from alembic_version_bundles_ext")
    rows = d.env.query("select bundle_name, active, reporter from bundles_ext_bundle_status order by 1")
    assert [(r.bundle_name, r.active) for r in rows] == [("hooked", True), ("pgrepo", True)]


def test_health_follows_an_invalid_bundle_file(d):
    assert d.api.request("GET", f"{API}/health", user="viewer").status_code == 200
    (d.watch_dir / "oops.json").write_text("not json")
    d.wait(lambda: d.api.request("GET", f"{API}/health", user="viewer").status_code == 503, "503")
    assert d.api_json("/health")["invalid_files"] == {"oops.json": ["oops.json"]}
    (d.watch_dir / "oops.json").unlink()
    d.wait(lambda: d.api.request("GET", f"{API}/health", user="viewer").status_code == 200, "200 again")
    assert d.env.query("select file from bundles_ext_invalid_file") == []


def test_push_refresh_and_signed_webhook_on_postgres(d):
    d.wait_version("pgrepo", d.remotes["pgrepo"].head())
    sha = git_dags(d.remotes["pgrepo"], "pg_first", "pg_pushed")
    assert d.api.request("POST", f"{API}/bundles/pgrepo/refresh", user="editor").status_code == 202
    d.wait_version("pgrepo", sha)
    d.wait_version("hooked", d.remotes["hooked"].head())
    hooked = git_dags(d.remotes["hooked"], "pg_hooked_first", "pg_hooked_pushed")
    body = push_payload()
    assert d.github(body, github_signature(body, "forged")).status_code == 401
    assert d.github(body, github_signature(body)).json()["refreshed"] == ["hooked"]
    d.wait_version("hooked", hooked)
    d.wait(lambda: "pg_hooked_pushed" in d.env.dags("hooked"), "the pushed DAG parsed")
