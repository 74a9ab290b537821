"""Tenancy: what a bundle *file* may define. Pure: plain data in, plain data out.

A bundle file is untrusted input from one team. :meth:`TenancyPolicy.admit`, called by the watcher,
``validate`` and the sidecar through :func:`~airflow_bundles_ext.core.bundle_config.parse_bundle_file`,
is the one place a file is held against what the platform granted (static bundles never are).

Admission, as a list of steps (each raises :class:`BundleConfigError` naming file and key)::

    the bundle name is the file's stem -> the file's tenant (first whose ``files`` pattern
    matches; its captures become placeholder values) -> bundle name pattern -> classpath
    -> team_name (assigned by the policy only) -> connection ids -> where the bundle reads
    (S3 bucket and prefix, git URL, local path) -> caps (checked, then injected)

The result is the *effective* definition: the team the policy assigns and, for this package's
bundle classes, every cap as an explicit kwarg (and ``restricted=True`` for git). Admitting an
effective definition again gives the same definition, so a stored last good definition is
re-checked against the current policy with the same function.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_bundles_ext.core import patterns
from airflow_bundles_ext.core.bundle_config import Allowlist, BundleSpec
from airflow_bundles_ext.core.git_urls import parse_remote, redact_url
from airflow_bundles_ext.errors import BundleConfigError

OUR_S3 = "airflow_bundles_ext.bundles.s3.S3DagBundle"
OUR_GIT = "airflow_bundles_ext.bundles.git.GitDagBundle"
_KIND = {
    OUR_S3: "s3",
    "airflow.providers.amazon.aws.bundles.s3.S3DagBundle": "s3",
    OUR_GIT: "git",
    "airflow.providers.git.bundles.git.GitDagBundle": "git",
    "airflow.dag_processing.bundles.local.LocalDagBundle": "local",
}
DEFAULT_CONN_IDS = ("aws_default", "git_default")


@dataclass(frozen=True)
class Caps:
    """Upper bounds on what one file-defined bundle may cost; names are the bundles' kwargs."""

    max_files: int = 10_000
    max_bytes: int = 1024**3
    max_workers: int = 16
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    git_timeout: float = 300.0
    git_low_speed_time: float = 30.0


_CAPPED = {
    OUR_S3: ("max_files", "max_bytes", "max_workers", "max_attempts", "connect_timeout", "read_timeout"),
    OUR_GIT: ("max_files", "max_bytes", "git_timeout", "git_low_speed_time"),
}
_PINNED = {OUR_GIT: {"restricted": True}}
"""Kwargs a file may only repeat: the policy sets them."""


@dataclass(frozen=True)
class S3Grant:
    bucket: str
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """What one tenant may define. ``None`` means "not restricted by this policy"."""

    classpaths: tuple[str, ...] | None = None  # None: [bundles_ext] allowed_classpaths
    conn_ids: tuple[str, ...] = DEFAULT_CONN_IDS
    team_name: str | None = None
    bundle_names: tuple[str, ...] | None = None
    s3: tuple[S3Grant, ...] | None = None
    git_urls: tuple[str, ...] | None = None
    local_path_roots: tuple[str, ...] | None = None
    caps: Caps = field(default_factory=Caps)


@dataclass(frozen=True)
class Tenant:
    name: str
    files: tuple[str, ...]
    grant: Grant


@dataclass(frozen=True)
class Admission:
    """Which tenant a file belongs to and the placeholder values its name gave."""

    tenant: str
    grant: Grant
    values: Mapping[str, str]


