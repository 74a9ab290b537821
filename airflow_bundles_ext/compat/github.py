"""Minting a GitHub App installation token through the git provider's ``GitHook``.

apache-airflow-providers-git 1.0 mints the token in a private method, ``_ensure_github_app_token``;
this is the one place that calls it, so a provider that renames it breaks one function with a
clear error, not the git bundle.
"""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext.errors import GitSourceError


def mint_github_app_token(hook: Any, conn_id: str) -> None:
    """Have ``hook`` mint (or renew) its GitHub App token; it lands in ``hook.auth_token``."""
    ensure = getattr(hook, "_ensure_github_app_token", None)
    if ensure is None:
        raise GitSourceError(
            f"cannot mint a GitHub App token for connection {conn_id!r}: this version of "
            "apache-airflow-providers-git has no _ensure_github_app_token; install a supported version"
        )
    try:
        ensure()
    except Exception as exc:
        raise GitSourceError(
            f"cannot mint a GitHub App token for connection {conn_id!r}: {type(exc).__name__}; "
            "check github_app_id, github_installation_id and the private key"
        ) from exc
