"""Airflow on Celery workers with storage of their own, bundles defined only by files.

One deployment (tests/deployment/conftest.py), its tests in the order below, which is the order
they run in: each reads what the tasks themselves recorded (tests/rig/probe_dags.py): which code,
which process, loaded from which tree of which storage root.

**The versioning table of the Astronomer guide**, for our S3 bundle, our Git bundle and a
release-mode S3 bundle (``airflow-bundle-release publish`` moves its pointer) side by side:

- creating new DAG runs uses the current DAG code:
  ``test_new_run_uses_the_current_code``;
- a DAG run in progress when the code changes completes on the bundle version it started with:
  ``test_run_in_progress_finishes_on_the_version_it_started_with``;
- rerunning an individual task uses the task code from the original run time, also on a worker
  that never had that version:
  ``test_cleared_task_of_an_old_run_reruns_old_code_on_a_worker_that_never_had_that_version``;

played once (``story``), first, so worker-b's storage is still empty when it reruns the old task:

1. only worker-a takes tasks: run ``old`` starts on code v1 and its ``hold`` task waits;
2. v2 is published (an S3 upload, a git push, a release) and parsed: new runs now get v2;
3. run ``new`` is triggered and runs; ``old`` is released and finishes;
4. only worker-b takes tasks: ``after`` of run ``old`` is cleared.

**The triggerer and callbacks.** The deferrable task starts on worker-a and defers on a stock
``FileTrigger``, which the triggerer runs (it imports trigger classes by classpath and never
needs the bundle); when the file appears the task resumes on worker-b, running the bundle's
code at the run's version. A failing task's own ``on_failure_callback`` runs in the task's
process on the worker; the DAG's ``on_failure_callback`` runs in the DAG processor, which
resolves the bundle at the run's version for it (``prepare_callback_bundle``).

**Worker storage.** A worker started later builds every bundle from nothing. A removed
bundle's storage is reclaimed on each worker by Airflow's stale-version cleanup, which every
Celery worker runs every ``[dag_processor] stale_bundle_cleanup_interval`` (2 s here), patched
to also remove the trees of bundles that worker no longer resolves
(airflow_bundles_ext/integration/cleanup.py), ``removed_bundle_grace_period`` (0 here) after it
first saw them gone, and never while a task holds the version (Airflow's tracking-file lock).
Its marks and why it kept a bundle are in ``<storage>/_bundles_ext/reclaim.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_bundles_ext.integration.reclaim import KEPT_IN_USE, LOCAL_STATE
from airflow_bundles_ext.watcher.demo import remove_bundle_file
from tests.deployment.scenario import GONE, RELEASES, TEAMS, Rig, from_tree, wait_record
from tests.rig.probe_dags import PROBE_DAGS, Record, dag_id, read_records, release

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.xdist_group("celery-deployment"),
    pytest.mark.timeout(900),  # the first test also starts the deployment and plays the story
]


@dataclass
class Story:
    bundle: str
    dag_id: str
    v1: str
    v2: str
    worker_b_empty: bool
    """Whether worker-b's storage root was empty just before the old task was cleared."""
    records: list[Record]

    def ran(self, run_id: str, task_id: str, try_number: int = 1) -> Record:
        found = [
            r
            for r in self.records
            if (r.run_id, r.task_id, r.try_number, r.event) == (run_id, task_id, try_number, "ran")
        ]
        assert len(found) == 1, [r.describe() for r in self.records]
        return found[0]


VERSIONED = (*TEAMS, *RELEASES)
"""The story's bundles: our S3 bundle, our Git bundle, and a release-mode S3 bundle."""


@pytest.fixture(scope="module")
def story(rig: Rig) -> dict[str, Story]:
    dep = rig.deployment
    dags = {b: dag_id(b, "versions") for b in VERSIONED}
    v1 = {b: dep.bundle_version(dags[b]) for b in VERSIONED}
    with dep.only("worker-a"):
        for b in VERSIONED:
            dep.trigger(dags[b], "old")
        for b in VERSIONED:
            wait_record(dep, "hold of run old running", dag_id=dags[b], run_id="old", task_id="hold")
        for b in VERSIONED:
            rig.sources[b].publish("v2")
        # Parsed: a new DAG version with v2's tasks (v2 adds one) at a new bundle version, which new
        # runs get. Its tasks are checked, not only its bundle version: the stock processor stamps
        # a parse with the bundle version current when the parse *ends*, so a parse of v1's file
        # still running when the refresh lands is recorded at v2's bundle version (v2's code on
        # workers, v1's tasks) until the file is parsed again; see docs/operations.md.
        v2 = {
            b: dep.wait_for(
                lambda b=b: (
                    (latest := dep.latest_dag_version(dags[b])).bundle_version != v1[b]
                    and '"added_in_v2"' in latest.serialized
                    and latest.bundle_version == dep.bundle_version(dags[b])
                    and latest.bundle_version
                ),
                what=f"{dags[b]} parsed at a new bundle version",
            )
            for b in VERSIONED
        }
        for b in VERSIONED:
            release(dep.results, dags[b], "new")
            dep.trigger(dags[b], "new")
            release(dep.results, dags[b], "old")
        for b in VERSIONED:
            dep.wait_run(dags[b], "old", "success")
            dep.wait_run(dags[b], "new", "success")
    worker_b_empty = not any(dep.storage("worker-b").iterdir())
    with dep.only("worker-b"):
        for b in VERSIONED:
            dep.clear(dags[b], "old", ["after"])
        for b in VERSIONED:
            dep.wait_run(dags[b], "old", "success")
            wait_record(
                dep, "after of run old rerun", dag_id=dags[b], run_id="old", task_id="after", try_number=2
            )
    return {
        b: Story(
            bundle=b,
            dag_id=dags[b],
            v1=str(v1[b]),
            v2=str(v2[b]),
            worker_b_empty=worker_b_empty,
            records=read_records(dep.results, dag_id=dags[b]),
        )
        for b in VERSIONED
    }