@dataclass(frozen=True)
class TenancyPolicy:
    """The platform's rules for bundle files; the default instance is the built-in default policy.

    ``default`` applies to files that match no tenant; ``None`` refuses them.
    """

    tenants: tuple[Tenant, ...] = ()
    default: Grant | None = field(default_factory=Grant)
    allowlist: Allowlist = field(default_factory=Allowlist)
    source: str = "the built-in default policy"

    def admission(self, file: str, name: str) -> Admission:
        """The tenant of ``file`` (first match wins) and its placeholder values."""
        for tenant in self.tenants:
            for pattern in tenant.files:
                captured = patterns.capture(pattern, file)
                if captured is not None:
                    return Admission(tenant.name, tenant.grant, {**captured, "name": name})
        if self.default is None:
            raise BundleConfigError(
                file,
                f"no tenant of {self.source} claims this file name; ask the platform team to add it",
            )
        return Admission("default", self.default, {"name": name})

    def admit(self, spec: BundleSpec, file: str) -> BundleSpec:
        """The effective definition of ``spec`` read from ``file``, or :class:`BundleConfigError`."""
        check_stem(spec.name, file)
        adm = self.admission(file, spec.name)
        check = _Checker(file, adm, self.source)
        check.bundle_name(spec.name)
        check.classpath(spec.classpath, self.allowlist)
        team = check.team_name(spec.team_name)
        kwargs = dict(spec.kwargs)
        kind = _KIND.get(spec.classpath)
        check.connections(kwargs, spec.classpath)
        if kind == "s3":
            check.s3_location(kwargs)
        elif kind == "git":
            check.git_url(kwargs, spec.classpath)
        elif kind == "local":
            check.local_path(kwargs)
        kwargs = check.caps(spec.classpath, kwargs)
        return replace(spec, kwargs=kwargs, team_name=team, tenant=adm.tenant)


def check_stem(name: str, file: str) -> None:
    """A file defines exactly the bundle named by its stem: two files can never claim one name."""
    stem = file[: -len(".json")] if file.endswith(".json") else file
    if name != stem:
        raise BundleConfigError(
            file,
            f"bundle name {name!r} differs from the file name; a file defines the bundle named by its "
            f"stem: rename the file to {name}.json or set name to {stem!r}",
            key="name",
        )


