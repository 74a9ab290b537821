"""Tracked git refs, ls-remote output, tag version order, sparse patterns, .gitmodules: pure functions.

No git, no subprocess, no Airflow: everything here is plain data in, plain data out, so the
git bundle's decisions (which ref, which commit, which files, what a log may show) are
unit-tested without a repository.

Tracked-ref syntax (``tracking_ref``)::

    main, release/2.x          a name: the branch refs/heads/<name>, else the tag refs/tags/<name>
    refs/heads/main            exactly that branch
    refs/tags/v1.2.0, v1.2.0   a tag (annotated tags are peeled to their commit)
    3f2c...e9 (40 or 64 hex)   exactly that commit
    v*, refs/tags/release-*    a tag pattern (any ``*``, ``?`` or ``[``): the newest matching
                               tag by version order, so v1.10.0 is newer than v1.9.3
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Literal

from airflow_bundles_ext.errors import BundleConfigError, RefNotFoundError

RefKind = Literal["name", "branch", "tag", "sha", "tag_pattern"]

_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_GLOB_CHARS = ("*", "?", "[")
# What git check-ref-format refuses, plus a leading '-' (it would read as an option).
_BAD_REF = re.compile(r"(\.\.|@\{|[\x00-\x20\x7f~^:\\]|//|/\.|\.lock(?:/|$)|^[-/.]|[/.]$)")

HEADS = "refs/heads/"
TAGS = "refs/tags/"


@dataclass(frozen=True)
class TrackedRef:
    """A parsed ``tracking_ref``: ``kind`` says how ``value`` is matched against the remote."""

    spec: str
    kind: RefKind
    value: str  # a ref name, a full SHA, or a glob over tag names (without refs/tags/)


@dataclass(frozen=True)
class Resolved:
    """What a tracked ref points at on the remote: the commit and the ref that named it."""

    sha: str
    refname: str | None  # None when the tracked ref is a SHA


def is_full_sha(value: str) -> bool:
    return bool(_FULL_SHA.match(value))


def parse_tracking_ref(spec: str, *, source: str = "tracking_ref") -> TrackedRef:
    """Parse ``tracking_ref``; raise :class:`BundleConfigError` when git would refuse it."""
    if not isinstance(spec, str) or not spec.strip():
        raise BundleConfigError(
            source, "must be a branch, tag, full commit SHA or tag pattern", key="tracking_ref"
        )
    spec = spec.strip()
    if is_full_sha(spec.lower()):
        return TrackedRef(spec, "sha", spec.lower())
    if any(ch in spec for ch in _GLOB_CHARS):
        pattern = spec.removeprefix(TAGS)
        _check_ref_text(
            pattern.replace("*", "x").replace("?", "x").replace("[", "x").replace("]", "x"), spec, source
        )
        return TrackedRef(spec, "tag_pattern", pattern)
    _check_ref_text(spec, spec, source)
    if spec.startswith(HEADS):
        return TrackedRef(spec, "branch", spec)
    if spec.startswith(TAGS):
        return TrackedRef(spec, "tag", spec)
    return TrackedRef(spec, "name", spec)


def _check_ref_text(text: str, spec: str, source: str) -> None:
    if _BAD_REF.search(text):
        raise BundleConfigError(
            source,
            f"{spec!r} is not a valid git ref: no spaces, '..', '~^:\\', leading '-' or '/', "
            "trailing '/' or '.'; use a branch, tag, full commit SHA or tag pattern such as 'v*'",
            key="tracking_ref",
        )


def parse_ls_remote(output: str) -> dict[str, str]:
    """Map ref name to commit SHA from ``git ls-remote`` output; annotated tags are peeled.

    ``<sha>\\trefs/tags/v1`` is the tag object and ``<sha>\\trefs/tags/v1^{}`` its commit:
    the peeled line wins whatever the order.
    """
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in output.splitlines():
        sha, sep, name = line.strip().partition("\t")
        if not sep or not is_full_sha(sha):
            continue
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha
        else:
            refs[name] = sha
    refs.update(peeled)
    return refs


def ls_remote_patterns(ref: TrackedRef) -> list[str]:
    """The patterns to pass to ``git ls-remote`` so the remote lists only candidate refs."""
    if ref.kind == "sha":
        return []
    if ref.kind == "tag_pattern":
        return [f"{TAGS}*"]
    if ref.kind in ("branch", "tag"):
        return [ref.value]
    return [f"{HEADS}{ref.value}", f"{TAGS}{ref.value}"]


def resolve(ref: TrackedRef, refs: dict[str, str]) -> Resolved:
    """Pick the commit the tracked ref points at among the remote's ``refs``."""
    if ref.kind == "sha":
        return Resolved(ref.value, None)
    if ref.kind == "tag_pattern":
        return _newest_tag(ref, refs)
    candidates = [ref.value] if ref.kind in ("branch", "tag") else [HEADS + ref.value, TAGS + ref.value]
    for name in candidates:
        if name in refs:
            return Resolved(refs[name], name)
    raise RefNotFoundError(
        f"git ref not found: {ref.spec!r} (looked for {', '.join(candidates)}): the remote has no such "
        "branch or tag; check tracking_ref"
    )


