from __future__ import annotations

import pytest

from airflow_bundles_ext.core.paths import check_segment, safe_relative_path
from airflow_bundles_ext.errors import UnsafePathError


@pytest.mark.parametrize(
    "key", ["../x.py", "a/../../x", "/etc/passwd", "a//b.py", "a/./b", "", "a\\b", "a\x00b", "a/"]
)
def test_safe_relative_path_refuses_keys_that_escape_or_alias(key):
    with pytest.raises(UnsafePathError):
        safe_relative_path(key)


@pytest.mark.parametrize("key", ["dag.py", "a b/ü ñ.py", "nested/deep/x.yaml", "..hidden/x", "a/...b"])
def test_safe_relative_path_keeps_ordinary_keys(key):
    assert str(safe_relative_path(key)) == key


@pytest.mark.parametrize("name", ["team-a", "A1", "x.y_z-0", "a" * 200])
def test_check_segment_accepts_path_safe_names(name):
    assert check_segment(name, what="bundle name") == name


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "a..b", "-x", "a" * 201, "a b", "ü"])
def test_check_segment_refuses_unsafe_names(name):
    with pytest.raises(UnsafePathError, match="bundle name"):
        check_segment(name, what="bundle name")
