"""The git CLI runner: every command with a timeout, credentials only in the environment.

This is the one place that starts ``git``. Each command runs in its own process group so
a timeout kills git *and* its helpers (``git-remote-https``, ``ssh``, ``upload-pack``).
Failures become :class:`GitSourceError` with the redacted URL, the ref and what was tried;
git's own stderr is kept (redacted), because it says why ("Authentication failed",
"Could not resolve host").

Credentials (see :class:`GitAuth`) reach git only through environment variables of the
child process: a credential helper given inline with ``GIT_CONFIG_*`` that reads the token
from the environment, or a ``GIT_SSH_COMMAND`` that hands an inline private key to a private
``ssh-agent`` living as long as that one ssh connection (the key is never written to a file).
The remote URL stored in the object store's config never holds a credential.

Failures are classified (:attr:`GitCommandError.reason`) so the bundle reacts to what went
wrong: ``timeout``, ``transport`` (network, HTTP 5xx, unreachable remote), ``auth``,
``refused`` (the server will not serve a commit by SHA) or ``failed`` (anything else, which for
a remote that answered means a damaged local store).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from airflow_bundles_ext.core.refs import redact_text, redact_url
from airflow_bundles_ext.errors import GitSourceError

DEFAULT_TIMEOUT = 300.0

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

Reason = Literal["timeout", "transport", "auth", "refused", "failed"]
_REASONS: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    ("refused", ("not our ref", "unadvertised object")),
    (
        "auth",
        (
            "authentication failed",
            "could not read username",
            "could not read password",
            "permission denied",
            "returned error: 401",
            "returned error: 403",
            "host key verification failed",
            "ssh-add refused",
        ),
    ),
    (
        "transport",
        (
            "could not resolve host",
            "connection refused",
            "connection timed out",
            "connection reset",
            "failed to connect",
            "couldn't connect",
            "unable to access",
            "network is unreachable",
            "no route to host",
            "rpc failed",
            "remote end hung up",
            "early eof",
            "does not appear to be a git repository",
            "repository not found",
            "could not read from remote repository",
            "ssh: connect to host",
        ),
    ),
)


class GitCommandError(GitSourceError):
    """A git command failed; ``reason`` says how (see the module docstring)."""

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def classify(stderr: str) -> Reason:
    """What kind of failure git's ``stderr`` describes; ``failed`` when nothing points at the remote."""
    low = stderr.lower()
    for reason, needles in _REASONS:
        if any(n in low for n in needles):
            return reason
    return "failed"


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

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.private_key, self.passphrase) if s)

    @contextlib.contextmanager
    def env(self, url: str) -> Iterator[dict[str, str]]:
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
        yield env

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


@dataclass(frozen=True)
class GitRunner:
    """Runs git against one object store (``git_dir``) for one remote URL."""

    git_dir: Path | None
    url: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    timeout: float = DEFAULT_TIMEOUT

    def run(
        self,
        *args: str,
        what: str,
        ref: str | None = None,
        work_tree: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> str:
        """Run ``git <args>``; return stdout, or raise :class:`GitSourceError` saying what was tried."""
        cmd = ["git"]
        if self.git_dir is not None:
            cmd.append(f"--git-dir={self.git_dir}")
        if work_tree is not None:
            cmd.append(f"--work-tree={work_tree}")
        cmd += list(args)
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **self.env, **(extra_env or {})}
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)
        limit = timeout or self.timeout
        code, out, err = _run_killable(cmd, env, limit)
        if code is None:
            raise self._error(
                what, ref, f"timed out after {limit:g}s", "check the network or raise git_timeout", "timeout"
            )
        if code != 0:
            why = _last_lines(err) or f"exit status {code}"
            raise self._error(what, ref, why, _hint(err), classify(err))
        return out

    def _error(self, what: str, ref: str | None, why: str, hint: str, reason: Reason) -> GitCommandError:
        where = redact_url(self.url) + (f" ref {ref}" if ref else "")
        message = f"git {what} failed: {where}: {redact_text(why, self.secrets)}; {hint}"
        return GitCommandError(redact_text(message, self.secrets), reason)


def _run_killable(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str, str]:
    """Run in a new process group; on timeout kill the whole group. ``None`` code = timed out."""
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return 127, "", f"cannot run git: {exc}"
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", ""
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def _last_lines(stderr: str, n: int = 3) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("hint:")]
    return " | ".join(lines[-n:])


def _hint(stderr: str) -> str:
    low = stderr.lower()
    if (
        "authentication failed" in low
        or "permission denied" in low
        or "403" in low
        or "401" in low
        or "ssh-add refused" in low
    ):
        return "check the credentials of the git connection"
    if "could not resolve host" in low or "connection refused" in low or "does not appear to be a git" in low:
        return "check repo_url and that the remote is reachable"
    if "host key verification failed" in low:
        return "add the server's key to known_hosts_file or review strict_host_key_checking"
    if "not our ref" in low or "unadvertised object" in low:
        return "the server refuses fetching this commit by SHA; check that it exists on the remote"
    return "the published version keeps serving; the next refresh retries"
