"""The directory view on a real filesystem: bad input never hurts what was fine."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from airflow_bundles_ext.core.bundle_config import Allowlist
from airflow_bundles_ext.integration.bundles import check_loadable
from airflow_bundles_ext.watcher.state import LastGoodStore
from airflow_bundles_ext.watcher.view import ConfigDirView, _read_bytes

LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"
ALLOW = Allowlist((LOCAL, "airflow_bundles_ext.no_such_module.*"))


def entry(name="a", classpath=LOCAL, **kwargs):
    return {"name": name, "classpath": classpath, "kwargs": kwargs or {"path": "/dags/a"}}


def put(directory, file, content):
    path = directory / file
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    # Make a rewrite within the same mtime tick visible (size/inode may not change).
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.fixture
def conf_dir(tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    return d


def make_view(conf_dir, tmp_path, **kw):
    reads = []

    def read(path):
        reads.append(path.name)
        return _read_bytes(path)

    view = ConfigDirView(
        conf_dir,
        allowlist=ALLOW,
        last_good=LastGoodStore(tmp_path / "state"),
        check=check_loadable,
        read=read,
        **kw,
    )
    return view, reads


BAD_INPUTS = {
    "malformed JSON": (b'{"name": "a", ', "malformed JSON"),
    "wrong type": (entry() | {"kwargs": ["x"]}, "key 'kwargs'"),
    "missing key": ({"name": "a", "classpath": LOCAL}, "missing required key(s) kwargs"),
    "unimportable classpath": (entry(classpath="airflow_bundles_ext.no_such_module.B"), "does not import"),
    "disallowed classpath": (entry(classpath="subprocess.Popen"), "not on the allow-list"),
    "constructor raises": (entry(path="/d", bogus=1), "constructor refused the kwargs"),
    "unsafe name": (entry(name="../etc"), "key 'name'"),
    "over 1 MiB": (b'{"name": "a"' + b" " * (1024 * 1024) + b"}", "over the 1048576 byte limit"),
    "not UTF-8": (b'{"name": "\xff"}', "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_keeps_last_good_definition_and_names_the_file(conf_dir, tmp_path, case):
    content, problem = BAD_INPUTS[case]
    put(conf_dir, "a.json", entry())
    put(conf_dir, "b.json", entry("b", path="/dags/b"))
    view, _ = make_view(conf_dir, tmp_path)
    good = view.resolve().bundles

    put(conf_dir, "a.json", content)
    res = view.resolve()

    assert res.bundles == good
    assert set(res.errors) == {"a.json"}
    assert "a.json" in res.errors["a.json"].message and problem in res.errors["a.json"].message
    assert res.stale_files == {"a.json"}


def test_symlink_out_of_the_directory_is_refused(conf_dir, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(entry()))
    (conf_dir / "a.json").symlink_to(outside)
    (conf_dir / "b.json").symlink_to("b.real.json.tmp")  # in-directory links (ConfigMap style) are fine
    put(conf_dir, "b.real.json.tmp", entry("b"))
    view, _ = make_view(conf_dir, tmp_path)
    res = view.resolve()
    assert set(res.bundles) == {"b"}
    assert "outside the watched directory" in res.errors["a.json"].message


def test_unchanged_files_are_stat_only_and_a_bad_file_is_reported_once(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    put(conf_dir, "bad.json", b"{")
    view, reads = make_view(conf_dir, tmp_path)
    for _ in range(3):
        view.resolve()
    assert sorted(reads) == ["a.json", "bad.json"]
    assert view.errors_reported == 1
    generation = view.generation
    put(conf_dir, "bad.json", entry("bad", path="/dags/bad"))
    assert set(view.resolve().bundles) == {"a", "bad"}
    assert sorted(reads) == ["a.json", "bad.json", "bad.json"]
    assert view.generation == generation + 1


def test_last_good_definition_survives_a_process_start_while_the_file_is_invalid(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    first, _ = make_view(conf_dir, tmp_path)
    good = first.resolve().bundles["a"]
    put(conf_dir, "a.json", b"not json")

    restarted, _ = make_view(conf_dir, tmp_path)  # a new process: only the state file is shared
    res = restarted.resolve()
    assert res.bundles == {"a": good}
    assert "a.json" in res.errors


def test_deleted_file_removes_its_bundle_and_its_last_good_entry(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    view, _ = make_view(conf_dir, tmp_path)
    view.resolve()
    (conf_dir / "a.json").unlink()
    assert view.resolve().bundles == {}
    assert json.loads((tmp_path / "state" / "last_good.json").read_text()) == {"files": {}}


def test_unreadable_directory_removes_nothing(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    view, _ = make_view(conf_dir, tmp_path)
    before = view.resolve().bundles
    shutil.move(conf_dir, tmp_path / "moved-away")
    assert view.resolve().bundles == before
    # A process that starts while the directory is missing falls back to the persisted state.
    fresh, _ = make_view(conf_dir, tmp_path)
    assert fresh.resolve().bundles == before


def test_read_error_is_retried_on_the_next_call(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    failures = [OSError(5, "Input/output error")]

    def flaky(path):
        if failures:
            raise failures.pop()
        return _read_bytes(path)

    view = ConfigDirView(conf_dir, allowlist=ALLOW, last_good=LastGoodStore(tmp_path / "s"), read=flaky)
    assert "cannot read" in view.resolve().errors["a.json"].message
    assert set(view.resolve().bundles) == {"a"}


def test_static_name_conflict_is_an_error_of_the_file(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry("shared"))
    view, _ = make_view(conf_dir, tmp_path)
    res = view.resolve(static_names={"shared"})
    assert res.bundles == {}
    assert "dag_bundle_config_list, which wins" in res.errors["a.json"].message
