"""What the deployment tests share: the teams, the rig, and how to read what code ran where."""

from __future__ import annotations

from dataclasses import dataclass

from tests.rig.deployment import Deployment
from tests.rig.probe_dags import Record, read_records
from tests.rig.team_sources import TeamSource

TEAMS = ("s3-team", "git-team")
"""Bundles of the versioning, triggerer and callback scenarios."""
RELEASES = ("s3-release",)
"""Release-mode bundles (``airflow-bundle-release`` publishes; ``release_mode=True``): the
versioning scenarios too, where a cleared task pins an old release."""
GONE = ("s3-gone", "git-gone")
"""Bundles whose files are removed while a task runs."""


@dataclass
class Rig:
    deployment: Deployment
    sources: dict[str, TeamSource]


def from_tree(dep: Deployment, record: Record, bundle: str, version: str) -> bool:
    """Whether the record's code was loaded from ``version``'s tree in its own process's storage."""
    assert record.role is not None, record.describe()
    return record.loaded_from(dep.storage(record.role) / bundle / "versions" / version)


def wait_record(dep: Deployment, what: str, **match: object) -> Record:
    """The newest record matching ``match``, once there is one."""
    return dep.wait_for(lambda: read_records(dep.results, **match), what=what)[-1]
