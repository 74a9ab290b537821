"""Shared benchmark harness: timing, the ours/upstream table and the JSON record."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Options:
    repeat: int = 5
    quick: bool = False  # smaller data sets, for a smoke run


@dataclass
class Result:
    """One implementation on one case."""

    wall_s: list[float]
    requests: dict[str, int] = field(default_factory=dict)  # by kind, e.g. {"GetObject": 1}
    bytes: int = 0  # bytes transferred from the source
    files: int = 0  # files in the resulting tree
    extra: dict[str, float] = field(default_factory=dict)  # e.g. {"disk_bytes": ...}

    @property
    def median(self) -> float:
        return statistics.median(self.wall_s) if self.wall_s else float("nan")


@dataclass
class Case:
    name: str
    ours: Result
    upstream: Result | None  # None where upstream has no equivalent
    goal: str = ""  # e.g. "wall ratio <= 0.25"
    notes: str = ""


def timed(fn: Callable[[], Any], repeat: int, *, setup: Callable[[], Any] | None = None) -> list[float]:
    """Run ``setup`` (untimed) then ``fn`` (timed), ``repeat`` times; return the seconds."""
    samples = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _ratio(a: float, b: float) -> str:
    if not b:
        return "n/a" if not a else "inf"
    return f"{a / b:.3f}"


def _fmt_requests(req: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(req.items()) if v) or "-"


def render(suite: str, cases: list[Case]) -> str:
    header = ["case", "impl", "wall median s", "requests", "bytes", "files", "extra"]
    rows: list[list[str]] = []
    for case in cases:
        for impl, res in (("ours", case.ours), ("upstream", case.upstream)):
            if res is None:
                continue
            extra = " ".join(f"{k}={v:g}" for k, v in res.extra.items())
            rows.append(
                [
                    case.name,
                    impl,
                    f"{res.median:.4f}",
                    _fmt_requests(res.requests),
                    str(res.bytes),
                    str(res.files),
                    extra,
                ]
            )
        if case.upstream is not None:
            up = case.upstream
            extra_ratios = " ".join(
                f"{k}={_ratio(case.ours.extra[k], up.extra[k])}" for k in case.ours.extra if k in up.extra
            )
            rows.append(
                [
                    case.name,
                    "ours/upstream",
                    _ratio(case.ours.median, up.median),
                    f"total={_ratio(sum(case.ours.requests.values()), sum(up.requests.values()))}",
                    _ratio(case.ours.bytes, up.bytes),
                    "",
                    extra_ratios,
                ]
            )
        if case.goal:
            rows.append([case.name, "goal", case.goal, "", "", "", case.notes])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([f"### {suite}", "", line, sep, *body])


def write_json(suite: str, cases: list[Case], opts: Options) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{suite}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    payload = {
        "suite": suite,
        "options": asdict(opts),
        "cases": [
            {
                "name": c.name,
                "goal": c.goal,
                "notes": c.notes,
                "ours": {**asdict(c.ours), "median": c.ours.median},
                "upstream": None
                if c.upstream is None
                else {**asdict(c.upstream), "median": c.upstream.median},
                "wall_ratio": None
                if c.upstream is None or not c.upstream.median
                else c.ours.median / c.upstream.median,
            }
            for c in cases
        ],
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


def tree_stats(root: Path) -> tuple[int, int]:
    """(files, bytes on disk) under ``root``, counting each hard-linked inode once."""
    seen: set[tuple[int, int]] = set()
    files = 0
    total = 0
    for path in root.rglob("*"):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if path.is_file() and not path.is_symlink():
            files += 1
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += st.st_blocks * 512
    return files, total


def fresh_storage_root(work: Path, n: int) -> Path:
    """Storage root number ``n`` under ``work``, made current for bundles built after this call."""
    import airflow.dag_processing.bundles.base as base

    root = work / f"storage-{n}"
    root.mkdir()
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH"] = str(root)
    base.STALE_BUNDLE_TRACKING_FOLDER = root / "_tracking"
    return root
