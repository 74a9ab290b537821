"""Resolve one bundle the way a worker does, in a fresh process, and print a JSON answer.

    ABX_CONTRACT='{"name": ..., "version": ...}' python -m tests.bundles.contract_runner

The bundle comes from ``[dag_processor] dag_bundle_config_list`` (the environment) through
``DagBundlesManager().get_bundle(name, version)``, exactly as the task runner does it; the
storage root is whatever ``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH`` says (empty for a
fresh worker). The answer holds the version and a digest of the tree at ``bundle.path``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def digest(root: Path) -> str:
    h = hashlib.sha256()
    base = Path(os.path.realpath(root))
    for p in sorted(base.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(base)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def main() -> int:
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    request = json.loads(os.environ["ABX_CONTRACT"])
    bundle = DagBundlesManager().get_bundle(request["name"], version=request.get("version"))
    try:
        bundle.initialize()
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        return 1
    current = bundle.get_current_version()
    answer = {"version": getattr(current, "version", current), "digest": digest(bundle.path)}
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
