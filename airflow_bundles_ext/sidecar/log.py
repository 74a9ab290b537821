"""Key-value log lines on stderr with the standard library only.

The sidecar image holds boto3 and nothing else, so this is a small stand-in for structlog
with the same shape: a short lowercase event and ``key=value`` pairs, e.g.
``2025-01-01T00:00:00Z info cycle done fetched=1 written=1``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from airflow_bundles_ext.core.text import printable

_ROOT = "airflow_bundles_ext.sidecar"


class EventLogger:
    """``log.info("cycle done", written=1)``; values with spaces are quoted."""

    def __init__(self, name: str, **bound: Any) -> None:
        self._logger = logging.getLogger(name)
        self._bound = bound

    def bind(self, **values: Any) -> EventLogger:
        return EventLogger(self._logger.name, **{**self._bound, **values})

    def debug(self, event: str, **values: Any) -> None:
        self._log(logging.DEBUG, event, values)

    def info(self, event: str, **values: Any) -> None:
        self._log(logging.INFO, event, values)

    def warning(self, event: str, **values: Any) -> None:
        self._log(logging.WARNING, event, values)

    def error(self, event: str, *, exc_info: bool = False, **values: Any) -> None:
        self._log(logging.ERROR, event, values, exc_info=exc_info)

    def _log(self, level: int, event: str, values: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            pairs = " ".join(f"{k}={_quote(v)}" for k, v in {**self._bound, **values}.items())
            self._logger.log(level, f"{event} {pairs}".rstrip(), exc_info=exc_info)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def configure(level: str) -> None:
    """Send the sidecar's events to stderr at ``level`` (debug, info, warning, error)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger(_ROOT)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def _quote(value: Any) -> str:
    """One ``key=value`` value: control characters escaped (no forged lines, no terminal escapes)."""
    text = printable(str(value), 4000)
    if not text or any(c in text for c in ' "=\\'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
