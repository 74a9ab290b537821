"""GitHub and GitLab push webhooks as plain data: signature checks and push-to-bundle matching.

* :func:`github_signature_valid`: ``X-Hub-Signature-256`` is ``sha256=<hex HMAC-SHA256 of the
  raw body>`` keyed with the shared secret; compared in constant time.
* :func:`gitlab_token_valid`: ``X-Gitlab-Token`` is the shared token itself; constant time.
* :func:`github_push` / :func:`gitlab_push`: the repository URLs and the ref of a push event.
* :func:`matching_bundles`: the git bundles (this package's and upstream's ``GitDagBundle``)
  whose ``repo_url`` is that repository and whose ``tracking_ref`` follows the pushed ref.

No Airflow, no HTTP: the API route is a thin shell around these functions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_bundles_ext.core import refs
from airflow_bundles_ext.errors import BundleConfigError

GIT_CLASSPATHS = frozenset(
    {
        "airflow_bundles_ext.bundles.git.GitDagBundle",
        "airflow.providers.git.bundles.git.GitDagBundle",
    }
)


def github_signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the HMAC-SHA256 of ``body`` under ``secret`` (``sha256=<hex>``)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def gitlab_token_valid(token: str, header: str | None) -> bool:
    """Whether ``header`` equals the configured GitLab token (constant-time)."""
    if not token or header is None:
        return False
    return hmac.compare_digest(token.encode(), header.encode())


@dataclass(frozen=True)
class Push:
    """A push: every URL the payload gives for the repository, and the full ref pushed."""

    repo_urls: frozenset[str]
    ref: str


def github_push(event: str | None, payload: Mapping[str, Any]) -> Push | None:
    """The push in a GitHub ``push`` event; ``None`` for any other event (``ping`` included)."""
    if event != "push":
        return None
    repo = payload.get("repository") or {}
    urls = [repo.get(k) for k in ("clone_url", "ssh_url", "git_url", "html_url", "url", "svn_url")]
    return _push(urls, payload.get("ref"))


def gitlab_push(payload: Mapping[str, Any]) -> Push | None:
    """The push in a GitLab ``push`` or ``tag_push`` event; ``None`` for any other event."""
    if payload.get("object_kind") not in ("push", "tag_push"):
        return None
    project = payload.get("project") or {}
    repository = payload.get("repository") or {}
    urls = [project.get(k) for k in ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")]
    urls += [repository.get(k) for k in ("url", "git_http_url", "git_ssh_url", "homepage")]
    return _push(urls, payload.get("ref"))


def _push(urls: Iterable[Any], ref: Any) -> Push | None:
    keys = frozenset(k for k in (repo_key(u) for u in urls if isinstance(u, str) and u) if k)
    if not keys or not isinstance(ref, str) or not ref.startswith("refs/"):
        return None
    return Push(keys, ref)


def repo_key(url: str) -> str:
    """``host/owner/repo`` for any spelling of a remote (https, ssh, scp-like, ``.git`` or not).

    User info, ports, query and case of the host are dropped, so ``git@github.com:Org/Repo.git``
    and ``https://token@github.com/Org/Repo`` give the same key. Local paths give ``""``.
    """
    text = url.strip()
    if "://" not in text:
        user_host, sep, path = text.partition(":")
        if not sep or "/" in user_host:
            return ""
        host = user_host.rpartition("@")[2]
    else:
        try:
            parts = urlsplit(text)
            host = parts.hostname or ""
        except ValueError:
            return ""
        path = parts.path
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or not path:
        return ""
    return f"{host.lower()}/{path}"


def ref_followed(tracking_ref: str, pushed_ref: str) -> bool:
    """Whether a bundle tracking ``tracking_ref`` follows a push to ``pushed_ref`` (a full ref)."""
    try:
        tracked = refs.parse_tracking_ref(tracking_ref)
    except BundleConfigError:
        return False
    if tracked.kind == "sha":
        return False  # pinned: a push never moves it
    if tracked.kind == "name":
        return pushed_ref in (f"{refs.HEADS}{tracked.value}", f"{refs.TAGS}{tracked.value}")
    if tracked.kind == "tag_pattern":
        tag = pushed_ref.removeprefix(refs.TAGS)
        return pushed_ref.startswith(refs.TAGS) and fnmatch.fnmatchcase(tag, tracked.value)
    return pushed_ref == tracked.value


@dataclass(frozen=True)
class GitBundleRef:
    """What matching needs of a configured git bundle. ``repo_url`` may come from its connection."""

    name: str
    repo_url: str | None
    tracking_ref: str | None


def git_bundle_refs(entries: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[GitBundleRef]:
    """The git bundles among ``(name, classpath, kwargs)`` entries."""
    out = []
    for name, classpath, kwargs in entries:
        if classpath not in GIT_CLASSPATHS:
            continue
        repo_url = kwargs.get("repo_url")
        ref = kwargs.get("tracking_ref")
        out.append(
            GitBundleRef(
                name, repo_url if isinstance(repo_url, str) else None, ref if isinstance(ref, str) else None
            )
        )
    return out


def matching_bundles(bundles: Iterable[GitBundleRef], push: Push) -> list[str]:
    """Names of the bundles that track the pushed repository and ref, sorted."""
    return sorted(
        b.name
        for b in bundles
        if b.repo_url
        and b.tracking_ref
        and repo_key(b.repo_url) in push.repo_urls
        and ref_followed(b.tracking_ref, push.ref)
    )
