"""The status API, webhooks, CLI and page against the real ``airflow api-server`` (with the
plugin) and a real ``airflow dag-processor`` on SQLite: authorization, push refresh, webhooks,
a failing bundle and an invalid file in health, the CLI's same data, and the OpenAPI document.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from airflow_bundles_ext.status.model import REFRESH_MARKER
from airflow_bundles_ext.watcher.demo import write_bundle_file
from tests.conftest import IN_CI
from tests.rig import browser
from tests.rig.airflow_env import write_dag
from tests.rig.git import GitRemote
from tests.rig.moto import free_port
from tests.status.conftest import (
    GIT,
    GITHUB_URL,
    GITLAB_TOKEN,
    LOCAL,
    git_dags,
    github_signature,
    push_payload,
    wait_all_reported,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("status-sqlite")]

API = "/bundles-ext/api/v1"
ROUTES = [
    ("GET", f"{API}/bundles"),
    ("GET", f"{API}/bundles/local-a"),
    ("POST", f"{API}/bundles/local-a/refresh"),
    ("GET", f"{API}/health"),
    ("GET", f"{API}/permissions"),
]


@pytest.fixture(scope="module")
def d(deploy, sqlite_template, tmp_path_factory):
    home = tmp_path_factory.mktemp("status-sqlite")
    env = sqlite_template.new_env(home / "airflow")
    remotes = {name: GitRemote(home / "remotes", name) for name in ("repo", "hooked")}
    git_dags(remotes["repo"], "repo_first")
    git_dags(remotes["hooked"], "hooked_first")
    write_dag(home / "local", "local_dag")
    slow = {"subdir": "dags", "tracking_ref": "main", "refresh_interval": 300}
    bundles = [
        {"name": "local-a", "classpath": LOCAL, "kwargs": {"path": str(home / "local")}},
        {"name": "repo", "classpath": GIT, "kwargs": {**slow, "repo_url": remotes["repo"].url}},
        {"name": "hooked", "classpath": GIT, "kwargs": {**slow, "repo_url": GITHUB_URL}},
    ]
    deployment = deploy(env, bundles=bundles, remotes=remotes)
    # A file-defined bundle whose source is failing (nothing listens there), and an invalid file.
    broken = {"repo_url": f"http://127.0.0.1:{free_port()}/no-such-repo.git", "tracking_ref": "main"}
    write_bundle_file(deployment.watch_dir, "broken", GIT, broken)
    (deployment.watch_dir / "bad.json").write_text('{"name": "bad", "classpath": ')
    wait_all_reported(deployment, ["local-a", "repo", "hooked", "broken"])
    return deployment


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_and_forged_tokens_are_refused(d, method, path):
    assert d.api.request(method, path).status_code == 401
    forged = d.api.request(method, path, headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code in (401, 403)
    assert not [r for r in d.refresh_requests() if r.relative_fileloc == REFRESH_MARKER]


def test_viewer_reads_status_but_may_not_request_a_refresh(d):
    assert d.api.request("GET", f"{API}/bundles", user="viewer").status_code == 200
    assert d.api_json("/permissions") == {"can_read": True, "can_refresh": False}
    response = d.api.request("POST", f"{API}/bundles/repo/refresh", user="viewer")
    assert response.status_code == 403
    assert d.refresh_requests() == []
    assert d.api_json("/permissions", user="editor") == {"can_read": True, "can_refresh": True}


def test_push_refresh_makes_a_new_commit_visible_with_refresh_interval_300(d):
    d.wait_version("repo", d.remotes["repo"].head())
    sha = git_dags(d.remotes["repo"], "repo_first", "repo_pushed")
    response = d.api.request("POST", f"{API}/bundles/repo/refresh", user="editor")
    assert response.status_code == 202, response.text
    assert response.json()["bundle"] == "repo"
    # refresh_interval is 300 s: only the request can make the processor fetch now.
    d.wait_version("repo", sha, timeout=60)
    d.wait(lambda: "repo_pushed" in d.env.dags("repo"), "the pushed DAG parsed")
    status = d.bundle("repo")
    assert status["refresh"]["pending"] is False
    assert status["storage"]["versions"] >= 2 and status["storage"]["bytes"] > 0


def test_refresh_of_an_unknown_bundle_is_404(d):
    response = d.api.request("POST", f"{API}/bundles/no-such-bundle/refresh", user="editor")
    assert response.status_code == 404
    assert d.api.request("GET", f"{API}/bundles/no-such-bundle", user="viewer").status_code == 404


def test_github_signed_push_refreshes_the_tracking_bundle_and_a_forged_one_changes_nothing(d):
    d.wait_version("hooked", d.remotes["hooked"].head())
    before = d.bundle("hooked")["version"]
    sha = git_dags(d.remotes["hooked"], "hooked_first", "hooked_pushed")
    body = push_payload()
    for signature in (None, "sha256=" + "0" * 64, github_signature(body, "wrong-secret")):
        assert d.github(body, signature).status_code == 401
    assert d.refresh_requests() == [] and d.bundle("hooked")["version"] == before
    other_branch = push_payload("refs/heads/feature")
    assert d.github(other_branch, github_signature(other_branch)).json()["refreshed"] == []
    response = d.github(body, github_signature(body))
    assert response.status_code == 200, response.text
    assert response.json()["refreshed"] == ["hooked"]
    d.wait_version("hooked", sha)


def test_gitlab_push_needs_the_token(d):
    body = json.dumps(
        {"object_kind": "push", "ref": "refs/heads/main", "project": {"git_http_url": GITHUB_URL}}
    ).encode()
    url = f"{API}/webhooks/gitlab"
    assert d.api.request("POST", url, content=body, headers={"X-Gitlab-Token": "nope"}).status_code == 401
    assert d.api.request("POST", url, content=body).status_code == 401
    assert d.refresh_requests() == []
    ok = d.api.request("POST", url, content=body, headers={"X-Gitlab-Token": GITLAB_TOKEN})
    assert ok.status_code == 200 and ok.json()["refreshed"] == ["hooked"]


def test_failing_source_and_invalid_file_make_health_503_naming_them(d):
    d.wait(lambda: d.bundle("broken")["error"]["consecutive_failures"] >= 2, "broken failing twice")
    response = d.api.request("GET", f"{API}/health", user="viewer")
    assert response.status_code == 503
    health = response.json()
    assert health["failing_bundles"] == ["broken"]
    assert health["invalid_files"] == {"bad.json": ["bad.json"]}
    broken = d.bundle("broken")
    assert broken["source"] == "broken.json" and broken["healthy"] is False
    assert "no-such-repo" in broken["error"]["message"] and broken["error"]["failing_since"]
    report = d.api_json("/bundles")
    assert [f["file"] for f in report["invalid_files"]] == ["bad.json"]
    assert "malformed JSON" in report["invalid_files"][0]["error"]
    assert {b["name"]: b["healthy"] for b in report["bundles"]}["local-a"] is True


def test_cli_status_shows_the_same_data_and_refresh_has_the_same_effect(d):
    out = d.env.airflow("bundles-ext", "status", "-o", "json").stdout
    cli = json.loads(out[out.index("{") :])
    api = d.api_json("/bundles")
    assert [b["name"] for b in cli["bundles"]] == [b["name"] for b in api["bundles"]]
    assert cli["health"]["unhealthy"] == api["health"]["unhealthy"]
    one = d.env.airflow("bundles-ext", "status", "broken").stdout
    assert "broken" in one and "GitCommandError: git ls-remote failed" in one
    sha = git_dags(d.remotes["repo"], "repo_first", "repo_pushed", "repo_from_cli")
    d.env.airflow("bundles-ext", "refresh", "repo")
    d.wait_version("repo", sha)
    missing = d.env.airflow("bundles-ext", "refresh", "no-such-bundle", check=False)
    assert missing.returncode != 0 and "not known" in missing.stderr + missing.stdout


def test_openapi_document_describes_the_routes(d):
    response = d.api.request("GET", "/bundles-ext/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/bundles",
        "/api/v1/bundles/{name}",
        "/api/v1/bundles/{name}/refresh",
        "/api/v1/health",
        "/api/v1/webhooks/github",
        "/api/v1/webhooks/gitlab",
    ):
        assert path in paths
    assert "202" in paths["/api/v1/bundles/{name}/refresh"]["post"]["responses"]


# --- schemathesis: the plugin's OpenAPI document against the running server, bounded -----------


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_conforms_to_its_openapi_document(d):
    """Generated requests for every operation (12 each), sent with an editor's token."""
    schema = schemathesis.openapi.from_url(f"{d.api.base_url}/bundles-ext/openapi.json")
    headers = {"Authorization": f"Bearer {d.api.token('editor')}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7

    for operation in operations:
        # /health answers 503 by design here (a failing bundle): documented, not a server error.
        checks = CHECKS[1:] if operation.path.endswith("/health") else CHECKS

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def conforms(case):
            response = case.call(base_url=f"{d.api.base_url}/bundles-ext", headers=headers)
            case.validate_response(response, checks=checks)  # noqa: B023

        conforms()


# --- the Bundles page in Debian's chromium ----------------------------------------------------


def _page(driver, d, user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.login(driver, d.api.base_url, user, d.api.password(user))
    driver.get(f"{d.api.base_url}/plugin/bundles")  # the external view inside the Airflow UI
    wait = WebDriverWait(driver, 60)
    wait.until(ec.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "tr[data-bundle=broken] .badge.bad")))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "tr[data-file='bad.json']")))
    return wait