def _newest_tag(ref: TrackedRef, refs: dict[str, str]) -> Resolved:
    matching = [
        name for name in refs if name.startswith(TAGS) and fnmatch.fnmatchcase(name[len(TAGS) :], ref.value)
    ]
    if not matching:
        raise RefNotFoundError(
            f"git ref not found: no tag matches {ref.spec!r}: push a matching tag or fix tracking_ref"
        )
    newest = max(matching, key=lambda name: version_key(name[len(TAGS) :]))
    return Resolved(refs[newest], newest)


def version_key(tag: str) -> tuple[tuple[int, ...], int, tuple[tuple[int, int | str], ...], str]:
    """Sort key for release tags: numbers compare as numbers, a pre-release sorts before its release.

    ``v1.10.0 > v1.9.3``, ``v2.0.0 > v2.0.0-rc2 > v2.0.0-rc1``; tags without a number sort lowest.
    The last item (the tag itself) makes the order total.
    """
    match = re.search(r"(\d+(?:\.\d+)*)(.*)$", tag)
    if not match:
        return ((), 0, (), tag)
    numbers = tuple(int(part) for part in match.group(1).split("."))
    rest = match.group(2)
    natural = tuple((0, int(tok)) if tok.isdigit() else (1, tok) for tok in re.findall(r"\d+|[^\d]+", rest))
    return (numbers, 0 if rest else 1, natural, tag)


def sparse_patterns(subdir: str | None, sparse_dirs: list[str] | None) -> list[str] | None:
    """Sparse-checkout patterns (non-cone syntax) for the bundle, or ``None`` for a full checkout.

    With ``subdir`` the bundle only ever reads under it, so only ``subdir`` and ``sparse_dirs``
    are checked out. Without ``subdir`` but with ``sparse_dirs``, files at the repository root
    are kept too, as upstream's cone mode does.
    """
    dirs = [d.strip("/") for d in ([subdir] if subdir else []) + list(sparse_dirs or []) if d.strip("/")]
    if not dirs:
        return None
    patterns = [] if subdir else ["/*", "!/*/"]
    for d in dict.fromkeys(dirs):
        patterns.append(f"/{d}/")
    return patterns


@dataclass(frozen=True)
class Submodule:
    name: str
    path: str
    url: str


def parse_gitmodules(config_list: str) -> dict[str, Submodule]:
    """Submodules by path from ``git config --list`` output of a ``.gitmodules`` blob."""
    fields: dict[str, dict[str, str]] = {}
    for line in config_list.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.startswith("submodule.") or "." not in key[len("submodule.") :]:
            continue
        name, _, attr = key[len("submodule.") :].rpartition(".")
        fields.setdefault(name, {})[attr] = value
    return {
        f["path"]: Submodule(name, f["path"], f["url"])
        for name, f in fields.items()
        if "path" in f and "url" in f
    }
