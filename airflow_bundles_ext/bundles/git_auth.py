"""How a git bundle's credentials reach git: through the environment only (:class:`GitAuth`).

The values come from the bundle's Airflow git connection
(:mod:`airflow_bundles_ext.bundles.git_connection`); how they reach git is ours:

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

DEFAULT_CONN_ID = "git_default"

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
