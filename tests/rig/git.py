"""Real git repositories built with the git binary, served to bundles as ``file://`` remotes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Rig",
    "GIT_AUTHOR_EMAIL": "rig@example.invalid",
    "GIT_COMMITTER_NAME": "Rig",
    "GIT_COMMITTER_EMAIL": "rig@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV, "HOME": str(cwd or Path.cwd())},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout.strip()


class GitRemote:
    """A bare repository (the remote) and a working clone used to author commits.

    ``url`` is a ``file://`` URL; with ``uploadpack.allowFilter`` and
    ``uploadpack.allowAnySHA1InWant`` on, it behaves like GitHub for partial and by-SHA fetches.
    """

    def __init__(self, root: Path, name: str = "repo", branch: str = "main") -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        self.branch = branch
        git("init", "--bare", "-b", branch, str(self.bare))
        git("config", "uploadpack.allowFilter", "true", cwd=self.bare)
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=self.bare)
        git("init", "-b", branch, str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def commit(
        self, files: dict[str, str | bytes | None], message: str = "change", *, push: bool = True
    ) -> str:
        """Write (or delete, for ``None``) files, commit, push; return the full commit SHA."""
        for rel, content in files.items():
            path = self.work / rel
            if content is None:
                if path.exists():
                    git("rm", "-q", "-r", rel, cwd=self.work)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            git("add", rel, cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        if push:
            self.push()
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, *, force: bool = False) -> None:
        git(
            "push",
            "-q",
            *(["--force"] if force else []),
            "origin",
            f"HEAD:refs/heads/{self.branch}",
            cwd=self.work,
        )

    def tag(self, name: str, sha: str | None = None, *, force: bool = False) -> None:
        git("tag", *(["-f"] if force else []), name, sha or "HEAD", cwd=self.work)
        git("push", "-q", *(["--force"] if force else []), "origin", f"refs/tags/{name}", cwd=self.work)

    def reset_branch(self, sha: str) -> None:
        """Move the branch to ``sha`` and force-push (a rewrite or a revert to an older commit)."""
        git("reset", "-q", "--hard", sha, cwd=self.work)
        self.push(force=True)

    def create_branch(self, name: str, sha: str | None = None) -> None:
        git("push", "-q", "origin", f"{sha or 'HEAD'}:refs/heads/{name}", cwd=self.work)
