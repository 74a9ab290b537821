"""The git CLI runner: every command with a timeout, credentials only in the environment.

This is the one place that starts ``git``. Each command runs in its own process group so
a timeout kills git *and* its helpers (``git-remote-https``, ``ssh``, ``upload-pack``).
Failures become :class:`GitSourceError` with the redacted URL, the ref and what was tried;
git's own stderr is kept (redacted), because it says why ("Authentication failed",
"Could not resolve host").

Credentials reach git only through the environment given to the runner (built by
:class:`~airflow_bundles_ext.bundles.git_auth.GitAuth`); the remote URL stored in the object
store's config never holds a credential.

Failures are classified (:attr:`GitCommandError.reason`) so the bundle reacts to what went
wrong: ``timeout``, ``transport`` (network, HTTP 5xx, unreachable remote), ``auth``,
``refused`` (the server will not serve a commit by SHA) or ``failed`` (anything else, which for
a remote that answered means a damaged local store).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from airflow_bundles_ext.core.git_urls import redact_text, redact_url
from airflow_bundles_ext.errors import GitSourceError

DEFAULT_TIMEOUT = 300.0

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
