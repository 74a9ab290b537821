"""The watched directory as the sidecar sees it: bundle files, the state file, crash debris.

The state file remembers, per file, the ETag it was synced from and the size and mtime the
file had after the write. It lives in the watched directory as a hidden file, which the
watcher ignores (``is_config_file_name``), so it survives a container restart exactly as
long as the files it describes (an ``emptyDir`` lives as long as the pod). A record is
trusted only while the file's size and mtime still match; otherwise the file is hashed and
compared again, so a lost or stale state file costs GETs, never a wrong or spurious write.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from airflow_bundles_ext.core.bundle_config import is_config_file_name
from airflow_bundles_ext.errors import PublishError
from airflow_bundles_ext.publish import atomic_write
from airflow_bundles_ext.sidecar.plan import LocalFile, md5_hex

STATE_FILE = ".airflow-bundle-sync.state"
_STATE_VERSION = 1
# Temp files of publish.atomic_write: ".<name>.<pid>.<8 hex>.tmp".
_DEBRIS = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")


@dataclass(frozen=True)
class FileRecord:
    etag: str
    md5: str
    size: int
    mtime_ns: int


_RECORD_FIELDS = frozenset(f.name for f in fields(FileRecord))


def load_records(directory: Path, source: str) -> dict[str, FileRecord]:
    """Records of the last cycle; empty when missing, unreadable or for another source.

    A lost record only costs a hash (and perhaps a GET), never a wrong write: a missing or
    foreign state file is read as empty.
    """
    try:
        data = json.loads((directory / STATE_FILE).read_bytes())
        if data.get("version") != _STATE_VERSION or data.get("source") != source:
            return {}
        return {
            name: FileRecord(**{k: v for k, v in record.items() if k in _RECORD_FIELDS})
            for name, record in data["files"].items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}


def save_records(directory: Path, source: str, records: Mapping[str, FileRecord]) -> None:
    payload = {
        "version": _STATE_VERSION,
        "source": source,
        "files": {name: asdict(rec) for name, rec in sorted(records.items())},
    }
    _write(directory / STATE_FILE, json.dumps(payload, indent=1).encode())


def scan(directory: Path, records: Mapping[str, FileRecord]) -> dict[str, LocalFile]:
    """The bundle files in ``directory``; hashes only files whose record does not match."""
    found: dict[str, LocalFile] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_config_file_name(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            rec = records.get(entry.name)
            if rec is not None and (rec.size, rec.mtime_ns) == (st.st_size, st.st_mtime_ns):
                found[entry.name] = LocalFile(entry.name, rec.md5, rec.size, rec.etag)
                continue
            with contextlib.suppress(FileNotFoundError):
                data = Path(entry.path).read_bytes()
                found[entry.name] = LocalFile(entry.name, md5_hex(data), len(data))
    return found


def record_for(path: Path, etag: str, md5: str) -> FileRecord:
    st = path.stat()
    return FileRecord(etag=etag, md5=md5, size=st.st_size, mtime_ns=st.st_mtime_ns)


def write_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` (temp + fsync + rename), as :class:`PublishError` on failure."""
    _write(path, data)


def delete_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot delete {path}: {exc}; check the volume is writable") from exc


def sweep_debris(directory: Path) -> list[Path]:
    """Remove temp files a killed sidecar left behind (hidden ``.tmp``, so the watcher never read them)."""
    removed = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if _DEBRIS.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc}; check the volume is writable and not full") from exc
