"""One real deployment per test module: the stock ``airflow dag-processor`` and ``airflow
api-server`` (with this package's plugin) on one metadata DB, simple-auth-manager users of
three roles, git remotes on the filesystem, and a watched bundle directory.

A module shares one deployment (starting them costs ~15 s); its tests are grouped on one
xdist worker (``--dist loadscope`` in scripts/test).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_bundles_ext.watcher.demo import activation_env
from tests.rig.airflow_env import AirflowEnv, DagProcessor, dag_source, wait_for
from tests.rig.api_server import ApiServer
from tests.rig.git import GitRemote

USERS = {"admin": "ADMIN", "viewer": "VIEWER", "editor": "USER"}
GIT = "airflow_bundles_ext.bundles.git.GitDagBundle"
LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"
GITHUB_SECRET = "github-webhook-secret-for-tests"
GITLAB_TOKEN = "gitlab-webhook-token-for-tests"
GITHUB_URL = "https://github.com/acme/dags.git"


@dataclass
class Deployment:
    env: AirflowEnv
    api: ApiServer
    processor: DagProcessor
    remotes: dict[str, GitRemote]
    watch_dir: Path
    work: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def api_json(self, path: str, user: str = "viewer") -> Any:
        response = self.api.request("GET", f"/bundles-ext/api/v1{path}", user=user)
        assert response.status_code in (200, 503), response.text
        return response.json()

    def bundle(self, name: str) -> dict[str, Any]:
        return self.api_json(f"/bundles/{name}")

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        return self.processor.wait_for(check, timeout=timeout, what=what)

    def wait_version(self, name: str, sha: str, timeout: float = 60) -> None:
        self.wait(lambda: self.bundle(name)["version"] == sha, f"{name} at {sha[:8]}", timeout)

    def refresh_requests(self) -> list[Any]:
        return self.env.query("select bundle_name, relative_fileloc from dag_priority_parsing_request")

    def github(self, body: bytes, signature: str | None, event: str = "push") -> Any:
        headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.api.request("POST", "/bundles-ext/api/v1/webhooks/github", content=body, headers=headers)


def github_signature(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_payload(ref: str = "refs/heads/main", clone_url: str = GITHUB_URL) -> bytes:
    return json.dumps(
        {
            "ref": ref,
            "repository": {"full_name": "acme/dags", "clone_url": clone_url, "html_url": clone_url[:-4]},
        }
    ).encode()


def git_dags(remote: GitRemote, *dag_ids: str) -> str:
    return remote.commit({f"dags/{d}.py": dag_source(d) for d in dag_ids}, message=" ".join(dag_ids))


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Iterator[Callable[..., Deployment]]:
    """Factory: ``deploy(env, bundles=[...], **extra_env)`` starts a deployment, stopped at module end."""
    started: list[Deployment] = []

    def start(env: AirflowEnv, *, bundles: list[dict[str, Any]], remotes: dict[str, GitRemote]) -> Deployment:
        work = env.home
        watch_dir = work / "bundle-conf"
        watch_dir.mkdir(exist_ok=True)
        env.extra_env.update(activation_env(watch_dir, state_path=work / "state"))
        env.extra_env.update(
            {
                "AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS": f"{LOCAL},{GIT}",
                "AIRFLOW__BUNDLES_EXT__HEALTH_MAX_FAILURES": "2",
                # The _cmd variant: conf's sensitive-option machinery runs it in the API server.
                "AIRFLOW__BUNDLES_EXT__GITHUB_WEBHOOK_SECRET_CMD": f"printf {GITHUB_SECRET}",
                "AIRFLOW__BUNDLES_EXT__GITLAB_WEBHOOK_TOKEN": GITLAB_TOKEN,
                "AIRFLOW__DAG_PROCESSOR__STALE_BUNDLE_CLEANUP_INTERVAL": "0",
            }
        )
        if "hooked" in remotes:  # GitHub's URL, fetched from the local remote (git's insteadOf)
            env.extra_env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": f"url.{remotes['hooked'].url}.insteadOf",
                    "GIT_CONFIG_VALUE_0": GITHUB_URL,
                }
            )
        env.set_bundles(bundles)
        api = ApiServer(env, USERS)  # sets the auth env the processor shares
        processor = DagProcessor(env, log_name="dag-processor.log").start()
        deployment = Deployment(env, api, processor, remotes, watch_dir, work)
        started.append(deployment)
        api.start()
        return deployment

    yield start
    for d in started:
        d.processor.stop()
        d.api.stop()


def wait_all_reported(d: Deployment, names: list[str], timeout: float = 90) -> None:
    def reported() -> bool:
        bundles = {b["name"]: b for b in d.api_json("/bundles")["bundles"]}
        return all(n in bundles and bundles[n]["refresh"]["ended_at"] for n in names)

    wait_for(reported, timeout=timeout, what=f"status of {names}", on_timeout=d.processor.log_tail)
