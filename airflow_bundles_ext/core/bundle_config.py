"""One bundle definition file: the rules shared by the watcher, the sidecar and the CLI.

A bundle definition is a JSON object with the schema of one entry of
``[dag_processor] dag_bundle_config_list``::

    {"name": "team-a", "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle",
     "kwargs": {"bucket_name": "b", "prefix": "dags/team-a"}}

:func:`parse_bundle_file` checks everything that can be checked without importing the class:
size, encoding, JSON (any decoding failure, however exotic, is a :class:`BundleConfigError`
naming the file), keys, types, a path-safe name, then the tenancy policy
(:meth:`airflow_bundles_ext.core.tenancy.TenancyPolicy.admit`). The watcher adds the checks that
need Airflow (the class imports, the constructor accepts the kwargs); the sidecar, which must not
import Airflow, stops here. Both call this one function, so a file the sidecar writes is a file
the watcher accepts as far as it can be told without Airflow.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.core.text import printable, short_repr
from airflow_bundles_ext.errors import BundleConfigError, UnsafePathError

if TYPE_CHECKING:
    from airflow_bundles_ext.core.tenancy import TenancyPolicy

MAX_FILE_BYTES = 1024 * 1024
"""Files over 1 MiB are refused: a bundle definition is a few hundred bytes."""

RESERVED_NAMES = frozenset({"example_dags"})
"""Names Airflow reserves (``_example_dag_bundle_name`` in the bundles manager)."""

MAX_DEPTH = 16
"""Nesting deeper than this (objects and arrays) is refused: a bundle definition is shallow."""

DEFAULT_ALLOWED_CLASSPATHS: tuple[str, ...] = (
    "airflow_bundles_ext.bundles.s3.S3DagBundle",
    "airflow_bundles_ext.bundles.git.GitDagBundle",
)
"""Classpaths a bundle file may name unless ``[bundles_ext] allowed_classpaths`` says otherwise:
only this package's bundles, whose caps and credential rules the tenancy policy can enforce."""

_KEYS_REQUIRED = ("name", "classpath", "kwargs")
_KEYS_OPTIONAL = ("team_name",)
# kwargs the bundles manager passes itself; a file that sets them would break get_bundle().
_KWARGS_RESERVED = ("name", "version")


@dataclass(frozen=True)
class BundleSpec:
    """A validated bundle definition. ``source`` is the file name it came from."""

    name: str
    classpath: str
    kwargs: Mapping[str, Any] = field(hash=False)
    team_name: str | None = None
    source: str = ""
    tenant: str | None = field(default=None, compare=False)

    def as_config_entry(self) -> dict[str, Any]:
        """The entry as ``dag_bundle_config_list`` holds it."""
        entry: dict[str, Any] = {"name": self.name, "classpath": self.classpath, "kwargs": dict(self.kwargs)}
        if self.team_name is not None:
            entry["team_name"] = self.team_name
        return entry


@dataclass(frozen=True)
class Allowlist:
    """Classpaths that may be loaded. An entry ending in ``*`` is an ``fnmatch`` pattern."""

    patterns: tuple[str, ...] = DEFAULT_ALLOWED_CLASSPATHS

    @classmethod
    def parse(cls, text: str | None) -> Allowlist:
        """Parse the comma- or newline-separated option value; empty means the default."""
        if not text or not text.strip():
            return cls()
        items = tuple(p.strip() for p in text.replace("\n", ",").split(",") if p.strip())
        return cls(items)

    def allows(self, classpath: str) -> bool:
        return any(fnmatch.fnmatchcase(classpath, p) if "*" in p else classpath == p for p in self.patterns)


def is_config_file_name(file_name: str) -> bool:
    """Whether the watcher reads this directory entry: ``*.json``, not hidden, not temporary.

    Hidden (``.*``), ``*.tmp`` and ``*~`` files are skipped so a file that is still being
    written (editors, ``aws s3 cp``, the sidecar's temp files) is never read.
    """
    return (
        file_name.endswith(".json")
        and not file_name.startswith(".")
        and not file_name.endswith((".tmp", "~"))
    )