@pytest.mark.parametrize("bundle", VERSIONED)
def test_new_run_uses_the_current_code(rig: Rig, story: dict[str, Story], bundle: str):
    dep, s = rig.deployment, story[bundle]
    assert s.v2 != s.v1
    assert dep.run(s.dag_id, "new").bundle_version == s.v2
    for task in ("hold", "after", "added_in_v2"):
        record = s.ran("new", task)
        print(record.describe())
        assert record.code == "v2", record.describe()
        assert from_tree(dep, record, bundle, s.v2), record.describe()


@pytest.mark.parametrize("bundle", VERSIONED)
def test_run_in_progress_finishes_on_the_version_it_started_with(
    rig: Rig, story: dict[str, Story], bundle: str
):
    dep, s = rig.deployment, story[bundle]
    assert dep.run(s.dag_id, "old").bundle_version == s.v1
    # ``after`` could only start once ``hold`` was released, which was after v2 was parsed.
    for task in ("hold", "after"):
        record = s.ran("old", task)
        print(record.describe())
        assert (record.code, record.role) == ("v1", "worker-a"), record.describe()
        assert from_tree(dep, record, bundle, s.v1), record.describe()
    assert dep.ti_state(s.dag_id, "old", "added_in_v2") is None  # v2's new task is not in this run


@pytest.mark.parametrize("bundle", VERSIONED)
def test_cleared_task_of_an_old_run_reruns_old_code_on_a_worker_that_never_had_that_version(
    rig: Rig, story: dict[str, Story], bundle: str
):
    dep, s = rig.deployment, story[bundle]
    # The story runs first in this module: worker-b has run nothing yet.
    assert s.worker_b_empty, "worker-b's storage was not empty before the rerun: run the story first"
    rerun = s.ran("old", "after", try_number=2)
    print(rerun.describe())
    assert (rerun.code, rerun.role) == ("v1", "worker-b"), rerun.describe()
    assert from_tree(dep, rerun, bundle, s.v1), rerun.describe()
    assert Path(rerun.storage or "") == dep.storage("worker-b")
    assert dep.run(s.dag_id, "old").bundle_version == s.v1


# --- the triggerer and callbacks ---


def test_deferred_task_resumes_on_another_worker_from_its_file_defined_bundle(rig: Rig):
    dep = rig.deployment
    dags = {b: dag_id(b, "deferred") for b in TEAMS}
    with dep.only("worker-a"):
        for b in TEAMS:
            dep.trigger(dags[b], "d1")
        for b in TEAMS:
            dep.wait_ti(dags[b], "d1", "wait", ("deferred",))
    with dep.only("worker-b"):
        for b in TEAMS:
            release(dep.results, dags[b], "d1")  # the triggerer's FileTrigger fires
        for b in TEAMS:
            dep.wait_run(dags[b], "d1", "success")
    for b in TEAMS:
        version = dep.run(dags[b], "d1").bundle_version
        deferred = wait_record(dep, "deferred", dag_id=dags[b], run_id="d1", event="deferred")
        resumed = wait_record(dep, "resumed", dag_id=dags[b], run_id="d1", event="resumed")
        print(deferred.describe(), resumed.describe(), sep="\n")
        assert deferred.role == "worker-a" and resumed.role == "worker-b", resumed.describe()
        assert resumed.code == deferred.code
        assert from_tree(dep, deferred, b, version) and from_tree(dep, resumed, b, version), (
            resumed.describe()
        )


