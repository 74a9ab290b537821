"""The health file: rewritten after every successful cycle, judged by its age.

It is written atomically (temp + rename), so a probe never reads half a file, and it is
absent until the first successful cycle (not ready). After ``MAX_FAILURES`` consecutive
failed cycles it is no longer updated and the process exits non-zero; either way a
liveness probe on its age (``airflow-bundle-sync probe --max-age N``) fails.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from airflow_bundles_ext.errors import PublishError
from airflow_bundles_ext.publish import atomic_write
from airflow_bundles_ext.sidecar.sync import CycleReport

MAX_REPORTED_REJECTIONS = 50


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    message: str


def write_health(
    path: Path, report: CycleReport, *, cycle: int, source: str, now: float | None = None
) -> None:
    """Record a successful cycle: time, source and counts, plus the objects refused and why."""
    stamp = time.time() if now is None else now
    payload = {
        "status": "ok",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)),
        "timestamp": stamp,
        "cycle": cycle,
        "source": source,
        "objects": report.objects,
        "files": report.files,
        "fetched": report.fetched,
        "written": len(report.written),
        "deleted": len(report.deleted),
        "unchanged": report.unchanged,
        "ignored": report.ignored,
        "rejected": len(report.rejected),
        "rejections": [{"key": r.key, "reason": r.reason} for r in report.rejected[:MAX_REPORTED_REJECTIONS]],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(payload, indent=1).encode())
    except OSError as exc:
        raise PublishError(f"cannot write the health file {path}: {exc}; check HEALTH_FILE") from exc


def probe(path: Path, max_age: float, *, now: float | None = None) -> ProbeResult:
    """Healthy when ``path`` exists and was last written at most ``max_age`` seconds ago."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return ProbeResult(False, f"unhealthy: {path} does not exist: no successful sync yet")
    except OSError as exc:
        return ProbeResult(False, f"unhealthy: cannot stat {path}: {exc}")
    age = (time.time() if now is None else now) - mtime
    if age > max_age:
        return ProbeResult(
            False, f"unhealthy: last successful sync {age:.0f}s ago, over {max_age:g}s ({path})"
        )
    return ProbeResult(True, f"healthy: last successful sync {max(age, 0):.0f}s ago ({path})")
