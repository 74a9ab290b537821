"""Config sync sidecar: our ETag cycle vs the blog's ``aws s3 sync`` loop, 500 bundle files.

"upstream" is the blog's loop reimplemented faithfully with boto3 (the aws CLI is not
installed here): ``aws s3 sync --delete`` semantics into a persistent staging directory
(download when the size differs or S3's LastModified is newer than the local mtime, set the
local mtime to LastModified, delete what the listing lacks), then for every staged file
parse the JSON, MD5 it and the final copy, and copy + rename only changed files into the
final directory; final files without a staged twin are deleted. It validates JSON syntax
only. Ours runs :class:`airflow_bundles_ext.sidecar.sync.Syncer` in-process, as the
console script's loop does. Both talk HTTP to the rig's moto server, which counts requests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Options, Result, timed
from tests.rig.moto import MotoServer

BUCKET = "bench-config"
PREFIX = "airflow/dag-bundles/"
CLASSPATH = "airflow_bundles_ext.bundles.s3.S3DagBundle"


def bundle(i: int, version: int = 0, classpath: str = CLASSPATH) -> bytes:
    kwargs = {"bucket_name": "workspace", "prefix": f"etls/project-{i:04d}/latest/dags", "v": version}
    return json.dumps({"name": f"project-{i:04d}", "classpath": classpath, "kwargs": kwargs}).encode()


class BlogLoop:
    """The blog's sidecar cycle: ``aws s3 sync --delete`` to staging, MD5 compare, rename."""

    def __init__(self, client: Any, staging: Path, final: Path) -> None:
        self.client, self.staging, self.final = client, staging, final
        self.hashed = 0
        self.staging_writes = 0

    def cycle(self) -> None:
        self._s3_sync_delete()
        staged = set()
        for path in sorted(self.staging.glob("*.json")):
            data = path.read_bytes()
            try:
                json.loads(data)
            except ValueError:
                continue  # "two-stage validation": invalid JSON is not promoted
            staged.add(path.name)
            target = self.final / path.name
            self.hashed += 1 + target.exists()
            if target.exists() and hashlib.md5(target.read_bytes()).digest() == hashlib.md5(data).digest():
                continue
            tmp = self.final / f".{path.name}.tmp"
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        for path in self.final.glob("*.json"):
            if path.name not in staged:
                path.unlink()

    def _s3_sync_delete(self) -> None:
        listed = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
            for item in page.get("Contents", []):
                name = item["Key"][len(PREFIX) :]
                listed.add(name)
                local = self.staging / name
                remote_mtime = item["LastModified"].timestamp()
                if local.exists():
                    st = local.stat()
                    if st.st_size == item["Size"] and remote_mtime <= st.st_mtime:
                        continue
                body = self.client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                tmp = self.staging / f".{name}.part"
                tmp.write_bytes(body)
                os.replace(tmp, local)
                os.utime(local, (remote_mtime, remote_mtime))
                self.staging_writes += 1
        for path in self.staging.iterdir():
            if path.name not in listed:
                path.unlink()


def _stamps(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.glob("*.json")}


def _writes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> int:
    return sum(1 for name, stamp in after.items() if before.get(name) != stamp)


class Bench:
    def __init__(self, server: MotoServer, root: Path, n: int) -> None:
        self.server, self.root, self.n = server, root, n
        self.client = server.boto3_client()
        self.version = 0

    def upload_all(self) -> None:
        self.client.create_bucket(Bucket=BUCKET)
        for i in range(self.n):
            self.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}project-{i:04d}.json", Body=bundle(i))

    def change_one(self, classpath: str = CLASSPATH) -> None:
        self.version += 1
        body = bundle(7, self.version, classpath)
        self.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}project-0007.json", Body=body)

    def ours(self, fresh: bool) -> tuple[Callable[[], None], Path]:
        from airflow_bundles_ext.sidecar.config import sync_config
        from airflow_bundles_ext.sidecar.s3 import make_client
        from airflow_bundles_ext.sidecar.sync import Syncer

        final = self.root / "ours"
        if fresh:
            shutil.rmtree(final, ignore_errors=True)
        flags = {"bucket": BUCKET, "prefix": PREFIX, "path": str(final), "endpoint_url": self.server.endpoint}
        config = sync_config(flags, {"AWS_MAX_ATTEMPTS": "3"})
        syncer = Syncer(config, make_client(config))
        syncer.prepare()
        return syncer.run_cycle, final

    def upstream(self, fresh: bool) -> tuple[Callable[[], None], Path, BlogLoop]:
        staging, final = self.root / "up-staging", self.root / "up-final"
        if fresh:
            for d in (staging, final):
                shutil.rmtree(d, ignore_errors=True)
        staging.mkdir(exist_ok=True)
        final.mkdir(exist_ok=True)
        loop = BlogLoop(self.server.boto3_client(), staging, final)
        return loop.cycle, final, loop

    def measure(
        self,
        cycle: Callable[[], Any],
        final: Path,
        setup: Callable[[], None] | None,
        repeat: int,
        extra: Callable[[], dict[str, float]] | None = None,
    ) -> Result:
        """Time ``repeat`` cycles; counts and writes are those of the last one (they are the same)."""
        box: dict[str, Any] = {}

        def prepare() -> None:
            if setup:
                setup()
            box["before"] = _stamps(final) if final.exists() else {}
            box["extra0"] = extra() if extra else {}
            self.server.reset_counts()

        samples = timed(cycle, repeat, setup=prepare)
        counts = self.server.counts()
        writes = _writes(box["before"], _stamps(final))
        extras = {"final_writes": float(writes)}
        if extra:
            extras.update({k: v - box["extra0"].get(k, 0) for k, v in extra().items()})
        requests = {k.split(":", 1)[1]: v for k, v in counts.requests.items()}
        return Result(
            samples, requests=requests, bytes=counts.bytes_out, files=len(_stamps(final)), extra=extras
        )