def test_bundles_page_shows_health_and_refresh_works_for_editors_only(d, tmp_path):
    if not browser.available():
        if IN_CI:
            pytest.fail("chromium and chromedriver are required in CI; scripts/setup installs them as root")
        pytest.skip("chromium/chromedriver not installed (scripts/setup installs them as root)")
    from selenium.webdriver.common.by import By

    shots = Path(os.environ.get("BUNDLES_EXT_SCREENSHOTS") or tmp_path)
    with browser.chrome() as driver:
        wait = _page(driver, d, "viewer")
        assert driver.find_elements(By.CSS_SELECTOR, "button[data-bundle]") == []
        driver.switch_to.default_content()
        browser.screenshot(driver, shots / "bundles-page-viewer.png")
    with browser.chrome() as driver:
        wait = _page(driver, d, "editor")
        row = driver.find_element(By.CSS_SELECTOR, "tr[data-bundle=broken]")
        assert "no-such-repo" in row.text and "broken.json" in row.text
        before = d.bundle("repo")["refresh"]["started_at"]
        driver.switch_to.default_content()
        browser.screenshot(driver, shots / "bundles-page.png")
        wait.until(lambda drv: drv.switch_to.frame(drv.find_element(By.TAG_NAME, "iframe")) or True)
        driver.find_element(By.CSS_SELECTOR, "button[data-bundle=repo]").click()
        wait.until(lambda drv: "requested" in drv.find_element(By.ID, "message").text)
        # refresh_interval is 300 s: a new refresh start can only come from the click.
        d.wait(lambda: d.bundle("repo")["refresh"]["started_at"] != before, "refresh after the click")
        driver.switch_to.default_content()
        browser.screenshot(driver, shots / "bundles-page-refresh.png")
