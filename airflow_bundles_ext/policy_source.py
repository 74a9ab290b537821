"""Reading the tenancy policy file, again whenever its stat changes. No Airflow import.

The watcher (every Airflow process), ``airflow bundles-ext validate`` and the sidecar all hold
one :class:`PolicySource`. Without a path the built-in default policy applies. A file that cannot
be read or is invalid raises :class:`~airflow_bundles_ext.errors.PolicyError` on every call until
it is fixed: the caller decides what that means (the watcher keeps what is in force, the CLI and
the sidecar exit with the error), and never falls back to a wider policy.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from airflow_bundles_ext.core.bundle_config import Allowlist
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.errors import PolicyError

_MAX_POLICY_BYTES = 4 * 1024 * 1024


class PolicySource:
    """The current :class:`TenancyPolicy`; reading costs one ``stat`` when nothing changed."""

    def __init__(self, path: str | Path | None, allowlist: Allowlist) -> None:
        self.path = Path(path) if path else None
        self.allowlist = allowlist
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._policy: TenancyPolicy | None = None if self.path else TenancyPolicy(allowlist=allowlist)

    def current(self) -> TenancyPolicy:
        if self.path is None:
            assert self._policy is not None
            return self._policy
        with self._lock:
            key = self._stat()
            if key != self._key or self._policy is None:
                self._policy = None
                self._policy = self._read()
                self._key = key
            return self._policy

    def _stat(self) -> tuple[int, int, int]:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise PolicyError(
                f"cannot read tenancy policy {self.path}: {exc.strerror or exc}; fix [bundles_ext] "
                "tenancy_policy (AIRFLOW__BUNDLES_EXT__TENANCY_POLICY) or the file"
            ) from exc
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _read(self) -> TenancyPolicy:
        from airflow_bundles_ext.core.policy_file import parse_policy  # pydantic: only with a policy file

        assert self.path is not None
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(_MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise PolicyError(f"cannot read tenancy policy {self.path}: {exc.strerror or exc}") from exc
        if len(raw) > _MAX_POLICY_BYTES:
            raise PolicyError(f"tenancy policy {self.path} is over {_MAX_POLICY_BYTES} bytes")
        return parse_policy(raw, source=str(self.path), allowlist=self.allowlist)
