"""Run in a fresh Airflow process: resolve every bundle the way a worker does and print JSON.

    python -m tests.security.resolver [--initialize]

``DagBundlesManager()`` (what the task runner, callbacks and the CLI build) must never raise
because of one bundle file; ``--initialize`` also initializes every bundle in force, which is
when a bundle talks to its source (and would send credentials).
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    from airflow_bundles_ext.integration.bundles import directory_view

    manager = DagBundlesManager()
    out: dict = {"bundles": {}, "errors": {}, "initialized": {}}
    for name, config in manager._bundle_config.items():
        out["bundles"][name] = {"team_name": config.team_name, "kwargs": config.kwargs}
    view = directory_view()
    if view is not None and view.last_resolution is not None:
        out["errors"] = {f: e.message for f, e in view.last_resolution.errors.items()}
    if "--initialize" in sys.argv:
        for name in manager._bundle_config:
            try:
                manager.get_bundle(name).initialize()
                out["initialized"][name] = "ok"
            except Exception as exc:
                out["initialized"][name] = f"{type(exc).__name__}: {exc}"
    print("RESOLVER-JSON " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()
