"""Policy patterns: globs with placeholders, captured from file names and expanded elsewhere."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.core import patterns


@pytest.mark.parametrize(
    ("pattern", "text", "values"),
    [
        ("{project}-bundle.json", "pa-bundle.json", {"project": "pa"}),
        ("{project}-bundle.json", "a-b-bundle.json", {"project": "a-b"}),
        ("team-*.json", "team-x.json", {}),
        ("{t}/{t}.json", "a/a.json", {"t": "a"}),
    ],
)
def test_capture_returns_the_placeholder_values(pattern, text, values):
    assert patterns.capture(pattern, text) == values


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("{project}-bundle.json", "-bundle.json"),  # a value is never empty
        ("{project}-bundle.json", "../x-bundle.json"),  # nor a path
        ("team-*.json", "team-x/y.json"),  # '*' stops at '/'
        ("{t}/{t}.json", "a/b.json"),  # a repeated placeholder must repeat its value
    ],
)
def test_capture_refuses_what_a_value_cannot_be(pattern, text):
    assert patterns.capture(pattern, text) is None


def test_matches_expands_placeholders_and_grants_what_lies_under_with_under():
    values = {"project": "pa", "name": "pa-bundle"}
    assert patterns.matches(
        "etls/{project}/latest/workspaces/*/dags", "etls/pa/latest/workspaces/dev/dags", values
    )
    assert not patterns.matches("etls/{project}/**", "etls/pb/x", values)
    assert patterns.matches("etls/{project}", "etls/pa/sub/dir", values, under=True)
    assert not patterns.matches("etls/{project}", "etls/pa-evil/dir", values, under=True)
    assert not patterns.matches("etls/{project}", "etls/pa/sub", values)
    assert patterns.matches("**", "", values) and patterns.matches("**", "any/thing", values)


def test_literal_regex_characters_in_a_pattern_match_only_themselves():
    assert patterns.matches("a.b+c", "a.b+c", {})
    assert not patterns.matches("a.b+c", "aXbbc", {})


def test_a_placeholder_without_a_value_is_an_error_not_a_wildcard():
    with pytest.raises(patterns.PatternError):
        patterns.matches("etls/{project}", "etls/x", {})
