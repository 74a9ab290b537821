"""The platform's tenancy policy file (``[bundles_ext] tenancy_policy``): schema and parsing.

A JSON document validated with pydantic; every error names the file and the key path
(``tenants.etl.s3[0].prefixes``). See docs/tenancy.md for the worked example::

    {
      "version": 1,
      "tenants": {
        "etl-projects": {
          "files": ["{project}-bundle.json"],
          "conn_ids": ["aws_default"],
          "s3": [{"bucket": "my-airflow-workspace",
                  "prefixes": ["etls/{project}/latest/workspaces/*/dags"]}],
          "caps": {"max_files": 2000}
        }
      },
      "default": null
    }

Pure: bytes in, :class:`~airflow_bundles_ext.core.tenancy.TenancyPolicy` out.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from airflow_bundles_ext.core import patterns
from airflow_bundles_ext.core.bundle_config import Allowlist
from airflow_bundles_ext.core.tenancy import (
    DEFAULT_CONN_IDS,
    Caps,
    Grant,
    S3Grant,
    TenancyPolicy,
    Tenant,
)
from airflow_bundles_ext.errors import PolicyError

_DEFAULT_CAPS = Caps()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapsModel(_Strict):
    max_files: int = Field(default=_DEFAULT_CAPS.max_files, gt=0)
    max_bytes: int = Field(default=_DEFAULT_CAPS.max_bytes, gt=0)
    max_workers: int = Field(default=_DEFAULT_CAPS.max_workers, gt=0, le=128)
    max_attempts: int = Field(default=_DEFAULT_CAPS.max_attempts, gt=0, le=20)
    connect_timeout: float = Field(default=_DEFAULT_CAPS.connect_timeout, gt=0, le=3600)
    read_timeout: float = Field(default=_DEFAULT_CAPS.read_timeout, gt=0, le=3600)
    git_timeout: float = Field(default=_DEFAULT_CAPS.git_timeout, gt=0, le=86400)
    git_low_speed_time: float = Field(default=_DEFAULT_CAPS.git_low_speed_time, gt=0, le=3600)


class S3Model(_Strict):
    bucket: str = Field(min_length=1)
    prefixes: list[str] = Field(min_length=1)


class GrantModel(_Strict):
    classpaths: list[str] | None = None
    conn_ids: list[str] = Field(default_factory=lambda: list(DEFAULT_CONN_IDS))
    team_name: str | None = None
    bundle_names: list[str] | None = None
    s3: list[S3Model] | None = None
    git_urls: list[str] | None = None
    local_path_roots: list[str] | None = None
    caps: CapsModel = Field(default_factory=CapsModel)

    @field_validator("local_path_roots")
    @classmethod
    def _absolute(cls, roots: list[str] | None) -> list[str] | None:
        for root in roots or ():
            if not root.startswith("/"):
                raise ValueError(f"{root!r} is not an absolute path")
        return roots


class TenantModel(GrantModel):
    files: list[str] = Field(min_length=1)


class PolicyModel(_Strict):
    version: Literal[1] = 1
    tenants: dict[str, TenantModel] = Field(default_factory=dict)
    default: GrantModel | None = Field(default_factory=GrantModel)


def parse_policy(raw: bytes, *, source: str, allowlist: Allowlist) -> TenancyPolicy:
    """Validate a policy file's bytes; :class:`PolicyError` naming ``source`` and the key."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PolicyError(f"invalid tenancy policy {source}: not JSON: {exc}; fix the file") from exc
    try:
        model = PolicyModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PolicyError(
            f"invalid tenancy policy {source}: key {_loc(first['loc'])}: {first['msg']} "
            f"({exc.error_count()} error(s)); see docs/tenancy.md"
        ) from exc
    tenants = tuple(_tenant(name, t, source) for name, t in model.tenants.items())
    default = None if model.default is None else _grant(model.default, frozenset({"name"}), "default", source)
    return TenancyPolicy(tenants=tenants, default=default, allowlist=allowlist, source=source)


def _tenant(name: str, model: TenantModel, source: str) -> Tenant:
    captured = frozenset.intersection(*(patterns.placeholders(p) for p in model.files))
    grant = _grant(model, captured | {"name"}, f"tenants.{name}", source)
    return Tenant(name=name, files=tuple(model.files), grant=grant)


def _grant(model: GrantModel, known: frozenset[str], where: str, source: str) -> Grant:
    _check_placeholders(model, known, where, source)
    s3 = None if model.s3 is None else tuple(S3Grant(g.bucket, tuple(g.prefixes)) for g in model.s3)
    return Grant(
        classpaths=_tuple(model.classpaths),
        conn_ids=tuple(model.conn_ids),
        team_name=model.team_name,
        bundle_names=_tuple(model.bundle_names),
        s3=s3,
        git_urls=_tuple(model.git_urls),
        local_path_roots=_tuple(model.local_path_roots),
        caps=Caps(**model.caps.model_dump()),
    )


def _check_placeholders(model: GrantModel, known: frozenset[str], where: str, source: str) -> None:
    """Every placeholder of a grant must be captured by every ``files`` pattern of its tenant."""
    used: list[tuple[str, str]] = [("team_name", model.team_name or "")]
    for key in ("conn_ids", "bundle_names", "git_urls", "local_path_roots"):
        used += [(f"{key}[{i}]", p) for i, p in enumerate(getattr(model, key) or ())]
    for i, grant in enumerate(model.s3 or ()):
        used.append((f"s3[{i}].bucket", grant.bucket))
        used += [(f"s3[{i}].prefixes[{j}]", p) for j, p in enumerate(grant.prefixes)]
    for key, pattern in used:
        unknown = sorted(patterns.placeholders(pattern) - known)
        if unknown:
            raise PolicyError(
                f"invalid tenancy policy {source}: key {where}.{key}: placeholder {{{unknown[0]}}} is not "
                f"captured by every pattern in {where}.files; capture it there or write the value"
            )


def _tuple(items: list[str] | None) -> tuple[str, ...] | None:
    return None if items is None else tuple(items)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"