class _Checker:
    """The admission steps for one file; every message names the file, the key and the grant."""

    def __init__(self, file: str, adm: Admission, source: str) -> None:
        self.file, self.adm, self.grant, self.source = file, adm, adm.grant, source
        self.values = adm.values

    def refuse(self, key: str, problem: str) -> BundleConfigError:
        return BundleConfigError(
            self.file, f"{problem} (tenant {self.adm.tenant!r} of {self.source})", key=key
        )

    def allowed(self, pattern_list: tuple[str, ...], text: str, *, under: bool = False) -> bool:
        return any(patterns.matches(p, text, self.values, under=under) for p in pattern_list)

    def bundle_name(self, name: str) -> None:
        names = self.grant.bundle_names
        if names is not None and not self.allowed(names, name):
            raise self.refuse("name", f"bundle name {name!r} is not granted; allowed: {', '.join(names)}")

    def classpath(self, classpath: str, allowlist: Allowlist) -> None:
        allowed = Allowlist(self.grant.classpaths) if self.grant.classpaths is not None else allowlist
        if not allowed.allows(classpath):
            raise self.refuse(
                "classpath",
                f"classpath {classpath!r} may not be used in a bundle file; allowed: "
                f"{', '.join(allowed.patterns)}; ask the platform team to grant it",
            )

    def team_name(self, claimed: str | None) -> str | None:
        assigned = patterns.expand(self.grant.team_name, self.values) if self.grant.team_name else None
        if claimed is not None and claimed != assigned:
            why = f"the policy assigns {assigned!r}" if assigned else "the policy assigns no team"
            raise self.refuse("team_name", f"team_name {claimed!r} is refused: {why}; remove team_name")
        return assigned

    def connections(self, kwargs: dict[str, Any], classpath: str) -> None:
        """Every ``*conn_id`` kwarg, and the connection a class uses when it is left out."""
        used = {k: v for k, v in kwargs.items() if k.endswith("conn_id")}
        kind = _KIND.get(classpath)
        if kind == "s3" and used.get("aws_conn_id") is None:
            used["aws_conn_id"] = "aws_default"  # None is boto3's chain: the platform's own identity
        if kind == "git" and classpath != OUR_GIT and used.get("git_conn_id") is None:
            used["git_conn_id"] = "git_default"  # upstream reads git_default when it is left out
        granted = tuple(patterns.expand(c, self.values) for c in self.grant.conn_ids)
        for key, conn_id in sorted(used.items()):
            if conn_id is None and kind == "git":
                continue  # our restricted git bundle without a connection: anonymous access
            if not isinstance(conn_id, str) or conn_id not in granted:
                raise self.refuse(
                    f"kwargs.{key}",
                    f"connection {conn_id!r} is not granted; allowed: {', '.join(granted) or 'none'}",
                )

    def s3_location(self, kwargs: dict[str, Any]) -> None:
        bucket, prefix = kwargs.get("bucket_name"), kwargs.get("prefix", "") or ""
        if not isinstance(bucket, str) or not isinstance(prefix, str):
            raise self.refuse("kwargs.bucket_name", "bucket_name and prefix must be strings")
        grants = [g for g in self.grant.s3 or () if patterns.matches(g.bucket, bucket, self.values)]
        inside = any(self.allowed(g.prefixes, prefix.strip("/"), under=True) for g in grants)
        if self.grant.s3 is not None and not inside:
            granted = "; ".join(
                f"s3://{patterns.expand(g.bucket, self.values)}/"
                + " or ".join(patterns.expand(p, self.values) for p in g.prefixes)
                for g in self.grant.s3
            )
            raise self.refuse(
                "kwargs.prefix", f"s3://{bucket}/{prefix} is not granted; granted: {granted or 'none'}"
            )
        manifests = kwargs.get("manifest_prefix")
        if manifests is None:
            return
        if not isinstance(manifests, str) or not any(
            self.allowed(g.prefixes, manifests.strip("/"), under=True) for g in grants
        ):
            raise self.refuse(
                "kwargs.manifest_prefix",
                "manifest_prefix must lie inside a granted prefix (the processor writes there); "
                "remove it to use the default",
            )

    def git_url(self, kwargs: dict[str, Any], classpath: str) -> None:
        url = kwargs.get("repo_url")
        if url is None:
            return  # the connection's own URL
        if not isinstance(url, str):
            raise self.refuse("kwargs.repo_url", "must be a string")
        anonymous = kwargs.get("git_conn_id") is None and classpath == OUR_GIT
        problem = tenant_url_problem(url, with_connection=not anonymous)
        if problem:
            raise self.refuse("kwargs.repo_url", f"{redact_url(url)} is refused: {problem}")
        granted = self.grant.git_urls
        if granted is not None and not self.allowed(granted, url):
            raise self.refuse(
                "kwargs.repo_url", f"{redact_url(url)} is not granted; allowed: {', '.join(granted)}"
            )

    def local_path(self, kwargs: dict[str, Any]) -> None:
        roots = self.grant.local_path_roots
        if roots is None:
            return  # the platform allowed LocalDagBundle without a path restriction
        path = kwargs.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise self.refuse("kwargs.path", "must be an absolute path inside a granted root")
        normal = posixpath.normpath(path)
        if not self.allowed(roots, normal, under=True):
            raise self.refuse("kwargs.path", f"{normal} is outside the granted roots {', '.join(roots)}")

    def caps(self, classpath: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        caps = self.grant.caps
        for key in _CAPPED.get(classpath, ()):
            cap = getattr(caps, key)
            value = kwargs.get(key, cap)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= cap:
                raise self.refuse(f"kwargs.{key}", f"must be a number above 0 and at most {cap:g}")
            kwargs[key] = value
        for key, pinned in _PINNED.get(classpath, {}).items():
            if kwargs.get(key, pinned) != pinned:
                raise self.refuse(f"kwargs.{key}", f"is set by the platform to {pinned!r} for bundle files")
            kwargs[key] = pinned
        return kwargs


def tenant_url_problem(url: str, *, with_connection: bool) -> str | None:
    """Why a file may not use ``url`` as a git remote, or ``None``."""
    remote = parse_remote(url)
    if remote.scheme == "file":
        return "local paths and file:// URLs read the processor's own disk; use an https or ssh URL"
    if remote.scheme not in ("https", "ssh", "git+ssh", "ssh+git", "http", "git"):
        return f"transport {remote.scheme!r} is not allowed; use an https or ssh URL"
    if not remote.host:
        return "the URL names no host"
    if remote.has_password or (remote.user and remote.scheme in ("https", "http")):
        return "credentials inside repo_url are not allowed; use a granted git connection"
    if remote.has_query:
        return "query strings and fragments are not allowed in repo_url"
    if with_connection and remote.scheme in ("http", "git"):
        return "a connection's credentials are never sent over plain http:// or git://; use https"
    return None
