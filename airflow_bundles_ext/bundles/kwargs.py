"""Checks of bundle kwargs shared by the S3 and Git bundles: each error names the bundle and key."""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext.errors import BundleConfigError
from airflow_bundles_ext.tree_check import TreeLimits


def required_str(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BundleConfigError(where, "must be a non-empty string", key=key)
    return value


def bounded_int(value: Any, low: int, high: int, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BundleConfigError(where, f"must be an integer from {low} to {high}", key=key)
    return value


def optional_seconds(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise BundleConfigError(where, "must be a positive number of seconds", key=key)
    return float(value)


def tree_limits(max_files: Any, max_bytes: Any, where: str, *, external_symlinks: bool = True) -> TreeLimits:
    """The caps of one version (``None``: no cap; the tenancy policy sets them for bundle files)."""
    return TreeLimits(
        max_files=None if max_files is None else bounded_int(max_files, 1, 2**62, where, "max_files"),
        max_bytes=None if max_bytes is None else bounded_int(max_bytes, 1, 2**62, where, "max_bytes"),
        external_symlinks=external_symlinks,
    )
