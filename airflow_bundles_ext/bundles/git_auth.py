"""Credentials of a git bundle: read lazily from its Airflow git connection (never in a
constructor), and handed to git through the environment only (:class:`GitAuth`).

The connection is parsed by upstream's ``GitHook``, so its semantics are upstream's by
construction: login/password as HTTPS token (``user:token@`` embedded in the URL is stripped
and used as the credential), ``private_key`` / ``key_file`` / ``private_key_passphrase``,
``known_hosts_file``, ``strict_host_key_checking`` (default ``accept-new``), ``ssh_config_file``,
``host_proxy_cmd``, ``ssh_port``, and GitHub App installation tokens. Only the values are
taken; how they reach git is ours:

- HTTPS token: a credential helper given inline with ``GIT_CONFIG_*`` that reads the token from
  the environment at the moment git asks.
- Inline SSH private key: a ``GIT_SSH_COMMAND`` that loads it through a pipe into a private
  ``ssh-agent`` living as long as that one ssh connection; the key is never written to a file.
- Passphrase: ``SSH_ASKPASS``, a script holding no secret, in one 0700 dir per process.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_bundles_ext.core.git_urls import connection_host, parse_remote, redact_url, split_userinfo
from airflow_bundles_ext.core.tenancy import tenant_url_problem
from airflow_bundles_ext.errors import BundleConfigError, GitSourceError

DEFAULT_CONN_ID = "git_default"
_STRICT_VALUES = frozenset({"yes", "no", "accept-new", "off", "ask"})

# Reads the token from the environment at the moment git asks; the config value holds no secret.
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; cat >/dev/null; '
    'printf "username=%s\\npassword=%s\\n" "$ABX_GIT_USERNAME" "$ABX_GIT_PASSWORD"; }; f'
)
_ASKPASS = '#!/bin/sh\nprintf "%s\\n" "$ABX_SSH_PASSPHRASE"\n'  # no secret: reads the environment
# Run as GIT_SSH_COMMAND: ssh-agent starts, runs this script and exits with it; the key goes from
# the environment through a pipe into the agent's memory, and ssh authenticates through the agent.
_AGENT_SCRIPT = (
    'printf "%s\\n" "$ABX_SSH_KEY" | ssh-add -q - >/dev/null 2>&1 || '
    '{ echo "ssh-add refused the private key of the git connection" >&2; exit 255; }; exec '
)
_PRIVATE_DIR_PREFIX = "abx-git-"
_LEGACY_FILE_AGE = 600.0  # seconds: key files of older versions of this package, left by a SIGKILL


@dataclass(frozen=True)
class GitAuth:
    """Credentials for one remote, resolved from an Airflow git connection (or none).

    Mirrors upstream ``GitHook``: HTTPS token as login/password; SSH private key (inline or
    ``key_file``) with optional passphrase, ``known_hosts_file`` and ``strict_host_key_checking``
    (default ``accept-new``); without a key, ssh uses the agent at ``SSH_AUTH_SOCK``.
    """

    username: str = "user"
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    key_file: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    strict_host_key_checking: str = "accept-new"
    known_hosts_file: str | None = None
    ssh_config_file: str | None = None
    host_proxy_cmd: str | None = None
    ssh_port: int | None = None
    expires_at: datetime | None = None  # of a minted token (GitHub App): re-resolve before it
    server_alive_interval: int | None = None  # ssh drops a silent server after 3 missed answers

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.private_key, self.passphrase) if s)

    def env(self, url: str) -> dict[str, str]:
        """Environment for git commands against ``url``. No secret is written to any file."""
        env: dict[str, str] = {}
        if self.password and url.startswith(("https://", "http://")):
            env.update(_credential_env(url, self.username, self.password))
        if self.passphrase:
            env["SSH_ASKPASS"] = str(_askpass_script())
            env["SSH_ASKPASS_REQUIRE"] = "force"
            env["ABX_SSH_PASSPHRASE"] = self.passphrase
            env.setdefault("DISPLAY", os.environ.get("DISPLAY", ":"))
        ssh = self._ssh_command(None if self.private_key else self.key_file)
        if self.private_key:
            env["ABX_SSH_KEY"] = self.private_key.rstrip("\n")
            script = _AGENT_SCRIPT + ssh + ' "$@"'
            ssh = f"ssh-agent sh -c {shlex.quote(script)} abx-ssh"
        env["GIT_SSH_COMMAND"] = ssh
        env["GIT_SSH_VARIANT"] = "ssh"  # the command does not start with "ssh": tell git it is OpenSSH
        return env

    def _ssh_command(self, key_path: str | None) -> str:
        parts = ["ssh"]
        if key_path:
            parts += ["-i", shlex.quote(key_path), "-o", "IdentitiesOnly=yes"]
        if not self.passphrase or self.private_key:  # ssh itself asks for a key_file's passphrase
            parts += ["-o", "BatchMode=yes"]
        parts += ["-o", f"StrictHostKeyChecking={self.strict_host_key_checking}"]
        if self.known_hosts_file:
            parts += ["-o", f"UserKnownHostsFile={shlex.quote(self.known_hosts_file)}"]
        elif self.strict_host_key_checking in ("no", "off"):
            parts += ["-o", "UserKnownHostsFile=/dev/null"]
        if self.ssh_config_file:
            parts += ["-F", shlex.quote(self.ssh_config_file)]
        if self.host_proxy_cmd:
            parts += ["-o", shlex.quote(f"ProxyCommand={self.host_proxy_cmd}")]
        if self.ssh_port:
            parts += ["-p", str(int(self.ssh_port))]
        if self.server_alive_interval:
            parts += [
                "-o",
                f"ServerAliveInterval={self.server_alive_interval}",
                "-o",
                "ServerAliveCountMax=3",
            ]
        return " ".join(parts)


def _credential_env(url: str, username: str, password: str) -> dict[str, str]:
    """A credential helper scoped to the remote's scheme://host, reset first.

    The empty value clears helpers from system/global config for this host, so neither an
    unrelated helper answers first nor a ``store`` helper writes the token to disk on approve.
    """
    scheme, _, rest = url.partition("://")
    scope = f"{scheme}://{rest.partition('/')[0].rpartition('@')[2]}"
    base = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    return {
        "GIT_CONFIG_COUNT": str(base + 2),
        f"GIT_CONFIG_KEY_{base}": f"credential.{scope}.helper",
        f"GIT_CONFIG_VALUE_{base}": "",
        f"GIT_CONFIG_KEY_{base + 1}": f"credential.{scope}.helper",
        f"GIT_CONFIG_VALUE_{base + 1}": _CREDENTIAL_HELPER,
        "ABX_GIT_USERNAME": username,
        "ABX_GIT_PASSWORD": password,
    }


def _askpass_script() -> Path:
    """The askpass program (it holds no secret), in this process's private 0700 temp dir.

    One dir per process, created once and reused; dirs of dead processes (and key files that
    older versions of this package wrote per command and a SIGKILL left behind) are swept first.
    """
    root = Path(tempfile.gettempdir())
    private = root / f"{_PRIVATE_DIR_PREFIX}{os.getpid()}"
    script = private / "askpass"
    if script.is_file():
        return script
    _sweep_private_dirs(root)
    private.mkdir(mode=stat.S_IRWXU, exist_ok=True)
    tmp = private / f".askpass.{time.monotonic_ns()}"
    tmp.write_text(_ASKPASS)
    tmp.chmod(stat.S_IRWXU)
    os.replace(tmp, script)
    return script


def _sweep_private_dirs(root: Path) -> None:
    now = time.time()
    for entry in root.glob(f"{_PRIVATE_DIR_PREFIX}*"):
        suffix = entry.name[len(_PRIVATE_DIR_PREFIX) :]
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink() and suffix.isdigit() and not _alive(int(suffix)):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file() and not suffix.isdigit() and now - entry.stat().st_mtime > _LEGACY_FILE_AGE:
                entry.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
