"""One bundle definition file: the rules shared by the watcher, the sidecar and the CLI.

A bundle definition is a JSON object with the schema of one entry of
``[dag_processor] dag_bundle_config_list``::

    {"name": "team-a", "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle",
     "kwargs": {"bucket_name": "b", "prefix": "dags/team-a"}, "team_name": null}

:func:`parse_bundle_file` checks everything that can be checked without importing the class
(size, encoding, JSON, keys, types, path-safe name, allow-listed classpath). The watcher adds
the checks that need Airflow (the class imports, the constructor accepts the kwargs); the
sidecar, which must not import Airflow, stops here. Both call this one function, so a file
the sidecar writes is a file the watcher accepts as far as it can be told without Airflow.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import BundleConfigError, UnsafePathError

MAX_FILE_BYTES = 1024 * 1024
"""Files over 1 MiB are refused: a bundle definition is a few hundred bytes."""

RESERVED_NAMES = frozenset({"example_dags"})
"""Names Airflow reserves (``_example_dag_bundle_name`` in the bundles manager)."""

DEFAULT_ALLOWED_CLASSPATHS: tuple[str, ...] = (
    "airflow_bundles_ext.bundles.s3.S3DagBundle",
    "airflow_bundles_ext.bundles.git.GitDagBundle",
    "airflow.dag_processing.bundles.local.LocalDagBundle",
    "airflow.providers.amazon.aws.bundles.s3.S3DagBundle",
    "airflow.providers.git.bundles.git.GitDagBundle",
    "airflow.providers.google.cloud.bundles.gcs.GCSDagBundle",
)
"""Classpaths a bundle file may name unless ``[bundles_ext] allowed_classpaths`` says otherwise."""

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


def parse_bundle_file(raw: bytes, *, source: str, allowlist: Allowlist) -> BundleSpec:
    """Validate the bytes of one bundle file and return its :class:`BundleSpec`.

    Raises :class:`BundleConfigError` naming ``source``, the key and what to do.
    """
    if len(raw) > MAX_FILE_BYTES:
        raise BundleConfigError(
            source, f"file is {len(raw)} bytes, over the {MAX_FILE_BYTES} byte limit; one bundle per file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleConfigError(source, f"not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleConfigError(
            source, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return parse_bundle_entry(data, source=source, allowlist=allowlist)


def parse_bundle_entry(data: Any, *, source: str, allowlist: Allowlist) -> BundleSpec:
    """Validate one decoded entry (from a file or from ``dag_bundle_config_list``)."""
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
    if not allowlist.allows(classpath):
        raise BundleConfigError(
            source,
            f"classpath {classpath!r} is not on the allow-list; use one of {', '.join(allowlist.patterns)} "
            "or ask the platform team to add it to [bundles_ext] allowed_classpaths",
            key="classpath",
        )
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
        raise BundleConfigError(source, f"expected a non-empty string, got {value!r}", key=key)
    return value


def duplicate_names(specs: Iterable[BundleSpec]) -> dict[str, list[str]]:
    """Map each bundle name defined by more than one source to those sources, sorted."""
    seen: dict[str, list[str]] = {}
    for spec in specs:
        seen.setdefault(spec.name, []).append(spec.source)
    return {name: sorted(sources) for name, sources in seen.items() if len(sources) > 1}