def run(opts: Options) -> list[Case]:
    n = 50 if opts.quick else 500
    root = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    logging.getLogger("airflow_bundles_ext.sidecar").setLevel(logging.CRITICAL)  # refusals are expected
    server = MotoServer().start()
    # boto3's own chain supplies the sidecar's credentials, as in a pod: moto's dummy ones here.
    os.environ.update({k: v for k, v in server.client_env().items() if k.startswith("AWS_")})
    try:
        bench = Bench(server, root, n)
        bench.upload_all()
        return _cases(bench, n, opts.repeat)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _cases(bench: Bench, n: int, repeat: int) -> list[Case]:
    cases = []
    # First sync into an empty directory: one fresh process per repetition.
    ours_first = _fresh_runs(bench, repeat, ours=True)
    up_first = _fresh_runs(bench, repeat, ours=False)
    cases.append(Case(f"first sync, {n} objects", ours_first, up_first, notes="both GET every object"))

    ours_cycle, ours_dir = bench.ours(fresh=True)
    ours_cycle()
    up_cycle, up_dir, loop = bench.upstream(fresh=True)
    up_cycle()
    up_extra = lambda: {"staging_writes": float(loop.staging_writes), "files_hashed": float(loop.hashed)}  # noqa: E731
    cases.append(
        Case(
            f"no change, {n} objects",
            bench.measure(ours_cycle, ours_dir, None, repeat),
            bench.measure(up_cycle, up_dir, None, repeat, up_extra),
            goal="ours: ListObjectsV2 only, GetObject=0, final_writes=0",
        )
    )
    cases.append(
        Case(
            f"one object changed, {n} objects",
            bench.measure(ours_cycle, ours_dir, bench.change_one, repeat),
            _one_change_upstream(bench, up_cycle, up_dir, repeat, up_extra),
            goal="ours: GetObject=1, final_writes=1",
        )
    )
    cases.append(_restart_case(bench, n, repeat))
    evil = "my_team.bundles.Anything"
    cases.append(
        Case(
            f"one upload with a disallowed classpath, {n} objects",
            bench.measure(ours_cycle, ours_dir, lambda: bench.change_one(evil), repeat),
            _one_change_upstream(bench, up_cycle, up_dir, repeat, up_extra, evil),
            goal="ours: final_writes=0 (refused, previous copy kept)",
            notes="the blog checks JSON syntax only, so it promotes the file",
        )
    )
    return cases


def _one_change_upstream(bench, up_cycle, up_dir, repeat, up_extra, classpath: str = CLASSPATH) -> Result:
    # aws s3 sync compares whole seconds of LastModified: keep changes a second apart, untimed.
    def setup() -> None:
        import time

        time.sleep(1.05)
        bench.change_one(classpath)

    return bench.measure(up_cycle, up_dir, setup, repeat, up_extra)


def _restart_case(bench: Bench, n: int, repeat: int) -> Case:
    """The sync container restarts, the pod (and its emptyDir) stays. Ours keeps its state
    file in the watched directory; the blog's staging dir is container-local, so it is lost."""
    holder: dict[str, Any] = {}

    def restart_ours() -> None:
        holder["ours"], _ = bench.ours(fresh=False)

    def restart_upstream() -> None:
        shutil.rmtree(bench.root / "up-staging", ignore_errors=True)
        holder["up"], _, _ = bench.upstream(fresh=False)

    return Case(
        f"sync container restarted, no change, {n} objects",
        bench.measure(lambda: holder["ours"](), bench.root / "ours", restart_ours, repeat),
        bench.measure(lambda: holder["up"](), bench.root / "up-final", restart_upstream, repeat),
        goal="ours: ListObjectsV2 only, GetObject=0, final_writes=0",
        notes="upstream: staging in the container (lost on restart), final dir in the shared emptyDir",
    )


def _fresh_runs(bench: Bench, repeat: int, *, ours: bool) -> Result:
    holder: dict[str, Any] = {}

    def setup() -> None:
        if ours:
            holder["cycle"], holder["dir"] = bench.ours(fresh=True)
        else:
            holder["cycle"], holder["dir"], _ = bench.upstream(fresh=True)

    setup()
    result = bench.measure(lambda: holder["cycle"](), holder["dir"], setup, repeat)
    return result