def parse_bundle_file(
    raw: bytes, *, file: str, policy: TenancyPolicy, source: str | None = None
) -> BundleSpec:
    """Validate the bytes of bundle file ``file`` and return its effective :class:`BundleSpec`.

    ``source`` names the file in messages (default: ``file``; the sidecar passes the S3 URL).
    Raises :class:`BundleConfigError` and nothing else, whatever the bytes are.
    """
    where = source or file
    data = decode(raw, where)
    spec = parse_bundle_entry(data, source=where)
    return policy.admit(spec, file) if where == file else _admit_from(policy, spec, file, where)


def _admit_from(policy: TenancyPolicy, spec: BundleSpec, file: str, where: str) -> BundleSpec:
    try:
        return policy.admit(spec, file)
    except BundleConfigError as exc:
        raise BundleConfigError(where, exc.problem, key=exc.key) from exc


def decode(raw: bytes, source: str) -> Any:
    """The JSON value of ``raw``; :class:`BundleConfigError` for anything that is not a small,
    shallow, strict JSON document (deep nesting, huge integers, NaN, duplicate keys included)."""
    if len(raw) > MAX_FILE_BYTES:
        raise BundleConfigError(
            source, f"file is {len(raw)} bytes, over the {MAX_FILE_BYTES} byte limit; one bundle per file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleConfigError(source, f"not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    if _nesting(text) > MAX_DEPTH:
        raise BundleConfigError(source, f"JSON nested deeper than {MAX_DEPTH} levels; flatten the kwargs")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # lone surrogates (\\ud800) break later writes
        return data
    except json.JSONDecodeError as exc:
        raise BundleConfigError(
            source, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except _Refused as exc:
        raise BundleConfigError(source, str(exc)) from exc
    except UnicodeEncodeError as exc:
        raise BundleConfigError(source, "a string holds an unpaired surrogate escape; fix the file") from exc
    except Exception as exc:  # RecursionError, ValueError (int digits), MemoryError...: one file only
        why = f"{type(exc).__name__}: {printable(str(exc), 120)}"
        raise BundleConfigError(source, f"undecodable JSON: {why}; fix the file") from exc


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {key!r}: each key may appear once")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number; use a finite number")


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside strings, found without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_bundle_entry(data: Any, *, source: str) -> BundleSpec:
    """Validate the shape of one decoded entry (from a file, or from the watcher's saved state)."""
    if not isinstance(data, dict):
        raise BundleConfigError(source, f"expected a JSON object, got {type(data).__name__}")
    _check_keys(data, source)
    name = _string(data, "name", source)
    if name in RESERVED_NAMES:
        raise BundleConfigError(source, f"bundle name {name!r} is reserved by Airflow", key="name")
    try:
        check_segment(name, what="bundle name")
    except UnsafePathError as exc:
        raise BundleConfigError(source, str(exc), key="name") from exc
    classpath = _string(data, "classpath", source)
    kwargs = data["kwargs"]
    if not isinstance(kwargs, dict):
        raise BundleConfigError(source, f"expected an object, got {type(kwargs).__name__}", key="kwargs")
    for reserved in _KWARGS_RESERVED:
        if reserved in kwargs:
            raise BundleConfigError(
                source, f"{reserved!r} is set by Airflow; remove it from kwargs", key=f"kwargs.{reserved}"
            )
    team_name = data.get("team_name")
    if team_name is not None and not isinstance(team_name, str):
        raise BundleConfigError(
            source, f"expected a string or null, got {type(team_name).__name__}", key="team_name"
        )
    return BundleSpec(name=name, classpath=classpath, kwargs=kwargs, team_name=team_name, source=source)


def _check_keys(data: dict[str, Any], source: str) -> None:
    missing = [k for k in _KEYS_REQUIRED if k not in data]
    if missing:
        raise BundleConfigError(source, f"missing required key(s) {', '.join(missing)}", key=missing[0])
    unknown = sorted(set(data) - set(_KEYS_REQUIRED) - set(_KEYS_OPTIONAL))
    if unknown:
        raise BundleConfigError(
            source,
            f"unknown key(s) {', '.join(unknown)}; allowed are {', '.join(_KEYS_REQUIRED + _KEYS_OPTIONAL)}",
            key=unknown[0],
        )


def _string(data: dict[str, Any], key: str, source: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise BundleConfigError(source, f"expected a non-empty string, got {short_repr(value)}", key=key)
    return value
