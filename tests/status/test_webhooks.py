"""Webhook signatures and push-to-bundle matching, as plain data."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from airflow_bundles_ext.status.webhooks import (
    GitBundleRef,
    Push,
    git_bundle_refs,
    github_push,
    github_signature_valid,
    gitlab_push,
    gitlab_token_valid,
    matching_bundles,
    ref_followed,
    repo_key,
)

BODY = b'{"ref": "refs/heads/main"}'


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_github_signature_must_be_the_hmac_of_the_exact_body_under_the_secret():
    assert github_signature_valid("s3cret", BODY, sign(BODY, "s3cret"))
    assert not github_signature_valid("s3cret", BODY + b" ", sign(BODY, "s3cret"))
    assert not github_signature_valid("s3cret", BODY, sign(BODY, "other"))
    assert not github_signature_valid("s3cret", BODY, None)
    assert not github_signature_valid("s3cret", BODY, sign(BODY, "s3cret").replace("sha256=", "sha1="))
    assert not github_signature_valid("", BODY, sign(BODY, ""))  # unconfigured: always refused


def test_gitlab_token_must_match_and_be_configured():
    assert gitlab_token_valid("tok", "tok")
    assert not gitlab_token_valid("tok", "tok ") and not gitlab_token_valid("tok", None)
    assert not gitlab_token_valid("", "")


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/Acme/dags.git",
        "https://x-access-token:ghs_abc@GitHub.com/Acme/dags",
        "git@github.com:Acme/dags.git",
        "ssh://git@github.com:22/Acme/dags.git",
        "git://github.com/Acme/dags",
    ],
)
def test_every_spelling_of_a_remote_gives_one_key(url):
    assert repo_key(url) == "github.com/Acme/dags"


def test_local_paths_have_no_key():
    assert repo_key("/srv/git/dags.git") == "" and repo_key("file:///srv/git/dags.git") == ""


@pytest.mark.parametrize(
    ("tracking", "pushed", "followed"),
    [
        ("main", "refs/heads/main", True),
        ("main", "refs/heads/mainline", False),
        ("refs/heads/main", "refs/heads/main", True),
        ("v1.2", "refs/tags/v1.2", True),
        ("refs/tags/v1.2", "refs/heads/v1.2", False),
        ("v*", "refs/tags/v2.0.0", True),
        ("v*", "refs/heads/v2", False),
        ("a" * 40, "refs/heads/main", False),
        ("bad..ref", "refs/heads/bad..ref", False),
    ],
)
def test_which_pushed_refs_a_tracking_ref_follows(tracking, pushed, followed):
    assert ref_followed(tracking, pushed) is followed


def test_github_and_gitlab_payloads_become_pushes_other_events_do_not():
    gh = {"ref": "refs/heads/main", "repository": {"clone_url": "https://github.com/a/b.git"}}
    assert github_push("push", gh) == Push(frozenset({"github.com/a/b"}), "refs/heads/main")
    assert github_push("ping", gh) is None
    gl = {
        "object_kind": "tag_push",
        "ref": "refs/tags/v1",
        "project": {"git_ssh_url": "git@gitlab.com:g/p.git"},
    }
    assert gitlab_push(gl) == Push(frozenset({"gitlab.com/g/p"}), "refs/tags/v1")
    assert gitlab_push({**gl, "object_kind": "merge_request"}) is None
    assert github_push("push", {"ref": "main", "repository": gh["repository"]}) is None


def test_only_git_bundles_tracking_the_repo_and_ref_match():
    entries = [
        (
            "ours",
            "airflow_bundles_ext.bundles.git.GitDagBundle",
            {"repo_url": "git@github.com:a/b", "tracking_ref": "main"},
        ),
        (
            "upstream",
            "airflow.providers.git.bundles.git.GitDagBundle",
            {"repo_url": "https://github.com/a/b", "tracking_ref": "main"},
        ),
        (
            "other-branch",
            "airflow_bundles_ext.bundles.git.GitDagBundle",
            {"repo_url": "https://github.com/a/b", "tracking_ref": "dev"},
        ),
        (
            "other-repo",
            "airflow_bundles_ext.bundles.git.GitDagBundle",
            {"repo_url": "https://github.com/a/c", "tracking_ref": "main"},
        ),
        (
            "s3",
            "airflow_bundles_ext.bundles.s3.S3DagBundle",
            {"repo_url": "https://github.com/a/b", "tracking_ref": "main"},
        ),
    ]
    refs = git_bundle_refs(entries)
    assert [r.name for r in refs] == ["ours", "upstream", "other-branch", "other-repo"]
    push = Push(frozenset({"github.com/a/b"}), "refs/heads/main")
    assert matching_bundles(refs, push) == ["ours", "upstream"]
    assert matching_bundles([GitBundleRef("no-url", None, "main")], push) == []
