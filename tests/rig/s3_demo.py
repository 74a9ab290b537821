"""Demo hook for the S3 bundle: seed a bucket on a moto endpoint, return the bundle config entry."""

from __future__ import annotations

from typing import Any

from tests.rig.airflow_env import dag_source


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name="us-east-1",
    )


def make_demo_s3_bundle(endpoint: str, bucket: str, *, name: str = "s3-demo", prefix: str = "dags") -> dict:
    """Create a versioned ``bucket``, upload two DAG files under ``prefix``, return the config entry.

    The processor needs ``MotoServer.client_env()`` (AIRFLOW_CONN_AWS_DEFAULT with endpoint_url).
    """
    client = _client(endpoint)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(
        Bucket=bucket, Key=f"{prefix}/s3_demo_hello.py", Body=dag_source("s3_demo_hello").encode()
    )
    client.put_object(
        Bucket=bucket, Key=f"{prefix}/team b/s3_demo_nested.py", Body=dag_source("s3_demo_nested").encode()
    )
    return {
        "name": name,
        "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle",
        "kwargs": {"bucket_name": bucket, "prefix": prefix, "refresh_interval": 2},
    }


def push_demo_s3_change(endpoint: str, bucket: str, *, prefix: str = "dags", tasks: int = 3) -> None:
    """Change one DAG (new structure): the next refresh GETs that one object and publishes a new version."""
    _client(endpoint).put_object(
        Bucket=bucket,
        Key=f"{prefix}/s3_demo_hello.py",
        Body=dag_source("s3_demo_hello", tasks=tasks).encode(),
    )
