"""Which credentials a git bundle gets: its Airflow git connection, read lazily (never in a
constructor) and parsed by upstream's ``GitHook``, so its semantics are upstream's by
construction: login/password as HTTPS token (``user:token@`` embedded in the URL is stripped and
used as the credential), ``private_key`` / ``key_file`` / ``private_key_passphrase``,
``known_hosts_file``, ``strict_host_key_checking`` (default ``accept-new``), ``ssh_config_file``,
``host_proxy_cmd``, ``ssh_port``, and GitHub App installation tokens.

Bundles defined by files (``restricted``) follow stricter rules (:func:`restricted_auth`): a
connection's credentials only go to the host that connection names.
"""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext.bundles.git_auth import DEFAULT_CONN_ID, GitAuth
from airflow_bundles_ext.core.git_urls import connection_host, parse_remote, redact_url, split_userinfo
from airflow_bundles_ext.core.tenancy import tenant_url_problem
from airflow_bundles_ext.errors import BundleConfigError, GitSourceError

_STRICT_VALUES = frozenset({"yes", "no", "accept-new", "off", "ask"})


def is_local_url(url: str) -> bool:
    return url.startswith(("file://", "/"))


def resolve_auth(
    repo_url: str | None, git_conn_id: str | None, log: Any, *, restricted: bool = False, where: str = ""
) -> tuple[str, GitAuth]:
    """(remote URL without credentials, credentials) for a bundle.

    A local remote with no ``git_conn_id`` reads no connection. Otherwise the connection
    (``git_default`` when unset) is read; if it does not exist and ``repo_url`` is set, the
    remote is used anonymously, as upstream does. ``restricted`` (bundle files) applies
    :func:`restricted_auth` instead.
    """
    if restricted:
        return restricted_auth(repo_url, git_conn_id, where or "git bundle")
    if repo_url and is_local_url(repo_url) and not git_conn_id:
        return repo_url, GitAuth()
    conn_id = git_conn_id or DEFAULT_CONN_ID
    try:
        hook = _hook(conn_id, repo_url)
    except _NotFound:
        if not repo_url:
            raise BundleConfigError(
                f"git connection {conn_id!r}", "does not exist and repo_url is not set; define one of them"
            ) from None
        log.info("no git connection, using repo_url without one", git_conn_id=conn_id)
        bare_url, user, password = split_userinfo(repo_url)
        return bare_url, GitAuth(username=user or "user", password=password)
    url = hook.repo_url  # GitHook has already taken any user:token@ out of it
    if not url:
        raise BundleConfigError(
            f"git connection {conn_id!r}", "has no host and repo_url is not set", key="host"
        )
    return split_userinfo(url)[0], _auth_of(hook, conn_id)


def restricted_auth(repo_url: str | None, git_conn_id: str | None, where: str) -> tuple[str, GitAuth]:
    """The rules for bundles defined by files (untrusted input):

    - no ``git_conn_id``: anonymous access to ``repo_url``, no connection is read at all;
    - a connection's credentials go only to the host the connection names, never to a
      ``repo_url`` on another host and never over plain ``http://`` or ``git://``;
    - no local path, ``file://``, credentials or query string in the URL.
    """
    if git_conn_id is None:
        if not repo_url:
            raise BundleConfigError(where, "is required when git_conn_id is not set", key="repo_url")
        _refuse_url(repo_url, where, with_connection=False)
        return repo_url, GitAuth()
    try:
        hook = _hook(git_conn_id, None)  # the connection's own URL: what its credentials are for
    except _NotFound:
        raise BundleConfigError(
            where, f"git connection {git_conn_id!r} does not exist", key="git_conn_id"
        ) from None
    own = hook.repo_url or ""
    url = repo_url or own
    if not url:
        raise BundleConfigError(where, f"git connection {git_conn_id!r} has no host and repo_url is not set")
    _refuse_url(url, where, with_connection=True)
    if repo_url:
        _check_bound(git_conn_id, own, repo_url, where)
    return split_userinfo(url)[0], _auth_of(hook, git_conn_id)


