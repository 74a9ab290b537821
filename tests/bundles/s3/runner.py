"""Refresh (or initialize) one S3 bundle in this process and print a JSON answer on stdout.

``python -m tests.bundles.s3.runner --name N --bucket B --prefix P [--version V] [--stats core|sdk]``

``--stats`` initialises Airflow's stats backend the way the DAG processor (``core``) or the task
runner (``sdk``) does, so metrics go to whatever ``[metrics]`` config the environment sets.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="dags")
    parser.add_argument("--version")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--stats", choices=("core", "sdk"))
    args = parser.parse_args(argv)
    if args.stats:
        from tests.rig.stats_init import init_stats

        init_stats(args.stats)
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

    bundle = S3DagBundle(
        name=args.name,
        bucket_name=args.bucket,
        prefix=args.prefix,
        version=args.version,
        max_workers=args.max_workers,
        max_attempts=2,
    )
    try:
        bundle.initialize()
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        return 1
    current = bundle.get_current_version()
    print(json.dumps({"version": getattr(current, "version", current), "path": str(bundle.path)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
