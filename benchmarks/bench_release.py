"""Packed versions and release mode (issue 11): ours vs upstream's ``S3DagBundle`` in one run.

2,000 x 4 KiB objects on the moto server, with 5 ms added to every request (a rig fault), so
request counts show in wall time as they would against S3:

- fresh worker, pinned older version (goal: <= 3 requests, wall <= 0.03x upstream cold initialize);
- 20 task starts, each on a fresh storage root (KubernetesExecutor; goal: <= 3 x 20 requests);
- processor cold start with the archive present (goal: ceil(N/1000) LIST + <= 2 GET);
- release mode, no-change refresh at 10,000 objects (goal: 1 request);
- ``airflow-bundle-release publish`` of an unchanged tree / of one changed file (0 / 1 object PUTs);
- rollback -> the processor serves the old version (goal: within one refresh check);
- the cost: bytes and time a processor spends writing the archive of a new version.

Upstream has no versions: "pinned" for upstream is its cold initialize of the same objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_s3 import BUCKET, OBJECT_BYTES, _environment, _upload
from benchmarks.harness import Case, Options, Result, fresh_storage_root, timed

LATENCY_S = 0.005
PREFIX = "small/"


def run(opts: Options) -> list[Case]:
    from tests.rig.moto import MotoServer

    scale = 10 if opts.quick else 1
    work = Path(tempfile.mkdtemp(prefix="abx-bench-release-"))
    server = MotoServer(log_path=work / "moto.log").start()
    try:
        _environment(server, work)
        client = server.boto3_client()
        client.create_bucket(Bucket=BUCKET)
        _upload(client, PREFIX, 2000 // scale)
        server.add_faults({"action": "delay", "seconds": LATENCY_S, "times": -1})
        bench = _Bench(server, client, work, opts.repeat)
        cases = bench.pinned_cases(2000 // scale)
        cases += bench.release_cases(work, 2000 // scale, 10000 // scale)
        return cases
    finally:
        server.stop()


class _Bench:
    def __init__(self, server: Any, client: Any, work: Path, repeat: int) -> None:
        self.server, self.client, self.work, self.repeat = server, client, work, repeat
        self.roots = 0

    def fresh_root(self) -> Path:
        """A new storage root for the next bundle (cold start)."""
        self.roots += 1
        return fresh_storage_root(self.work, self.roots)

    def measured(self, fn: Any, setup: Any = None, repeat: int | None = None) -> Result:
        walls, counts = [], None
        for _ in range(repeat or self.repeat):
            if setup:
                setup()
            self.server.reset_counts()
            walls += timed(fn, 1)
            counts = self.server.counts()
        assert counts is not None
        requests: dict[str, int] = {}
        for key, n in counts.requests.items():
            requests[key.split(":", 1)[1]] = requests.get(key.split(":", 1)[1], 0) + n
        extra = {"wall_min_s": round(min(walls), 4), "wall_max_s": round(max(walls), 4)}
        return Result(wall_s=walls, requests=requests, bytes=counts.bytes_out, extra=extra)

    # --- packed versions ---------------------------------------------------------------------

    def pinned_cases(self, n: int) -> list[Case]:
        self.fresh_root()
        processor = _ours()
        processor.initialize()
        old = processor.get_current_version().version
        cold = self.measured(lambda: _ours().initialize(), self.fresh_root)  # its archive is stored
        archive_cost = self._archive_cost(processor)
        holder: dict[str, Any] = {}

        def worker_setup() -> None:
            self.fresh_root()
            holder["b"] = _ours(version=old)

        pinned = self.measured(lambda: holder["b"].initialize(), worker_setup)

        def upstream_setup() -> None:
            self.fresh_root()
            holder["u"] = _upstream()

        upstream = self.measured(lambda: holder["u"].initialize(), upstream_setup, repeat=min(self.repeat, 2))
        twenty = self.measured(lambda: [self._task_start(old) for _ in range(20)], repeat=1)
        return [
            Case(
                f"fresh worker, pinned older version ({n} x 4 KiB)",
                pinned,
                upstream,
                goal="<= 3 requests; wall <= 0.03x upstream cold initialize",
                notes="upstream has no versions: its cold initialize of the same objects",
            ),
            Case("20 task starts, each on a fresh storage root", twenty, None, goal="total requests <= 60"),
            Case(
                "processor cold start, archive present",
                cold,
                None,
                goal=f"ListObjectsV2={-(-n // 1000)} + GetObject <= 2",
            ),
            archive_cost,
        ]

    def _task_start(self, version: str) -> None:
        self.fresh_root()
        _ours(version=version).initialize()

    def _archive_cost(self, processor: Any) -> Case:
        """One changed object: the refresh with the archive written vs without (packed=False)."""
        flips = {"n": 0}

        def change() -> None:
            flips["n"] += 1
            body = f"# changed {flips['n']}\n".encode().ljust(OBJECT_BYTES, b"y")
            self.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}d000/dag_00000.py", Body=body)

        packed = self.measured(processor.refresh, change)
        unpacked_bundle = _ours(name="unpacked", packed=False)
        unpacked_bundle.initialize()
        unpacked = self.measured(unpacked_bundle.refresh, change)
        archive_bytes = self._last_archive_bytes(processor)
        packed.extra["archive_bytes"] = archive_bytes
        return Case(
            "cost: a new version's archive (one changed object)",
            packed,
            unpacked,
            goal="report: extra PUT bytes and wall per new version",
            notes=f"'upstream' row here = ours with packed=False; archive {archive_bytes} bytes",
        )

    def _last_archive_bytes(self, processor: Any) -> int:
        version = processor.get_current_version().version
        head = self.client.head_object(Bucket=BUCKET, Key=processor.archive_key(version))
        return int(head["ContentLength"])

    # --- release mode ----------------------------------------------------------------------------

    def release_cases(self, work: Path, n: int, big: int) -> list[Case]:
        tree = work / "release-tree"
        for i in range(n):
            path = tree / f"d{i // 100:03}" / f"dag_{i:05}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"# object {i}\n".encode().ljust(OBJECT_BYTES, b"x"))
        root = f"s3://{BUCKET}/rel"
        first = _release("publish", str(tree), root)
        unchanged = self.measured(lambda: _release("publish", str(tree), root), repeat=1)
        (tree / "d000" / "dag_00000.py").write_bytes(b"# one change\n".ljust(OBJECT_BYTES, b"z"))
        one = self.measured(lambda: _release("publish", str(tree), root), repeat=1)
        self.fresh_root()
        bundle = _ours(name="released", prefix="rel", release_mode=True)
        bundle.initialize()
        release_refresh, up_refresh = self._no_change_at(work, big)
        rollback = self.measured(
            lambda: (_release("rollback", root, first["version"]), bundle.refresh()), repeat=1
        )
        assert bundle.get_current_version().version == first["version"]
        return [
            Case(
                f"release mode, no-change refresh at {big} objects",
                release_refresh,
                up_refresh,
                goal="ours: 1 request",
                notes="upstream: its no-change refresh of the same objects",
            ),
            Case(f"publish of an unchanged tree ({n} files)", unchanged, None, goal="0 object PUTs"),
            Case(
                f"publish of one changed file ({n} files)",
                one,
                None,
                goal="1 object PUT (+ manifest, archive, 2 CAS probes, pointer)",
            ),
            Case(
                "rollback -> the processor serves the old version",
                rollback,
                None,
                goal="within one refresh check",
                notes="rollback command + one refresh of the bundle",
            ),
        ]

    def _no_change_at(self, work: Path, big: int) -> tuple[Result, Result]:
        tree = work / "big-tree"
        for i in range(big):
            path = tree / f"d{i // 1000:03}" / f"f{i:05}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"x = {i}\n")
        _release("publish", str(tree), f"s3://{BUCKET}/big")
        _upload(self.client, "large/", big)
        self.fresh_root()
        ours = _ours(name="big-released", prefix="big", release_mode=True)
        ours.initialize()
        upstream = _upstream(prefix="large/", name="up-large")
        upstream.initialize()
        return self.measured(ours.refresh), self.measured(upstream.refresh)


def _release(*args: str) -> dict[str, Any]:
    script = str(Path(sys.executable).with_name("airflow-bundle-release"))
    proc = subprocess.run([script, *args], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    if proc.returncode != 0:
        raise RuntimeError(f"airflow-bundle-release {' '.join(args)} failed: {proc.stderr}")
    return json.loads(proc.stdout)


def _ours(name: str = "ours", prefix: str = PREFIX, **kwargs: Any) -> Any:
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

    return S3DagBundle(name=name, bucket_name=BUCKET, prefix=prefix, **kwargs)


def _upstream(prefix: str = PREFIX, name: str = "upstream") -> Any:
    from airflow.providers.amazon.aws.bundles.s3 import S3DagBundle

    return S3DagBundle(name=name, bucket_name=BUCKET, prefix=prefix)
