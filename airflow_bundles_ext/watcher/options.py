"""The watcher's options, read from Airflow's config (public API) when they are needed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from airflow_bundles_ext.core.bundle_config import Allowlist
from airflow_bundles_ext.policy_source import PolicySource

SECTION = "bundles_ext"


def configured_directory() -> str:
    """``[dag_processor] dag_bundle_config_path``, or ``""`` when the watcher is off."""
    from airflow.configuration import conf

    return (conf.get("dag_processor", "dag_bundle_config_path", fallback="") or "").strip()


def is_configured() -> bool:
    """Whether the watcher is switched on in this process; never raises (used at process start)."""
    try:
        return bool(configured_directory())
    except Exception:
        return False


def storage_root() -> Path:
    """Airflow's bundle storage root, by Airflow's own rule."""
    from airflow.dag_processing.bundles.base import get_bundle_storage_root_path

    return Path(get_bundle_storage_root_path())


@dataclass(frozen=True)
class WatcherOptions:
    """``state_id`` (``[bundles_ext] config_state_id``) tells deployments apart in a shared state root.

    ``policy_path`` is ``[bundles_ext] tenancy_policy`` (empty: the built-in default policy).
    """

    directory: Path
    allowlist: Allowlist
    policy_path: str
    state_root: Path
    state_id: str
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
            policy_path=(conf.get(SECTION, "tenancy_policy", fallback="") or "").strip(),
            state_root=Path(state) if state.strip() else root / "_bundles_ext" / "config_state",
            state_id=(conf.get(SECTION, "config_state_id", fallback="") or "").strip(),
            grace_period=conf.getfloat(SECTION, "removed_bundle_grace_period", fallback=3600.0),
            storage_root=root,
        )

    def policy_source(self) -> PolicySource:
        return PolicySource(self.policy_path or None, self.allowlist)
