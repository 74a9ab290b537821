"""Which bundles' local storage a process may reclaim: pure set arithmetic over plain data.

A process's bundle storage root holds trees of bundles it once used. When a bundle is no longer
configured (its file in the watched directory was deleted), its trees stay there: Airflow's own
stale-version cleanup only looks at configured bundles. :func:`plan` decides, from

* ``on_disk``: bundles that have storage under the root,
* ``configured``: bundles this process resolves now,
* ``marks``: when this process first saw each unconfigured bundle (seconds since the epoch),

which marks to keep and which bundles are due: seen unconfigured for at least the grace period.
A bundle that is configured again loses its mark (its grace starts over if removed again); a
mark without storage is dropped. Whether a due bundle may be removed *now* (no task holds one
of its versions) is the I/O shell's question (``integration/reclaim.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ReclaimPlan:
    marks: Mapping[str, float]
    """Unconfigured bundles with storage, and when each was first seen unconfigured."""
    due: tuple[str, ...]
    """Sorted names whose grace period is over."""


def plan(
    on_disk: Collection[str],
    configured: Collection[str],
    marks: Mapping[str, float],
    *,
    now: float,
    grace_period: float,
) -> ReclaimPlan:
    unconfigured = set(on_disk) - set(configured)
    kept = {name: marks.get(name, now) for name in sorted(unconfigured)}
    due = tuple(name for name, seen in kept.items() if now - seen >= grace_period)
    return ReclaimPlan(marks=kept, due=due)
