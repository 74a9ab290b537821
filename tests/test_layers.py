"""The package's import graph has layers, and no import runs back up (issue 10).

    core       pure data and functions: core/*, errors (no boto3, git, Airflow)
    low        shells any part may use: compat (Airflow-version differences), s3_client, archive,
               publish, tree_check, policy_source, metrics
    components bundles, watcher, sidecar, release, status
    integration  the one place that patches Airflow internals
    entry      what Airflow or a user calls: cli, api, plugin, activate, policy_hook, provider info

Every ``airflow_bundles_ext`` import, module-level or inside a function, is checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_bundles_ext

PACKAGE = Path(airflow_bundles_ext.__file__).parent
LAYERS = (
    ("core", {"core", "errors"}),
    ("low", {"compat", "s3_client", "archive", "publish", "tree_check", "policy_source", "metrics"}),
    ("components", {"bundles", "watcher", "sidecar", "release", "status"}),
    ("integration", {"integration"}),
    ("entry", {"cli", "api", "plugin", "activate", "policy_hook", "get_provider_info", "__init__"}),
)
PURE_CORE_FORBIDDEN = ("airflow", "boto3", "botocore", "sqlalchemy")


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, (_, names) in enumerate(LAYERS) if top in names)


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "airflow_bundles_ext":  # a submodule, or a name of the package root
                found += [
                    f"airflow_bundles_ext.{a.name}" if _is_module(a.name) else node.module for a in node.names
                ]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def _is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = ".".join(("airflow_bundles_ext", *path.relative_to(PACKAGE).with_suffix("").parts))
        out.append((name.removesuffix(".__init__"), path))
    return out


def test_every_module_belongs_to_a_layer():
    for name, _ in modules():
        layer(name)  # raises StopIteration for a module outside every layer


def test_no_import_runs_back_up_the_layers():
    upward = []
    for name, path in modules():
        mine = layer(name)
        for target in imports(path):
            if target.startswith("airflow_bundles_ext") and layer(target) > mine:
                upward.append(f"{name} ({LAYERS[mine][0]}) imports {target} ({LAYERS[layer(target)][0]})")
    assert upward == []


def test_the_core_imports_no_io_library_nor_airflow():
    offenders = []
    for name, path in modules():
        if layer(name) != 0:
            continue
        offenders += [f"{name} imports {t}" for t in imports(path) if t.split(".")[0] in PURE_CORE_FORBIDDEN]
    assert offenders == []