def _refuse_url(url: str, where: str, *, with_connection: bool) -> None:
    problem = tenant_url_problem(url, with_connection=with_connection)
    if problem:
        raise BundleConfigError(where, f"{redact_url(url)} is refused: {problem}", key="repo_url")


def _check_bound(conn_id: str, own: str, repo_url: str, where: str) -> None:
    """``repo_url`` must name the host (and port, when both name one) of the connection."""
    bound, remote = connection_host(own), parse_remote(repo_url)
    same_port = not (bound.port and remote.port) or bound.port == remote.port
    if bound.host and bound.host == remote.host and same_port:
        return
    raise BundleConfigError(
        where,
        f"the credentials of git connection {conn_id!r} are only sent to the host it names "
        f"({bound.authority or 'none'}); {redact_url(repo_url)} is on host {remote.authority}: use a "
        "connection for that host, or no git_conn_id for a public repository",
        key="repo_url",
    )


class _NotFound(Exception):
    pass


def _hook(conn_id: str, repo_url: str | None) -> Any:
    try:
        from airflow.providers.git.hooks.git import GitHook
    except ImportError as exc:
        raise GitSourceError(
            f"cannot read git connection {conn_id!r}: apache-airflow-providers-git is not installed; "
            "install airflow-bundles-ext[git]"
        ) from exc
    try:
        return GitHook(git_conn_id=conn_id, repo_url=repo_url)
    except Exception as exc:
        if "NotFound" in type(exc).__name__:
            raise _NotFound from exc
        # ValueError from GitHook names the bad extra; it holds no secret value.
        raise BundleConfigError(
            f"git connection {conn_id!r}", f"{type(exc).__name__}: {_safe(str(exc), repo_url)}"
        ) from exc


def _safe(message: str, repo_url: str | None) -> str:
    return message.replace(repo_url, redact_url(repo_url)) if repo_url else message


def _auth_of(hook: Any, conn_id: str) -> GitAuth:
    if getattr(hook, "uses_github_app_auth", False):  # mints a token valid for about an hour
        try:
            hook._ensure_github_app_token()
        except Exception as exc:
            raise GitSourceError(
                f"cannot mint a GitHub App token for connection {conn_id!r}: {type(exc).__name__}; "
                "check github_app_id, github_installation_id and the private key"
            ) from exc
    app = bool(getattr(hook, "uses_github_app_auth", False))
    checking = hook.strict_host_key_checking or "accept-new"
    if checking not in _STRICT_VALUES:
        raise BundleConfigError(
            f"git connection {conn_id!r}",
            f"must be one of {sorted(_STRICT_VALUES)}",
            key="strict_host_key_checking",
        )
    return GitAuth(
        username=hook.user_name or "user",
        password=hook.auth_token or None,
        private_key=None if app else hook.private_key or None,  # an App key is not an SSH key
        key_file=hook.key_file or None,
        passphrase=hook.private_key_passphrase or None,
        strict_host_key_checking=checking,
        known_hosts_file=hook.known_hosts_file or None,
        ssh_config_file=hook.ssh_config_file or None,
        host_proxy_cmd=hook.host_proxy_cmd or None,
        ssh_port=hook.ssh_port,
        expires_at=getattr(hook, "github_app_token_exp", None) if app else None,
    )


def connection_repo_url(git_conn_id: str | None) -> str | None:
    """The repository URL a git connection names (its host), or ``None`` when it cannot be read.

    For ``view_url_template()``, which the DAG processor may call before ``initialize()``:
    upstream reads the connection in its constructor; we read it here, on first use, and
    never fail (a missing view URL must not break anything).
    """
    try:
        from airflow.providers.git.hooks.git import GitHook

        host = GitHook.get_connection(git_conn_id or DEFAULT_CONN_ID).host
    except Exception:
        return None
    return split_userinfo(host)[0] if host else None
