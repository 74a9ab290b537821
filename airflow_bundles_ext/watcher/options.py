"""The watcher's options, read from Airflow's config (public API) when they are needed."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from airflow_bundles_ext.core.bundle_config import Allowlist

SECTION = "bundles_ext"


def configured_directory() -> str:
    """``[dag_processor] dag_bundle_config_path``, or ``""`` when the watcher is off."""
    from airflow.configuration import conf

    return (conf.get("dag_processor", "dag_bundle_config_path", fallback="") or "").strip()


def storage_root() -> Path:
    """Airflow's bundle storage root (same rule as ``BaseDagBundle``)."""
    from airflow.configuration import conf

    configured = conf.get("dag_processor", "dag_bundle_storage_path", fallback=None)
    return Path(configured) if configured else Path(tempfile.gettempdir(), "airflow", "dag_bundles")


@dataclass(frozen=True)
class WatcherOptions:
    directory: Path
    allowlist: Allowlist
    state_root: Path
    grace_period: float
    storage_root: Path

    @classmethod
    def load(cls, directory: str | None = None) -> WatcherOptions:
        """The options for ``directory`` (default: the configured one)."""
        from airflow.configuration import conf

        root = storage_root()
        state = conf.get(SECTION, "config_state_path", fallback="") or ""
        return cls(
            directory=Path(directory or configured_directory()),
            allowlist=Allowlist.parse(conf.get(SECTION, "allowed_classpaths", fallback="")),
            state_root=Path(state) if state.strip() else root / "_bundles_ext" / "config_state",
            grace_period=conf.getfloat(SECTION, "removed_bundle_grace_period", fallback=3600.0),
            storage_root=root,
        )
