"""Sidecar settings from environment variables and the flags that mirror them.

Pure: :func:`sync_config` and :func:`probe_config` take the flag values and an environment
mapping and return frozen settings, or raise :class:`SyncConfigError` naming the variable
and its flag. A flag wins over its environment variable; both fall back to the default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from airflow_bundles_ext.core.bundle_config import Allowlist, is_config_file_name
from airflow_bundles_ext.errors import SyncConfigError
from airflow_bundles_ext.policy_source import PolicySource

ALLOWLIST_ENV = "AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS"
"""The watcher's allow-list option as an environment variable: the sidecar reads the same one."""
POLICY_ENV = "AIRFLOW__BUNDLES_EXT__TENANCY_POLICY"
"""The watcher's tenancy policy option as an environment variable: the sidecar reads the same file."""

MODES = ("once", "sidecar")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, its flag and its default."""

    env: str
    flag: str
    default: str | None = None


SETTINGS: dict[str, Setting] = {
    "mode": Setting("RUN_MODE", "--mode", "sidecar"),
    "interval": Setting("SYNC_INTERVAL", "--interval", "30"),
    "bucket": Setting("BUNDLE_BUCKET", "--bucket"),
    "prefix": Setting("BUNDLE_PREFIX", "--prefix", ""),
    "path": Setting("BUNDLE_PATH", "--path"),
    "health_file": Setting("HEALTH_FILE", "--health-file", "/tmp/sync-health"),
    "max_failures": Setting("MAX_FAILURES", "--max-failures", "5"),
    "allow_empty": Setting("ALLOW_EMPTY", "--allow-empty", "false"),
    "allowed_classpaths": Setting(ALLOWLIST_ENV, "--allowed-classpaths", ""),
    "tenancy_policy": Setting(POLICY_ENV, "--tenancy-policy", ""),
    "endpoint_url": Setting("AWS_ENDPOINT_URL", "--endpoint-url"),
    "max_attempts": Setting("AWS_MAX_ATTEMPTS", "--max-attempts", "5"),
    "log_level": Setting("LOG_LEVEL", "--log-level", "info"),
}
"""Every sync setting, keyed by its argparse ``dest``."""


@dataclass(frozen=True)
class SyncConfig:
    mode: str
    interval: float
    bucket: str
    prefix: str
    path: Path
    health_file: Path
    max_failures: int
    allow_empty: bool
    allowlist: Allowlist
    policy_path: Path | None
    endpoint_url: str | None
    max_attempts: int
    log_level: str

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def policy_source(self) -> PolicySource:
        return PolicySource(self.policy_path, self.allowlist)


@dataclass(frozen=True)
class ProbeConfig:
    health_file: Path
    max_age: float


def sync_config(flags: Mapping[str, str | None], env: Mapping[str, str]) -> SyncConfig:
    """Build the sync settings; raise :class:`SyncConfigError` on the first bad one."""

    def raw(name: str) -> str | None:
        setting = SETTINGS[name]
        value = flags.get(name)
        if value is None:
            value = env.get(setting.env) or None
        return value if value is not None else setting.default

    def fail(name: str, problem: str) -> SyncConfigError:
        return SyncConfigError(SETTINGS[name].env, SETTINGS[name].flag, problem)

    mode = (raw("mode") or "").strip().lower()
    if mode not in MODES:
        raise fail("mode", f"got {mode!r}; use 'once' (init container) or 'sidecar' (loop)")
    path = _required_path(raw("path"), fail("path", "required: the directory the watcher reads"))
    health_file = _required_path(raw("health_file"), fail("health_file", "must not be empty"))
    if health_file.parent == path and is_config_file_name(health_file.name):
        raise fail("health_file", f"{health_file} would be read by the watcher as a bundle file")
    log_level = (raw("log_level") or "").lower()
    if log_level not in ("debug", "info", "warning", "error"):
        raise fail("log_level", f"got {log_level!r}; use debug, info, warning or error")
    return SyncConfig(
        mode=mode,
        interval=_number(raw("interval"), fail("interval", "expected seconds, a number > 0 and <= 86400")),
        bucket=_bucket(raw("bucket"), fail),
        prefix=normalize_prefix(raw("prefix") or ""),
        path=path,
        health_file=health_file,
        max_failures=_count(raw("max_failures"), fail("max_failures", "expected a whole number >= 1")),
        allow_empty=_flag(raw("allow_empty"), fail("allow_empty", "expected true or false")),
        allowlist=Allowlist.parse(raw("allowed_classpaths")),
        policy_path=Path(raw("tenancy_policy") or "") if (raw("tenancy_policy") or "").strip() else None,
        endpoint_url=_endpoint(
            raw("endpoint_url"), fail("endpoint_url", "expected an http:// or https:// URL")
        ),
        max_attempts=_count(raw("max_attempts"), fail("max_attempts", "expected a whole number >= 1")),
        log_level=log_level,
    )


def probe_config(health_file: str | None, max_age: str | None, env: Mapping[str, str]) -> ProbeConfig:
    """Settings of the ``probe`` subcommand: the health file and the maximum age in seconds."""
    setting = SETTINGS["health_file"]
    path = health_file or env.get(setting.env) or setting.default or ""
    error = SyncConfigError(setting.env, setting.flag, "must not be empty")
    age_error = SyncConfigError("PROBE_MAX_AGE", "--max-age", "expected seconds, a number > 0 and <= 86400")
    return ProbeConfig(
        health_file=_required_path(path, error),
        max_age=_number(max_age or env.get("PROBE_MAX_AGE") or "90", age_error),
    )


def normalize_prefix(prefix: str) -> str:
    """``"a/b"`` and ``"/a/b/"`` -> ``"a/b/"``; empty stays empty (the whole bucket).

    The trailing slash matters: listing ``a/b`` would also match ``a/b-old/x.json``.
    """
    stripped = prefix.strip().strip("/")
    return f"{stripped}/" if stripped else ""


def _required_path(value: str | None, error: SyncConfigError) -> Path:
    if not value or not value.strip():
        raise error
    return Path(value.strip())


def _number(value: str | None, error: SyncConfigError) -> float:
    try:
        number = float(value or "")
    except ValueError:
        raise error from None
    if not 0 < number <= 86400:
        raise error
    return number


def _count(value: str | None, error: SyncConfigError) -> int:
    try:
        number = int(value or "")
    except ValueError:
        raise error from None
    if number < 1:
        raise error
    return number


def _flag(value: str | None, error: SyncConfigError) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise error


def _endpoint(value: str | None, error: SyncConfigError) -> str | None:
    if not value:
        return None
    if not re.match(r"^https?://[^\s/]+", value):
        raise error
    return value


def _bucket(value: str | None, fail: Callable[[str, str], SyncConfigError]) -> str:
    bucket = (value or "").strip()
    if not bucket:
        raise fail("bucket", "required: the bucket that holds the bundle JSON files")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise fail("bucket", f"{bucket!r} is not a bucket name; give the name only, without s3:// or a key")
    return bucket
