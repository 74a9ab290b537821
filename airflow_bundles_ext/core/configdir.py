"""A directory of bundle JSON files as plain data: snapshot, diff, reconcile.

The shape follows watchdog's ``dirsnapshot``: a :class:`DirSnapshot` is built from injected
``listdir``/``stat`` functions and holds nothing but ``(st_mtime_ns, size, inode, mode)`` per
file (or the error its ``stat`` gave), so taking one costs one ``listdir`` and one ``stat`` per
file and no reads. The diff of two
snapshots is set arithmetic. :func:`reconcile` turns the per-file parse results into the set of
bundles in force, applying the rules that keep bad input from hurting what was fine:

* an invalid file keeps its *last good* definition in force (if it ever had one and the
  current tenancy policy still admits it);
* a name that the static ``dag_bundle_config_list`` defines is refused in a file (the static
  list wins);
* a file defines the bundle named by its stem, so no two files can claim one name;
* only a file that disappeared takes its bundle away.

Nothing here imports Airflow or touches the filesystem.
"""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_bundles_ext.core.bundle_config import BundleSpec, is_config_file_name


@dataclass(frozen=True)
class FileStat:
    """What the watcher compares between loops: any change means the file is read again."""

    mtime_ns: int
    size: int
    inode: int
    mode: int = stat_mod.S_IFREG | 0o644

    @classmethod
    def of(cls, st: Any) -> FileStat:
        return cls(mtime_ns=st.st_mtime_ns, size=st.st_size, inode=st.st_ino, mode=st.st_mode)

    @property
    def is_regular(self) -> bool:
        """A FIFO, socket, device or directory named ``*.json`` is never opened."""
        return stat_mod.S_ISREG(self.mode)


@dataclass(frozen=True)
class DirSnapshot:
    """Config file name -> :class:`FileStat` for one directory at one moment.

    ``errors`` holds the files whose ``stat`` failed (a symlink loop, a link into an unreadable
    directory): they are present, with that error, and do not spoil the rest of the snapshot.
    """

    files: Mapping[str, FileStat] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.files) | frozenset(self.errors)

    @classmethod
    def take(
        cls,
        directory: str,
        *,
        listdir: Callable[[str], Iterable[str]],
        stat: Callable[[str], Any],
    ) -> DirSnapshot:
        """Stat every config file in ``directory``.

        ``listdir`` errors propagate (the caller decides that an unreadable directory removes
        nothing). A file that vanishes between ``listdir`` and ``stat`` is left out; it shows
        up as removed, or as added again on the next snapshot. Any other ``stat`` error is
        recorded for that file only.
        """
        files: dict[str, FileStat] = {}
        errors: dict[str, str] = {}
        for name in sorted(listdir(directory)):
            if not is_config_file_name(name):
                continue
            try:
                files[name] = FileStat.of(stat(f"{directory}/{name}"))
            except FileNotFoundError:
                continue
            except OSError as exc:
                errors[name] = f"{type(exc).__name__}: {exc.strerror or exc}"
        return cls(files, errors)

    def diff(self, previous: DirSnapshot) -> SnapshotDiff:
        now, before = self.names, previous.names
        return SnapshotDiff(
            added=frozenset(now - before),
            removed=frozenset(before - now),
            changed=frozenset(n for n in now & before if self._entry(n) != previous._entry(n)),
        )

    def _entry(self, name: str) -> FileStat | str:
        return self.files[name] if name in self.files else self.errors[name]


@dataclass(frozen=True)
class SnapshotDiff:
    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()

    @property
    def to_read(self) -> frozenset[str]:
        return self.added | self.changed

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class FileError:
    """Why one file is not (or no longer) what is in force. ``message`` names the file."""

    file: str
    message: str


ParseResult = BundleSpec | FileError
"""What reading and validating one file gave."""


@dataclass(frozen=True)
class Resolution:
    """The outcome of :func:`reconcile`.

    ``bundles``: name -> spec in force (``spec.source`` is the file it came from).
    ``errors``: file -> error, for every file that is not in force as written.
    ``last_good``: file -> spec to persist as that file's last good definition.
    """

    bundles: Mapping[str, BundleSpec]
    errors: Mapping[str, FileError]
    last_good: Mapping[str, BundleSpec]

    @property
    def stale_files(self) -> frozenset[str]:
        """Invalid files whose last good definition is still in force."""
        in_force = {spec.source for spec in self.bundles.values()}
        return frozenset(f for f in self.errors if f in in_force)


def reconcile(
    parsed: Mapping[str, ParseResult],
    last_good: Mapping[str, BundleSpec],
    static_names: Iterable[str] = (),
    usable: Callable[[BundleSpec], str | None] | None = None,
) -> Resolution:
    """Decide which bundle each present file contributes.

    ``parsed`` has one entry per file present in the directory; ``last_good`` is the
    persisted last good spec per file (entries of absent files are dropped). A file defines
    the bundle named by its stem (the tenancy policy refuses anything else), so two files never
    claim one name. ``usable`` vets a last good spec before it stands in for an invalid file
    (it returns why it cannot: the current policy refuses it, its class no longer imports).
    """
    static = frozenset(static_names)
    errors: dict[str, FileError] = {}
    bundles: dict[str, BundleSpec] = {}
    kept: dict[str, BundleSpec] = {}
    for file in sorted(parsed):
        result = _outside_static(file, parsed[file], static)
        if isinstance(result, BundleSpec):
            bundles[result.name] = kept[file] = result
        else:
            errors[file] = result
    for file, error in sorted(errors.items()):
        spec = last_good.get(file)
        if spec is None or spec.name in static or spec.name in bundles:
            continue
        kept[file] = spec  # kept on record even when it cannot be used here and now
        problem = usable(spec) if usable is not None else None
        if problem is not None:
            errors[file] = FileError(
                file, f"{error.message}; its last good definition cannot stand in: {problem}"
            )
            continue
        bundles[spec.name] = spec
    return Resolution(bundles=bundles, errors=errors, last_good=kept)


def _outside_static(file: str, result: ParseResult, static: frozenset[str]) -> ParseResult:
    """A file's bundle must not take a name of the static list, which wins."""
    if isinstance(result, BundleSpec) and result.name in static:
        return FileError(
            file,
            f"{file}: bundle name {result.name!r} is defined in [dag_processor] "
            "dag_bundle_config_list, which wins; rename the bundle or remove it from the static list",
        )
    return result


def changed_bundles(
    before: Mapping[str, BundleSpec], after: Mapping[str, BundleSpec]
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """``(added, removed, changed)`` bundle names; a spec moving to another file is no change."""
    added = frozenset(set(after) - set(before))
    removed = frozenset(set(before) - set(after))
    changed = frozenset(
        n for n in set(after) & set(before) if before[n].as_config_entry() != after[n].as_config_entry()
    )
    return added, removed, changed
