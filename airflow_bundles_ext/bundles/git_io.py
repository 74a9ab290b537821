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

from airflow_bundles_ext.core.git_urls import redact_text, redact_url
from airflow_bundles_ext.errors import GitCommandError, GitFailure

DEFAULT_TIMEOUT = 300.0

_AUTH = "check the credentials of the git connection"
_REACH = "check repo_url and that the remote is reachable"
_RETRY = "the published version keeps serving; the next refresh retries"
_REFUSED = "the server refuses fetching this commit by SHA; check that it exists on the remote"
_CLASSES: tuple[tuple[str, GitFailure, str], ...] = (
    ("not our ref", "refused", _REFUSED),
    ("unadvertised object", "refused", _REFUSED),
    (
        "host key verification failed",
        "auth",
        "add the server's key to known_hosts_file or review strict_host_key_checking",
    ),
    ("authentication failed", "auth", _AUTH),
    ("could not read username", "auth", _AUTH),
    ("could not read password", "auth", _AUTH),
    ("permission denied", "auth", _AUTH),
    ("returned error: 401", "auth", _AUTH),
    ("returned error: 403", "auth", _AUTH),
    ("ssh-add refused", "auth", _AUTH),
    ("could not resolve host", "transport", _REACH),
    ("connection refused", "transport", _REACH),
    ("does not appear to be a git repository", "transport", _REACH),
    ("repository not found", "transport", _REACH),
    ("connection timed out", "transport", _RETRY),
    ("connection reset", "transport", _RETRY),
    ("failed to connect", "transport", _RETRY),
    ("couldn't connect", "transport", _RETRY),
    ("unable to access", "transport", _RETRY),
    ("network is unreachable", "transport", _RETRY),
    ("no route to host", "transport", _RETRY),
    ("rpc failed", "transport", _RETRY),
    ("remote end hung up", "transport", _RETRY),
    ("early eof", "transport", _RETRY),
    ("could not read from remote repository", "transport", _RETRY),
    ("ssh: connect to host", "transport", _RETRY),
)
"""git's stderr -> (what kind of failure, what to do); the first needle found wins."""


def classify(stderr: str) -> tuple[GitFailure, str]:
    """What kind of failure git's ``stderr`` describes, and the hint; ``failed`` when nothing points
    at the remote (for a remote that answered, that means a damaged local store)."""
    low = stderr.lower()
    for needle, reason, hint in _CLASSES:
        if needle in low:
            return reason, hint
    return "failed", _RETRY


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
            reason, hint = classify(err)
            raise self._error(what, ref, why, hint, reason)
        return out

    def _error(self, what: str, ref: str | None, why: str, hint: str, reason: GitFailure) -> GitCommandError:
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
