"""Git bundle: ours vs upstream ``airflow.providers.git.bundles.git.GitDagBundle``, same run, same fixture.

Fixture (built once, cached in the temp dir): a monorepo whose ``dags/`` holds ~200 small DAG
files and whose ``etl/data/`` holds ~150 MB of random (incompressible) blobs spread over 10
commits, served as ``file://`` with ``uploadpack.allowFilter``. ``--quick`` shrinks it to 15 MB.

Cases, each on a fresh storage root unless said otherwise:
- cold initialize (``subdir="dags"``): wall and bytes on disk under the storage root;
- no-change refresh of an initialized bundle: wall;
- pinned older SHA (``version=<commit 3>``) on an empty storage root: wall and disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Options, Result, timed, tree_stats

COMMITS = 10
DAG_FILES = 200
_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.invalid",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **_ENV, "HOME": str(cwd)}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def build_fixture(total_mb: int) -> tuple[str, list[str]]:
    """Return (file:// URL, commit SHAs oldest first); cached by size in the temp dir."""
    root = Path(tempfile.gettempdir()) / f"abx-bench-git-{total_mb}mb"
    bare, work = root / "mono.git", root / "work"
    shas_file = root / "shas"
    if shas_file.exists():
        return f"file://{bare}", shas_file.read_text().split()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=root)
    _git("config", "uploadpack.allowFilter", "true", cwd=bare)
    _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
    _git("init", "-q", "-b", "main", str(work), cwd=root)
    per_commit = total_mb * 1024 * 1024 // COMMITS
    shas = []
    for c in range(COMMITS):
        dags = work / "dags"
        dags.mkdir(exist_ok=True)
        for i in range(DAG_FILES):
            if c == 0 or i % COMMITS == c:
                (dags / f"dag_{i:03d}.py").write_text(
                    f"# dag {i} rev {c}\nDAG_ID = 'd{i}'\n" + "x = 1\n" * 20
                )
        data = work / "etl" / "data"
        data.mkdir(parents=True, exist_ok=True)
        for j in range(3):
            (data / f"blob_{c}_{j}.bin").write_bytes(os.urandom(per_commit // 3))
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "-m", f"commit {c}", cwd=work)
        shas.append(_git("rev-parse", "HEAD", cwd=work))
    _git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=work)
    shas_file.write_text("\n".join(shas))
    return f"file://{bare}", shas


class _Storage:
    """A fresh bundle storage root per run; points Airflow (and its tracking folder) at it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="abx-bench-git-storage-"))
        self.current: Path | None = None

    def fresh(self) -> Path:
        import airflow.dag_processing.bundles.base as base

        if self.current:
            shutil.rmtree(self.current, ignore_errors=True)
        self.current = Path(tempfile.mkdtemp(dir=self.root))
        os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH"] = str(self.current)
        base.STALE_BUNDLE_TRACKING_FOLDER = self.current / "_tracking"
        return self.current

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _ours(**kw: Any) -> Any:
    from airflow_bundles_ext.bundles.git import GitDagBundle

    return GitDagBundle(**kw)


def _upstream(**kw: Any) -> Any:
    from airflow.providers.git.bundles.git import GitDagBundle

    return GitDagBundle(**kw)


def _cold(make: Callable[..., Any], url: str, storage: _Storage, opts: Options, **extra: Any) -> Result:
    state: dict[str, Any] = {}

    def setup() -> None:
        storage.fresh()
        state["b"] = make(name="bench", repo_url=url, tracking_ref="main", subdir="dags", **extra)

    wall = timed(lambda: state["b"].initialize(), opts.repeat, setup=setup)
    assert storage.current is not None
    files, disk = tree_stats(storage.current)
    return Result(
        wall_s=wall,
        files=len(list(Path(state["b"].path).rglob("*.py"))),
        extra={"disk_bytes": disk, "storage_files": files, **_spread(wall)},
    )


def _noop_refresh(make: Callable[..., Any], url: str, storage: _Storage, opts: Options) -> Result:
    storage.fresh()
    b = make(name="bench", repo_url=url, tracking_ref="main", subdir="dags")
    b.initialize()
    wall = timed(b.refresh, opts.repeat)
    return Result(wall_s=wall, files=len(list(Path(b.path).rglob("*.py"))), extra=_spread(wall))


def _spread(wall: list[float]) -> dict[str, float]:
    """Fastest and slowest run next to the table's median: how far one run can be off on a busy box."""
    return {"wall_min_s": round(min(wall), 4), "wall_max_s": round(max(wall), 4)}


def run(opts: Options) -> list[Case]:
    url, shas = build_fixture(15 if opts.quick else 150)
    storage = _Storage()
    try:
        cases = []
        ours, up = _cold(_ours, url, storage, opts), _cold(_upstream, url, storage, opts)
        cases.append(
            Case(
                "cold initialize subdir=dags",
                ours,
                up,
                goal="disk <= 0.10x, wall <= 0.25x",
                notes=f"{len(shas)} commits, {DAG_FILES} DAG files",
            )
        )
        cases.append(
            Case(
                "no-change refresh",
                _noop_refresh(_ours, url, storage, opts),
                _noop_refresh(_upstream, url, storage, opts),
                goal="wall <= 0.5x",
            )
        )
        pinned = shas[2]
        cases.append(
            Case(
                "pinned older SHA, empty storage root",
                _cold(_ours, url, storage, opts, version=pinned),
                _cold(_upstream, url, storage, opts, version=pinned),
                goal="wall <= 0.25x",
                notes=f"version={pinned[:12]}",
            )
        )
        return cases
    finally:
        storage.close()
