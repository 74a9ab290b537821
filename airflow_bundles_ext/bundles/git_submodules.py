"""Submodules of a git bundle version: fetched by SHA into their own partial stores, checked out
as plain files inside the version tree (no ``.git`` anywhere), nested up to a few levels.

URLs come from ``.gitmodules`` of the same commit; relative ones are resolved against the parent
remote, and unsafe transports are refused (``git_urls.submodule_url``). The parent's git environment
(credentials included) is reused, so submodules on the same host authenticate the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from airflow_bundles_ext.bundles.git_store import GitStore
from airflow_bundles_ext.core import git_urls, refs
from airflow_bundles_ext.core.paths import safe_relative_path
from airflow_bundles_ext.errors import GitSourceError

MAX_DEPTH = 3


def checkout_submodules(
    store: GitStore, sha: str, tree: Path, under: list[str] | None, modules_dir: Path, depth: int = 0
) -> None:
    """Check out every submodule of ``sha`` lying under ``under`` (all if ``None``) into ``tree``."""
    links = store.gitlinks(sha, under)
    if not links:
        return
    if depth >= MAX_DEPTH:
        raise GitSourceError(f"git submodules nested deeper than {MAX_DEPTH} levels at {sha}; flatten them")
    listing = store.runner.run(
        "config", "--blob", f"{sha}:.gitmodules", "--list", what="read .gitmodules", ref=sha
    )
    modules = refs.parse_gitmodules(listing)
    for path, commit in links:
        module = modules.get(path)
        if module is None:
            raise GitSourceError(
                f"git submodule {path} at {sha} has no entry in .gitmodules; fix .gitmodules"
            )
        url = git_urls.submodule_url(store.runner.url, module.url)
        sub = _module_store(store, url, module.name, modules_dir)
        sub.ensure(url)
        if not sub.has_commit(commit):
            sub.fetch_sha(commit, keep=False)
        target = tree / safe_relative_path(path, what="submodule path")
        target.mkdir(parents=True, exist_ok=True)
        sub.checkout(commit, target, None)
        checkout_submodules(sub, commit, target, None, modules_dir, depth + 1)


def _module_store(parent: GitStore, url: str, name: str, modules_dir: Path) -> GitStore:
    digest = hashlib.sha256(f"{name}\0{url}".encode()).hexdigest()[:16]
    return GitStore.at(modules_dir / f"{digest}.git", replace(parent.runner, url=url))
