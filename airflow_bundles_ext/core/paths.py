"""Path safety for names, versions and object keys that become path segments."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from airflow_bundles_ext.core.text import short_repr
from airflow_bundles_ext.errors import UnsafePathError

# One path segment: starts with an alphanumeric, then alphanumerics, '.', '_', '-'.
# No '/', no '..', no leading dot (hidden), bounded so it fits in a file name.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_segment(value: str, *, what: str) -> str:
    """Return ``value`` if it is safe as one path segment, else raise :class:`UnsafePathError`.

    Used for bundle names and version strings, which Airflow turns into directory names
    unchecked (``<storage root>/<name>/versions/<version>``).
    """
    if not isinstance(value, str) or not _SEGMENT.match(value) or ".." in value:
        raise UnsafePathError(
            f"unsafe {what} {short_repr(value)}: it becomes a directory name, so use 1-200 characters "
            "from A-Z a-z 0-9 . _ - starting with a letter or digit, without '..'"
        )
    return value


def safe_relative_path(key: str, *, what: str = "key") -> PurePosixPath:
    """Turn a ``/``-separated relative key into a path that stays inside its root.

    Refuses absolute keys, ``.`` and ``..`` segments, empty segments (``a//b``), backslashes
    and NUL, which could otherwise land outside the bundle directory or alias another key.
    """
    if not key or "\x00" in key or "\\" in key:
        raise UnsafePathError(f"unsafe {what} {short_repr(key)}: empty, or contains NUL or a backslash")
    if key.startswith("/"):
        raise UnsafePathError(f"unsafe {what} {short_repr(key)}: absolute paths are not allowed")
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(
                f"unsafe {what} {short_repr(key)}: empty, '.' or '..' path segments are not allowed; "
                "rename the object"
            )
    return PurePosixPath(*parts)
