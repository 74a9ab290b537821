"""The directory view on a real filesystem: bad input never hurts what was fine."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

from airflow_bundles_ext.core.bundle_config import Allowlist
from airflow_bundles_ext.errors import BundleConfigError
from airflow_bundles_ext.integration.bundles import (
    check_in_dag_processor,
    check_in_other_process,
    usable_check,
)
from airflow_bundles_ext.policy_source import PolicySource
from airflow_bundles_ext.watcher.reader import DirIO, read_bytes
from airflow_bundles_ext.watcher.state import LastGoodStore
from airflow_bundles_ext.watcher.view import ConfigDirView
from tests.integration.bundles_for_tests import CLASSPATH

LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"
ALLOW = Allowlist((LOCAL, "airflow_bundles_ext.no_such_module.*", CLASSPATH + "*"))
POLICY = PolicySource(None, ALLOW)


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


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_view(conf_dir, tmp_path, *, writer=True, check=check_in_dag_processor, policy=POLICY, clock=None):
    reads = []

    def read(path):
        reads.append(path.name)
        return read_bytes(path)

    io = DirIO(read=read, clock=clock) if clock else DirIO(read=read)
    view = ConfigDirView(
        conf_dir,
        policy=policy,
        last_good=LastGoodStore(tmp_path / "state", writable=writer),
        check=check,
        usable=usable_check(policy),
        io=io,
    )
    return view, reads


BAD_INPUTS = {
    "malformed JSON": (b'{"name": "a", ', "malformed JSON"),
    "wrong type": (entry() | {"kwargs": ["x"]}, "key 'kwargs'"),
    "missing key": ({"name": "a", "classpath": LOCAL}, "missing required key(s) kwargs"),
    "unimportable classpath": (entry(classpath="airflow_bundles_ext.no_such_module.B"), "does not import"),
    "disallowed classpath": (entry(classpath="subprocess.Popen"), "may not be used in a bundle file"),
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


def test_read_error_keeps_last_good_and_is_retried_with_backoff_without_reconciling(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    put(conf_dir, "b.json", entry("b", path="/dags/b"))
    failing = {"b.json"}

    def flaky(path):
        if path.name in failing:
            raise OSError(5, "Input/output error")
        return read_bytes(path)

    clock = Clock()
    view = ConfigDirView(
        conf_dir, policy=POLICY, last_good=LastGoodStore(tmp_path / "s"), io=DirIO(read=flaky, clock=clock)
    )
    assert "cannot read" in view.resolve().errors["b.json"].message
    reads, reconciles = view.reads, view.reconciles
    for _ in range(5):  # same loop second: no retry yet, nothing reconciled
        view.resolve()
    assert (view.reads, view.reconciles) == (reads, reconciles)
    clock.now += 1.0
    view.resolve()  # retried, failed the same way: no reconcile
    assert (view.reads, view.reconciles) == (reads + 1, reconciles)
    clock.now += 1.0
    view.resolve()  # backing off: the next retry is 2 s after the last
    assert view.reads == reads + 1
    failing.clear()
    clock.now += 1.0
    assert set(view.resolve().bundles) == {"a", "b"}


def test_passing_check_failure_keeps_last_good_and_applies_the_edit_once_it_passes(conf_dir, tmp_path):
    outage = tmp_path / "outage"
    bundle = {"name": "a", "classpath": CLASSPATH + "OutageBundle"}
    put(conf_dir, "a.json", bundle | {"kwargs": {"path": "/v1", "outage_marker": str(outage)}})
    clock = Clock()
    view, _ = make_view(conf_dir, tmp_path, clock=clock)
    v1 = view.resolve().bundles["a"]

    outage.touch()  # the constructor's lookup fails now, then the file is edited
    put(conf_dir, "a.json", bundle | {"kwargs": {"path": "/v2", "outage_marker": str(outage)}})
    res = view.resolve()
    assert res.bundles == {"a": v1}
    assert "cannot check" in res.errors["a.json"].message
    new, _ = make_view(conf_dir, tmp_path, writer=False, check=check_in_dag_processor, clock=clock)
    assert new.resolve().bundles == {"a": v1}  # a fresh process keeps the last good copy too

    outage.unlink()
    clock.now += 1.0
    assert view.resolve().bundles["a"].kwargs["path"] == "/v2"
    assert view.resolve().errors == {}


def test_a_new_file_whose_check_cannot_complete_is_added_once_it_can(conf_dir, tmp_path):
    outage = tmp_path / "outage"
    outage.touch()
    put(
        conf_dir,
        "n.json",
        {
            "name": "n",
            "classpath": CLASSPATH + "OutageBundle",
            "kwargs": {"path": "/n", "outage_marker": str(outage)},
        },
    )
    clock = Clock()
    view, _ = make_view(conf_dir, tmp_path, clock=clock)
    assert view.resolve().bundles == {}
    outage.unlink()
    for _ in range(3):
        clock.now += 1.0
        view.resolve()
    assert set(view.resolve().bundles) == {"n"}


def test_other_processes_skip_the_constructor_for_specs_the_processor_proved(conf_dir, tmp_path):
    outage = tmp_path / "outage"
    put(
        conf_dir,
        "a.json",
        {
            "name": "a",
            "classpath": CLASSPATH + "OutageBundle",
            "kwargs": {"path": "/a", "outage_marker": str(outage)},
        },
    )
    processor, _ = make_view(conf_dir, tmp_path)
    proved = processor.resolve().bundles
    outage.touch()  # a constructor would fail now: a worker pod starting during an outage
    worker, _ = make_view(conf_dir, tmp_path, writer=False, check=check_in_other_process)
    assert worker.resolve().bundles == proved
    put(conf_dir, "a.json", {"name": "a", "classpath": LOCAL, "kwargs": {"path": "/a", "bogus": 1}})
    assert "constructor refused" in worker.resolve().errors["a.json"].message  # unproven: constructed


def test_one_unstatable_entry_does_not_freeze_the_directory(conf_dir, tmp_path):
    (conf_dir / "loop.json").symlink_to("loop.json")  # ELOOP on stat
    put(conf_dir, "a.json", entry())
    view, _ = make_view(conf_dir, tmp_path)
    assert set(view.resolve().bundles) == {"a"}
    put(conf_dir, "b.json", entry("b", path="/dags/b"))
    (conf_dir / "a.json").unlink()
    res = view.resolve()
    assert set(res.bundles) == {"b"}
    assert "cannot stat" in res.errors["loop.json"].message


def test_fifo_and_directory_named_json_are_invalid_and_never_opened(conf_dir, tmp_path):
    os.mkfifo(conf_dir / "pipe.json")
    (conf_dir / "dir.json").mkdir()
    put(conf_dir, "a.json", entry())
    view, reads = make_view(conf_dir, tmp_path)
    done = threading.Event()
    result = {}

    def resolve():
        result["res"] = view.resolve()
        done.set()

    threading.Thread(target=resolve, daemon=True).start()
    assert done.wait(30), "resolve blocked on a FIFO"
    res = result["res"]
    assert set(res.bundles) == {"a"}
    for name in ("pipe.json", "dir.json"):
        assert "not a regular file" in res.errors[name].message
    reconciles = view.reconciles
    for _ in range(3):
        view.resolve()
    assert reads == ["a.json"] and view.reconciles == reconciles  # invalid, not retried every loop


def test_read_refuses_a_fifo_swapped_in_after_the_stat_without_blocking(conf_dir):
    os.mkfifo(conf_dir / "late.json")
    with pytest.raises(BundleConfigError, match="not a regular file"):
        read_bytes(conf_dir / "late.json")


def test_only_the_writer_saves_last_good_and_a_lagging_reader_never_rolls_it_back(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry(path="/v1"))
    reader, _ = make_view(conf_dir, tmp_path, writer=False, check=check_in_other_process)
    assert reader.resolve().bundles["a"].kwargs["path"] == "/v1"  # long-running process saw v1
    processor, _ = make_view(conf_dir, tmp_path)
    put(conf_dir, "a.json", entry(path="/v2"))
    assert processor.resolve().bundles["a"].kwargs["path"] == "/v2"

    put(conf_dir, "a.json", b"{broken")
    put(conf_dir, "z.json", entry("z", path="/z"))
    assert reader.resolve().bundles["a"].kwargs["path"] == "/v2"  # follows the processor's state
    restarted, _ = make_view(conf_dir, tmp_path)
    assert restarted.resolve().bundles["a"].kwargs["path"] == "/v2"


def test_last_good_whose_class_no_longer_imports_is_a_file_error(conf_dir, tmp_path):
    gone = {"name": "g", "classpath": "airflow_bundles_ext.no_such_module.Bundle", "kwargs": {}}
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "last_good.json").write_text(json.dumps({"files": {"g.json": gone}}))
    put(conf_dir, "g.json", b"{broken")
    put(conf_dir, "a.json", entry())
    view, _ = make_view(conf_dir, tmp_path)
    res = view.resolve()
    assert set(res.bundles) == {"a"}
    assert "cannot stand in" in res.errors["g.json"].message
    assert "does not import" in res.errors["g.json"].message


def test_static_name_conflict_is_an_error_of_the_file(conf_dir, tmp_path):
    put(conf_dir, "shared.json", entry("shared"))
    view, _ = make_view(conf_dir, tmp_path)
    res = view.resolve(static_names={"shared"})
    assert res.bundles == {}
    assert "dag_bundle_config_list, which wins" in res.errors["shared.json"].message


def test_a_reader_without_shared_state_keeps_what_it_saw_in_memory(conf_dir, tmp_path):
    put(conf_dir, "a.json", entry())
    reader, _ = make_view(conf_dir, tmp_path, writer=False, check=check_in_other_process)
    good = reader.resolve().bundles
    put(conf_dir, "a.json", b"{broken")
    assert reader.resolve().bundles == good
    assert not (tmp_path / "state" / "last_good.json").exists()


def _policy_file(path, roots):
    doc = {"default": {"classpaths": [LOCAL], "local_path_roots": roots}}
    path.write_text(json.dumps(doc))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_a_narrowed_policy_takes_back_what_it_no_longer_grants_and_an_invalid_one_changes_nothing(
    conf_dir, tmp_path
):
    policy_path = tmp_path / "policy.json"
    _policy_file(policy_path, ["/dags"])
    view, reads = make_view(conf_dir, tmp_path, policy=PolicySource(policy_path, ALLOW))
    put(conf_dir, "a.json", entry())
    put(conf_dir, "b.json", entry("b", path="/dags/b"))
    assert set(view.resolve().bundles) == {"a", "b"}
    before = len(reads)

    policy_path.write_text("{not json")  # a broken policy: everything in force stays
    res = view.resolve()
    assert set(res.bundles) == {"a", "b"} and len(reads) == before

    _policy_file(policy_path, ["/dags/b"])  # narrowed: a's path is no longer granted
    res = view.resolve()
    assert set(res.bundles) == {"b"}
    assert "outside the granted roots /dags/b" in res.errors["a.json"].message
    assert "last good definition cannot stand in" in res.errors["a.json"].message
    assert len(reads) == before + 2  # every file is admitted again under the new policy


def test_a_process_that_starts_with_an_invalid_policy_keeps_the_last_good_bundles(conf_dir, tmp_path):
    policy_path = tmp_path / "policy.json"
    _policy_file(policy_path, ["/dags"])
    put(conf_dir, "a.json", entry())
    writer, _ = make_view(conf_dir, tmp_path, policy=PolicySource(policy_path, ALLOW))
    assert set(writer.resolve().bundles) == {"a"}

    policy_path.write_text("[")
    fresh, reads = make_view(conf_dir, tmp_path, writer=False, policy=PolicySource(policy_path, ALLOW))
    assert set(fresh.resolve().bundles) == {"a"} and reads == []
