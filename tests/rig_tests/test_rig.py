"""The rig itself: moto's counters and faults, the git remote. (The Airflow side of the rig, a
stock dag-processor on SQLite and PostgreSQL, is exercised by every e2e test.)"""

from __future__ import annotations

import pytest


def test_moto_rig_counts_requests_and_injects_faults(s3):
    from botocore.exceptions import ClientError

    client = s3.boto3_client()
    client.create_bucket(Bucket="rig-bucket")
    client.put_object(Bucket="rig-bucket", Key="a/b.py", Body=b"x" * 10)
    s3.reset_counts()
    s3.add_faults({"op": "GetObject", "action": "status", "status": 503, "code": "SlowDown"})
    with pytest.raises(ClientError) as err:
        client.get_object(Bucket="rig-bucket", Key="a/b.py")
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert client.get_object(Bucket="rig-bucket", Key="a/b.py")["Body"].read() == b"x" * 10
    counts = s3.counts()
    assert counts.op("GetObject") == 2
    assert counts.op("ListObjectsV2") == 0


def test_git_remote_commits_and_tags(git_remote):
    from tests.rig.git import git

    remote = git_remote()
    first = remote.commit({"dags/a.py": "x = 1\n"})
    remote.tag("v1.0.0")
    second = remote.commit({"dags/a.py": "x = 2\n"})
    refs = git("ls-remote", remote.url)
    assert f"{second}\trefs/heads/main" in refs
    assert f"{first}\trefs/tags/v1.0.0" in refs
