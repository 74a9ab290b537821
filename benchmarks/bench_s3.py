"""S3 bundle: ours vs upstream ``airflow.providers.amazon.aws.bundles.s3.S3DagBundle``.

One moto server (S3 API over HTTP on 127.0.0.1, requests and bytes counted by the server),
the same objects for both, fresh storage roots per cold run:

- cold initialize of 2,000 x 4 KiB objects (goal: ours <= 0.25x upstream median wall time);
- no-change refresh of 10,000 objects (ours: LIST requests only);
- one changed object among 2,000 (ours: exactly one GET).

Robustness on a shared, loaded machine: ours and upstream run *alternately* (ours, upstream,
ours, ...), so a load spike hits both rather than one; the cold case runs at least
``COLD_MIN_REPEATS`` times whatever ``--repeat`` says; every result carries its spread
(``wall_min_s``, ``wall_max_s`` next to the median) so a ratio near the goal can be judged.

``--quick`` shrinks the data sets tenfold.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Options, Result, fresh_storage_root, timed, tree_stats

BUCKET = "bench-bucket"
OBJECT_BYTES = 4096
COLD_MIN_REPEATS = 7


def run(opts: Options) -> list[Case]:
    from tests.rig.moto import MotoServer

    scale = 10 if opts.quick else 1
    work = Path(tempfile.mkdtemp(prefix="abx-bench-s3-"))
    server = MotoServer(log_path=work / "moto.log").start()
    try:
        _environment(server, work)
        client = server.boto3_client()
        client.create_bucket(Bucket=BUCKET)
        _upload(client, "small/", 2000 // scale)
        _upload(client, "large/", 10000 // scale)
        bench = _Bench(server, work, opts.repeat)
        return [
            bench.cold_initialize("small/", 2000 // scale),
            bench.no_change_refresh("large/", 10000 // scale),
            bench.one_changed_object(client, "small/", 2000 // scale),
        ]
    finally:
        server.stop()


def _environment(server: Any, work: Path) -> None:
    for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
        del os.environ[key]
    os.environ.update(server.client_env())
    os.environ.update(
        {
            "AIRFLOW_HOME": str(work / "home"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(work / "storage"),
        }
    )


def _upload(client: Any, prefix: str, count: int) -> None:
    def put(i: int) -> None:
        body = f"# object {i}\n".encode().ljust(OBJECT_BYTES, b"x")
        client.put_object(Bucket=BUCKET, Key=f"{prefix}d{i // 100:03}/dag_{i:05}.py", Body=body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(count)))


@dataclass(frozen=True)
class _Impl:
    """One implementation in a case: the timed call, its untimed setup, the tree to measure."""

    run: Callable[[], Any]
    setup: Callable[[], Any] | None
    path: Callable[[], Path]


class _Bench:
    def __init__(self, server: Any, work: Path, repeat: int) -> None:
        self.server = server
        self.work = work
        self.repeat = repeat
        self.roots = 0

    def fresh_root(self) -> Path:
        """A new storage root for the next bundle (cold start)."""
        self.roots += 1
        return fresh_storage_root(self.work, self.roots)

    def measure_pair(self, ours: _Impl, upstream: _Impl, repeat: int) -> tuple[Result, Result]:
        """Time ours and upstream alternately, ``repeat`` times each.

        Requests and bytes are those of each implementation's last run (the server counts are
        reset before every timed run).
        """
        walls: dict[str, list[float]] = {"ours": [], "upstream": []}
        counts: dict[str, Any] = {}
        for _ in range(repeat):
            for label, impl in (("ours", ours), ("upstream", upstream)):
                if impl.setup:
                    impl.setup()
                self.server.reset_counts()
                walls[label] += timed(impl.run, 1)
                counts[label] = self.server.counts()
        return (
            self._result(walls["ours"], counts["ours"], ours.path()),
            self._result(walls["upstream"], counts["upstream"], upstream.path()),
        )

    @staticmethod
    def _result(walls: list[float], counts: Any, path: Path) -> Result:
        requests: dict[str, int] = {}
        for key, n in counts.requests.items():
            op = key.split(":", 1)[1]
            requests[op] = requests.get(op, 0) + n
        files, disk = tree_stats(path)
        extra = {"wall_min_s": round(min(walls), 4), "wall_max_s": round(max(walls), 4), "disk": disk}
        return Result(wall_s=walls, requests=requests, bytes=counts.bytes_out, files=files, extra=extra)

    def cold_initialize(self, prefix: str, count: int) -> Case:
        def cold(factory: Callable[[], Any]) -> _Impl:
            holder: dict[str, Any] = {}

            def setup() -> None:
                self.fresh_root()
                holder["bundle"] = factory()

            return _Impl(lambda: holder["bundle"].initialize(), setup, lambda: holder["bundle"].path)

        ours, upstream = self.measure_pair(
            cold(lambda: _ours(prefix)), cold(lambda: _upstream(prefix)), max(self.repeat, COLD_MIN_REPEATS)
        )
        return Case(
            f"cold initialize {count} x 4 KiB",
            ours,
            upstream,
            goal="median wall ratio <= 0.25",
            notes="ours: 16 parallel GETs over one client + 1 manifest PUT; upstream: HEAD+GET per object; "
            "runs alternate ours/upstream",
        )

    def no_change_refresh(self, prefix: str, count: int) -> Case:
        self.fresh_root()
        ours_bundle, upstream_bundle = _ours(prefix), _upstream(prefix, name="up-large")
        ours_bundle.initialize()
        upstream_bundle.initialize()
        ours, upstream = self.measure_pair(
            _Impl(ours_bundle.refresh, None, lambda: ours_bundle.path),
            _Impl(upstream_bundle.refresh, None, lambda: upstream_bundle.path),
            self.repeat,
        )
        pages = -(-count // 1000)
        return Case(
            f"no-change refresh {count} objects",
            ours,
            upstream,
            goal=f"ours: ListObjectsV2={pages} only",
            notes="report the wall ratio",
        )

    def one_changed_object(self, client: Any, prefix: str, count: int) -> Case:
        self.fresh_root()
        ours_bundle, upstream_bundle = _ours(prefix), _upstream(prefix, name="up-small")
        ours_bundle.initialize()
        upstream_bundle.initialize()
        flips = {"n": 0}

        def change() -> None:
            flips["n"] += 1
            body = f"# changed {flips['n']}\n".encode().ljust(OBJECT_BYTES, b"y")
            client.put_object(Bucket=BUCKET, Key=f"{prefix}d000/dag_00000.py", Body=body)

        ours, upstream = self.measure_pair(
            _Impl(ours_bundle.refresh, change, lambda: ours_bundle.path),
            _Impl(upstream_bundle.refresh, change, lambda: upstream_bundle.path),
            self.repeat,
        )
        return Case(
            f"one changed object of {count}",
            ours,
            upstream,
            goal="ours: GetObject=1",
            notes="ours also PUTs the new version's manifest",
        )


def _ours(prefix: str, name: str = "ours") -> Any:
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

    return S3DagBundle(name=name, bucket_name=BUCKET, prefix=prefix)


def _upstream(prefix: str, name: str = "upstream") -> Any:
    from airflow.providers.amazon.aws.bundles.s3 import S3DagBundle

    return S3DagBundle(name=name, bucket_name=BUCKET, prefix=prefix)
