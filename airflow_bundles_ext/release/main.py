"""The ``airflow-bundle-release`` console script: ``publish``, ``rollback``, ``list``.

    airflow-bundle-release publish DIR s3://BUCKET/PREFIX [--expect-current VERSION] [--no-cas]
    airflow-bundle-release rollback s3://BUCKET/PREFIX VERSION [--expect-current VERSION] [--no-cas]
    airflow-bundle-release list s3://BUCKET/PREFIX

Each prints one JSON object on stdout (errors: one line on stderr). Exit codes: see
:mod:`airflow_bundles_ext.release`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.core.release import Pointer, ReleaseLayout
from airflow_bundles_ext.errors import (
    BundlesExtError,
    ConditionalWritesUnsupportedError,
    ReleaseConflictError,
    ReleaseError,
    UnsafePathError,
)
from airflow_bundles_ext.release import EXIT_CONFLICT, EXIT_FAILED, EXIT_NO_CAS, EXIT_OK, EXIT_USAGE, steps
from airflow_bundles_ext.s3_client import S3Objects, make_client

MANIFEST_LIMIT = 256 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-bundle-release", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--endpoint-url", default=None, help="S3 endpoint (boto3 also reads AWS_ENDPOINT_URL)"
    )
    parser.add_argument("--max-attempts", type=int, default=5, help="attempts per S3 request (default 5)")
    parser.add_argument("--workers", type=int, default=16, help="parallel uploads (default 16)")
    sub = parser.add_subparsers(dest="command", required=True)
    publish = sub.add_parser("publish", help="publish DIR as a release and make it current")
    publish.add_argument("directory", type=Path)
    publish.add_argument("url", help="s3://BUCKET/PREFIX, the bundle's release root")
    rollback = sub.add_parser("rollback", help="make an earlier release current again")
    rollback.add_argument("url")
    rollback.add_argument("version")
    for cmd in (publish, rollback):
        cmd.add_argument(
            "--expect-current",
            metavar="VERSION",
            help="refuse unless this release is current ('none': no release yet)",
        )
        cmd.add_argument("--no-cas", action="store_true", help="write the pointer without compare-and-swap")
    listing = sub.add_parser("list", help="every release, and which one is current")
    listing.add_argument("url")
    return parser


def parse_url(url: str) -> ReleaseLayout:
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ReleaseError(f"invalid release root {url!r}: expected s3://BUCKET/PREFIX")
    bucket, _, prefix = url[5:].partition("/")
    return ReleaseLayout.of(bucket, prefix)


def publish(objects: S3Objects, layout: ReleaseLayout, args: argparse.Namespace) -> dict[str, Any]:
    tree = steps.scan(args.directory)
    version = tree.manifest.version
    current, etag = steps.read_pointer(objects, layout)
    result: dict[str, Any] = {"version": version, "previous": current.version if current else None}
    result["pointer"] = layout.url(layout.pointer)
    if current is not None and current.version == version:
        return {
            **result,
            "changed": False,
            "objects": {"total": len(tree.files), "uploaded": 0},
            "bytes_uploaded": 0,
        }
    steps.check_expected(current, args.expect_current, layout)
    uploads = steps.upload_missing(objects, layout, tree, args.workers)
    archive_bytes = steps.store_version(objects, layout, tree)
    _move_pointer(objects, layout, Pointer(version, result["previous"], steps.now()), etag, args.no_cas)
    objects_out = {"total": len(tree.files), "uploaded": uploads["uploaded"], "skipped": uploads["skipped"]}
    bytes_out = uploads["bytes_uploaded"]
    return {
        **result,
        "changed": True,
        "objects": objects_out,
        "bytes_uploaded": bytes_out,
        "archive_bytes": archive_bytes,
    }


def rollback(objects: S3Objects, layout: ReleaseLayout, args: argparse.Namespace) -> dict[str, Any]:
    version = check_segment(args.version, what="release version")
    data, _ = objects.get_bytes(layout.manifest_key(version), limit=MANIFEST_LIMIT)
    stored = mf.loads(data, source=layout.url(layout.manifest_key(version)))
    if stored.manifest.version != version:
        raise ReleaseError(f"cannot roll back to {version}: its stored manifest describes another version")
    current, etag = steps.read_pointer(objects, layout)
    steps.check_expected(current, args.expect_current, layout)
    previous = current.version if current else None
    if previous != version:
        _move_pointer(objects, layout, Pointer(version, previous, steps.now()), etag, args.no_cas)
    return {
        "version": version,
        "previous": previous,
        "changed": previous != version,
        "pointer": layout.url(layout.pointer),
    }


def _move_pointer(
    objects: S3Objects, layout: ReleaseLayout, pointer: Pointer, etag: str | None, no_cas: bool
) -> None:
    if not no_cas:
        steps.ensure_conditional_writes(objects, layout)
    steps.write_pointer(objects, layout, pointer, etag, cas=not no_cas)


def list_releases(objects: S3Objects, layout: ReleaseLayout, args: argparse.Namespace) -> dict[str, Any]:
    found = steps.releases(objects, layout)
    current = next((r["version"] for r in found if r["current"]), None)
    return {"root": layout.url(), "current": current, "releases": found}


COMMANDS = {"publish": publish, "rollback": rollback, "list": list_releases}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        layout = parse_url(args.url)
        client = make_client(
            endpoint_url=args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
            max_attempts=args.max_attempts,
            agent="airflow-bundle-release",
        )
        result = COMMANDS[args.command](
            S3Objects(client, layout.bucket, max_attempts=args.max_attempts), layout, args
        )
    except ReleaseConflictError as exc:
        return _fail(exc, EXIT_CONFLICT)
    except ConditionalWritesUnsupportedError as exc:
        return _fail(exc, EXIT_NO_CAS)
    except (ReleaseError, UnsafePathError) as exc:
        return _fail(exc, EXIT_USAGE if "invalid release root" in str(exc) else EXIT_FAILED)
    except (BundlesExtError, OSError) as exc:
        return _fail(exc, EXIT_FAILED)
    print(json.dumps(result, sort_keys=True))
    return EXIT_OK


def _fail(exc: Exception, code: int) -> int:
    print(f"airflow-bundle-release: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
