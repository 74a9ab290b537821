"""The S3 bundle's boto3 client, made from an Airflow AWS connection."""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext.errors import S3SourceError


def client_for(conn_id: str | None, workers: int, attempts: int, connect: float, read: float) -> Any:
    """An S3 client from the Airflow AWS connection (endpoint_url, region, IRSA, assume-role all apply).

    The connection's own botocore config (extra ``config_kwargs``) is kept; retries, pool size
    and timeouts are set on top so the download pool never waits for a connection.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    try:
        hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
        ours = Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            max_pool_connections=workers + 2,
            connect_timeout=connect,
            read_timeout=read,
        )
        return hook.get_client_type(region_name=hook.region_name, config=hook.config.merge(ours))
    except Exception as exc:
        raise S3SourceError(
            f"cannot create an S3 client from connection {conn_id!r}: {type(exc).__name__}: {exc}; "
            "check the connection's extra (region_name, endpoint_url, role_arn)"
        ) from exc