def test_failure_callbacks_of_a_file_defined_bundle_run_its_code_at_the_runs_version(rig: Rig):
    dep = rig.deployment
    dags = {b: dag_id(b, "fails") for b in TEAMS}
    for b in TEAMS:
        dep.trigger(dags[b], "f1")
    for b in TEAMS:
        dep.wait_run(dags[b], "f1", "failed")
        version = dep.run(dags[b], "f1").bundle_version
        failed = wait_record(dep, "the failing task", dag_id=dags[b], run_id="f1", event="ran")
        on_task = wait_record(
            dep, "task callback", dag_id=dags[b], run_id="f1", event="task_failure_callback"
        )
        on_dag = wait_record(dep, "DAG callback", dag_id=dags[b], run_id="f1", event="dag_failure_callback")
        print(on_task.describe(), on_dag.describe(), sep="\n")
        assert on_task.role == failed.role and on_task.role.startswith("worker-"), on_task.describe()
        assert on_dag.role == "dag-processor", on_dag.describe()
        assert on_task.code == on_dag.code == failed.code
        assert from_tree(dep, on_task, b, version), on_task.describe()
        assert from_tree(dep, on_dag, b, version), on_dag.describe()


# --- worker storage ---


def test_worker_started_later_with_empty_storage_runs_a_task_of_every_bundle(rig: Rig):
    dep = rig.deployment
    bundles = sorted(p.stem for p in dep.conf_dir.glob("*.json"))
    assert len(bundles) == len((*TEAMS, *RELEASES, *GONE))
    dep.add_worker("worker-c")
    storage = dep.storage("worker-c")
    assert list(storage.iterdir()) == []
    with dep.only("worker-c"):
        for b in bundles:
            release(dep.results, dag_id(b, "hold"), "late")
            dep.trigger(dag_id(b, "hold"), "late")
        for b in bundles:
            dep.wait_run(dag_id(b, "hold"), "late", "success")
    for b in bundles:
        record = wait_record(dep, "hold ran", dag_id=dag_id(b, "hold"), run_id="late")
        print(record.describe())
        assert record.role == "worker-c", record.describe()
        assert from_tree(dep, record, b, dep.run(dag_id(b, "hold"), "late").bundle_version), record.describe()


def _reclaim_marks(dep, worker):
    try:
        return json.loads((dep.storage(worker) / LOCAL_STATE).read_text())["bundles"]
    except (OSError, ValueError, KeyError):
        return {}


def test_removing_a_bundle_file_while_its_task_runs_lets_it_finish_then_reclaims_each_workers_storage(
    rig: Rig,
):
    dep = rig.deployment
    hold = {b: dag_id(b, "hold") for b in GONE}
    with dep.only("worker-b"):  # worker-b gets a copy of each bundle, and nothing runs there later
        for b in GONE:
            release(dep.results, hold[b], "warm")
            dep.trigger(hold[b], "warm")
        for b in GONE:
            dep.wait_run(hold[b], "warm", "success")
    with dep.only("worker-a"):
        for b in GONE:
            dep.trigger(hold[b], "running")
        for b in GONE:
            wait_record(dep, "hold running on worker-a", dag_id=hold[b], run_id="running")
    version = {b: dep.run(hold[b], "running").bundle_version for b in GONE}
    for b in GONE:
        assert (dep.storage("worker-a") / b / "versions" / version[b]).is_dir()
        assert (dep.storage("worker-b") / b / "versions").is_dir()
        remove_bundle_file(dep.conf_dir, b)

    for b in GONE:
        dep.wait_for(
            lambda b=b: all(dep.dag(dag_id(b, d)).is_stale for d in PROBE_DAGS),
            what=f"every DAG of {b} stale",
        )
        assert not dep.airflow_env.bundles()[b].active
        dep.wait_for(
            lambda b=b: not (dep.storage("worker-b") / b).exists(), what=f"{b} reclaimed on worker-b"
        )
        dep.wait_for(
            lambda b=b: _reclaim_marks(dep, "worker-a").get(b, {}).get("kept") == KEPT_IN_USE,
            what=f"worker-a's cleanup keeping {b} for its running task",
        )
    for b in GONE:  # the reclaim ran on worker-a while the task held its version: nothing removed
        assert dep.ti_state(hold[b], "running", "hold") == "running"
        assert (dep.storage("worker-a") / b / "versions" / version[b] / _probe_file(b)).is_file()
        release(dep.results, hold[b], "running")
    for b in GONE:
        dep.wait_ti(hold[b], "running", "hold", ("success",))
        for role in ("worker-a", "dag-processor"):
            dep.wait_for(
                lambda b=b, r=role: not (dep.storage(r) / b).exists(), what=f"{b} reclaimed on {role}"
            )
        assert not (dep.storage("worker-a") / "_tracking" / b).exists()
    record = wait_record(dep, "hold ran", dag_id=hold["s3-gone"], run_id="running")
    print(record.describe())


def _probe_file(bundle: str) -> str:
    return "dags/probe_dags.py" if bundle.startswith("git-") else "probe_dags.py"
