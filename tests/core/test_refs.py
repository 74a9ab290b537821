"""Tracked-ref parsing, ls-remote parsing, tag version order, sparse patterns and URL redaction."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.core import git_urls, refs
from airflow_bundles_ext.errors import BundleConfigError, GitSourceError

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


@pytest.mark.parametrize(
    ("spec", "kind", "value"),
    [
        ("main", "name", "main"),
        ("release/2.x", "name", "release/2.x"),
        ("refs/heads/main", "branch", "refs/heads/main"),
        ("refs/tags/v1.0", "tag", "refs/tags/v1.0"),
        (SHA_A.upper(), "sha", SHA_A),
        ("d" * 64, "sha", "d" * 64),
        ("v*", "tag_pattern", "v*"),
        ("refs/tags/release-[0-9]*", "tag_pattern", "release-[0-9]*"),
    ],
)
def test_parse_tracking_ref_kinds(spec, kind, value):
    ref = refs.parse_tracking_ref(spec)
    assert (ref.kind, ref.value) == (kind, value)


@pytest.mark.parametrize(
    "spec", ["", "  ", "-upload-pack=evil", "a..b", "a b", "main.lock", "x/", "a~1", "a:b"]
)
def test_parse_tracking_ref_refuses_what_git_would(spec):
    with pytest.raises(BundleConfigError, match="tracking_ref"):
        refs.parse_tracking_ref(spec)


def test_parse_ls_remote_peels_annotated_tags_in_any_order():
    out = f"{SHA_C}\trefs/tags/v1^{{}}\n{SHA_A}\trefs/heads/main\n{SHA_B}\trefs/tags/v1\ngarbage line\n"
    assert refs.parse_ls_remote(out) == {"refs/heads/main": SHA_A, "refs/tags/v1": SHA_C}


def test_resolve_name_prefers_branch_over_tag():
    listing = {"refs/heads/x": SHA_A, "refs/tags/x": SHA_B}
    assert refs.resolve(refs.parse_tracking_ref("x"), listing) == refs.Resolved(SHA_A, "refs/heads/x")
    assert refs.resolve(refs.parse_tracking_ref("x"), {"refs/tags/x": SHA_B}).sha == SHA_B


def test_resolve_missing_ref_raises_git_source_error():
    with pytest.raises(refs.RefNotFoundError) as err:
        refs.resolve(refs.parse_tracking_ref("gone"), {"refs/heads/main": SHA_A})
    assert isinstance(err.value, GitSourceError)
    assert "refs/heads/gone" in str(err.value)


def test_tag_pattern_picks_newest_by_version_not_lexically():
    listing = {
        "refs/tags/v1.9.0": SHA_A,
        "refs/tags/v1.10.0": SHA_B,
        "refs/tags/v1.10.0-rc1": SHA_C,
        "refs/tags/other-9.9": SHA_C,
        "refs/heads/v9": SHA_C,
    }
    resolved = refs.resolve(refs.parse_tracking_ref("v1.*"), listing)
    assert resolved == refs.Resolved(SHA_B, "refs/tags/v1.10.0")
    with pytest.raises(refs.RefNotFoundError):
        refs.resolve(refs.parse_tracking_ref("v3*"), listing)


def test_version_key_orders_releases_and_prereleases():
    tags = ["v2.0.0", "v1.10.0", "v2.0.0-rc2", "v1.9.3", "v2.0.0-rc10", "nightly", "v1.10"]
    assert sorted(tags, key=refs.version_key) == [
        "nightly",
        "v1.9.3",
        "v1.10",
        "v1.10.0",
        "v2.0.0-rc2",
        "v2.0.0-rc10",
        "v2.0.0",
    ]


def test_ls_remote_patterns_ask_only_for_candidates():
    assert refs.ls_remote_patterns(refs.parse_tracking_ref("main")) == ["refs/heads/main", "refs/tags/main"]
    assert refs.ls_remote_patterns(refs.parse_tracking_ref("v*")) == ["refs/tags/*"]
    assert refs.ls_remote_patterns(refs.parse_tracking_ref(SHA_A)) == []


def test_sparse_patterns():
    assert refs.sparse_patterns(None, None) is None
    assert refs.sparse_patterns("dags/", ["lib", "dags"]) == ["/dags/", "/lib/"]
    assert refs.sparse_patterns(None, ["lib"]) == ["/*", "!/*/", "/lib/"]


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://user:s3cret@example.com/org/r.git?x=1", "https://***@example.com/org/r.git"),
        ("https://example.com:8443/org/r.git", "https://example.com:8443/org/r.git"),
        ("git@github.com:org/r.git", "git@github.com:org/r.git"),
        ("file:///srv/r.git", "file:///srv/r.git"),
    ],
)
def test_redact_url(url, redacted):
    assert git_urls.redact_url(url) == redacted


def test_redact_text_removes_userinfo_and_known_secrets():
    text = "fatal: unable to access 'https://bot:tok-123456@h/r.git/': tok-123456 refused"
    assert (
        git_urls.redact_text(text, ("tok-123456",))
        == "fatal: unable to access 'https://***@h/r.git/': *** refused"
    )


def test_split_userinfo():
    assert git_urls.split_userinfo("https://bot:t%40k@h/r.git") == ("https://h/r.git", "bot", "t@k")
    assert git_urls.split_userinfo("https://h/r.git") == ("https://h/r.git", None, None)
    assert git_urls.split_userinfo("git@h:r.git") == ("git@h:r.git", None, None)


@pytest.mark.parametrize(
    ("url", "subdir", "template"),
    [
        ("https://github.com/org/r.git", None, "https://github.com/org/r/tree/{version}"),
        ("git@github.com:org/r.git", "dags", "https://github.com/org/r/tree/{version}/dags"),
        ("https://bot:tok@gitlab.com/g/r", None, "https://gitlab.com/g/r/-/tree/{version}"),
        ("https://bitbucket.org/t/r.git", "d/x", "https://bitbucket.org/t/r/src/{version}/d/x"),
        ("https://git.example.com/r.git", None, None),
        ("file:///srv/r.git", None, None),
        (None, None, None),
    ],
)
def test_view_url_template(url, subdir, template):
    assert git_urls.view_url_template(url, subdir) == template


def test_gitmodules_and_submodule_urls():
    listing = "submodule.common.path=dags/common\nsubmodule.common.url=../common.git\ncore.x=1\n"
    mods = refs.parse_gitmodules(listing)
    assert mods == {"dags/common": refs.Submodule("common", "dags/common", "../common.git")}
    assert git_urls.submodule_url("https://h/org/app.git", "../common.git") == "https://h/org/common.git"
    assert git_urls.submodule_url("file:///srv/app.git", "/srv/lib.git") == "/srv/lib.git"
    for bad in ("ext::sh -c evil", "/srv/lib.git", "file:///etc"):
        with pytest.raises(GitSourceError, match="submodule url refused"):
            git_urls.submodule_url("https://h/org/app.git", bad)
