"""One distributed deployment for every test under tests/deployment (starting it is the expensive part).

The tests in this package share it, in file order, on one pytest-xdist worker (``--dist
loadscope`` in scripts/test). Five teams, each defined only by ``<bundle>.json`` in the watched
directory:

- ``s3-team`` and ``git-team``: the versioning, triggerer and callback scenarios;
- ``s3-release``: a release-mode S3 bundle that a pipeline publishes with ``airflow-bundle-release``,
  in the versioning scenarios;
- ``s3-gone`` and ``git-gone``: removed while a task runs (their own bundles, so removing them
  changes nothing for the other scenarios).

Set ``ABX_KEEP_DEPLOYMENT=1`` to keep its files (logs, storage, records) after the session.

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379: with ``CI=true`` a missing
service fails the tests, elsewhere it skips them, naming the service.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment.scenario import GONE, RELEASES, TEAMS, Rig
from tests.rig.airflow_env import PostgresTemplate
from tests.rig.broker import RedisBroker, redis_reachable
from tests.rig.deployment import Deployment
from tests.rig.git_http import GitHttpServer
from tests.rig.moto import MotoServer
from tests.rig.probe_dags import PROBE_DAGS, dag_id
from tests.rig.team_sources import GitSource, ReleaseSource, S3Source, TeamSource, write_team_file

BUCKET = "team-dags"
RELEASE_BUCKET = "team-releases"  # unversioned: releases are content-addressed
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # the rule of tests/conftest.py


@pytest.fixture(scope="session")
def rig(postgres_template: PostgresTemplate, session_dir: Path) -> Iterator[Rig]:
    if not redis_reachable():
        message = "Redis on 127.0.0.1:6379 is not reachable (the Celery broker of the deployment tests)"
        if IN_CI:
            pytest.fail(f"{message}; it is required in CI (CI=true)")
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="deployment-", dir=session_dir))
    moto = MotoServer(log_path=root / "moto.log").start()
    (root / "git").mkdir()
    git = GitHttpServer.anonymous(root / "git").start()
    broker = RedisBroker().claim()
    env = postgres_template.new_env(root / "deployment" / "home")
    deployment = Deployment(root / "deployment", env, broker=broker, extra_env=moto.client_env())
    try:
        sources: dict[str, TeamSource] = {}
        for name in (*TEAMS, *RELEASES, *GONE):
            source: TeamSource
            if name in RELEASES:
                source = ReleaseSource(moto, RELEASE_BUCKET, name)
            elif name.startswith("s3-"):
                source = S3Source(moto, BUCKET, name)
            else:
                source = GitSource(git, name)
            source.publish("v1")
            write_team_file(deployment.conf_dir, source)
            sources[name] = source
        deployment.start()
        wanted = [dag_id(name, dag) for name in sources for dag in PROBE_DAGS]
        deployment.wait_for(
            lambda: all((d := deployment.dag(w)) is not None and not d.is_stale for w in wanted),
            what=f"the DAGs of every bundle file: {wanted}",
        )
        yield Rig(deployment, sources)
    finally:
        deployment.stop()
        git.stop()
        moto.stop()
        broker.release()
        postgres_template.drop(env)
        if os.environ.get("ABX_KEEP_DEPLOYMENT"):
            print(f"kept the deployment's files in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
