"""What the watcher keeps on disk between process starts.

Layout under ``[bundles_ext] config_state_path`` (default
``<dag_bundle_storage_path>/_bundles_ext/config_state``), one directory per watched directory
and ``[bundles_ext] config_state_id``::

    <slug>-<hash of the directory's real path and the state id>/
        last_good.json          file name -> last good bundle definition
        owner-<shard>.json      bundles a DAG processor owns, and removals pending reclaim

``last_good.json`` is what keeps a bundle whose file turned invalid in force in a process that
starts while the file is invalid. Only DAG processors write it (atomic rename, only when it
changed); every process reads it and reads it again when its stat changes, so a process that
last saw an older definition never writes it back. ``owner-<shard>.json`` is written by the
DAG processor only (``<shard>`` is ``all`` or a hash of its ``--bundle-name`` list): a
processor deactivates only the bundles recorded there that are now gone, including those
deleted while it was down. ``config_state_id`` keeps deployments that share a state volume
and mount their directory at the same path apart.

Reading never fails: a missing or corrupt state file reads as empty, which only loses the
fallbacks it held (logged once per file content).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from airflow_bundles_ext.core.bundle_config import BundleSpec, parse_bundle_entry
from airflow_bundles_ext.errors import BundleConfigError
from airflow_bundles_ext.publish import atomic_write

log = structlog.get_logger(__name__)


def state_dir_for(state_root: Path, directory: Path, state_id: str = "") -> Path:
    """The state directory of one watched directory of one deployment (``state_id``)."""
    real = os.path.realpath(directory)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(real))[:40] or "root"
    key = real if not state_id else f"{real}\n{state_id}"
    return state_root / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def shard_key(bundle_names: Iterable[str] | None) -> str:
    names = sorted(bundle_names or ())
    return "all" if not names else hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


_reported: set[tuple[str, str]] = set()


def _unreadable(path: Path, error: str) -> dict[str, Any]:
    if (str(path), error) not in _reported:  # once per path and problem, not every reload
        _reported.add((str(path), error))
        log.error("watcher state unreadable, reading it as empty", path=str(path), error=error)
    return {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        return _unreadable(path, str(exc))
    return data if isinstance(data, dict) else _unreadable(path, "not a JSON object")


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True).encode())


class LastGoodStore:
    """``last_good.json``: the last good definition of every file of one directory.

    Only a ``writable`` store (the DAG processor's) saves; every store reloads on change.
    """

    def __init__(self, state_dir: Path, *, writable: bool = True) -> None:
        self.path = state_dir / "last_good.json"
        self.writable = writable
        self._saved: dict[str, dict[str, Any]] | None = None
        self._stat: tuple[int, int, int] | None = None

    def load(self) -> dict[str, BundleSpec]:
        self._stat = _stat_key(self.path)
        files = _read_json(self.path).get("files", {})
        specs: dict[str, BundleSpec] = {}
        for file, entry in files.items() if isinstance(files, dict) else ():
            # Admitted by the tenancy policy when it was saved; the current policy is applied
            # again when the spec is used (``usable``), so only the shape is checked here.
            with contextlib.suppress(BundleConfigError):
                specs[file] = parse_bundle_entry(entry, source=file)
        self._saved = {f: s.as_config_entry() for f, s in specs.items()}
        return specs

    def reload_if_changed(self) -> dict[str, BundleSpec] | None:
        """The definitions again if the file changed since it was last read or written, else ``None``."""
        if _stat_key(self.path) == self._stat:
            return None
        return self.load()

    def save(self, specs: Mapping[str, BundleSpec]) -> None:
        """Write when writable and the content differs from what was last read or written; never raises."""
        entries = {f: s.as_config_entry() for f, s in specs.items()}
        if not self.writable or entries == self._saved:
            return
        try:
            _write_json(self.path, {"files": entries})
        except OSError as exc:
            log.warning("cannot save last good bundle config", path=str(self.path), error=str(exc))
            return
        self._saved = entries
        self._stat = _stat_key(self.path)


@dataclass
class Ownership:
    """Bundles one DAG processor loaded from its directory, and removals awaiting reclaim."""

    owned: dict[str, str] = field(default_factory=dict)  # bundle name -> file
    removed: dict[str, float] = field(default_factory=dict)  # bundle name -> removed at (epoch s)


class OwnershipStore:
    def __init__(self, state_dir: Path, shard: str) -> None:
        self.path = state_dir / f"owner-{shard}.json"

    def load(self) -> Ownership:
        data = _read_json(self.path)
        owned = data.get("owned", {})
        removed = data.get("removed", {})
        try:
            return Ownership(
                owned={str(k): str(v) for k, v in owned.items()} if isinstance(owned, dict) else {},
                removed={str(k): float(v) for k, v in removed.items()} if isinstance(removed, dict) else {},
            )
        except (TypeError, ValueError) as exc:
            _unreadable(self.path, f"malformed content: {exc}")
            return Ownership()

    def save(self, ownership: Ownership) -> None:
        """Raises ``OSError``: losing ownership silently would leave removed bundles active."""
        _write_json(self.path, {"owned": ownership.owned, "removed": ownership.removed})
