"""Making a client, reading a body, and turning foreign errors into :class:`S3RequestError`."""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext.errors import S3RequestError


def make_client(
    *, endpoint_url: str | None, max_attempts: int, agent: str, connect: float = 5, read: float = 30
) -> Any:
    """A boto3 S3 client with bounded timeouts and retries (the console scripts; no Airflow).

    Credentials, region and (unless ``endpoint_url`` is given) ``AWS_ENDPOINT_URL`` come from
    boto3's standard chain, so IRSA, instance profiles and ``AWS_*`` variables work.
    """
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=connect,
            read_timeout=read,
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            user_agent_extra=agent,
        ),
    )


def translate(action: str, bucket: str, key: str, exc: BaseException) -> S3RequestError:
    """A foreign exception as an :class:`S3RequestError` (the one place this happens)."""
    url = f"s3://{bucket}/{key}"
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        err = response["Error"]
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(err.get("Code") or status)
        code = {
            "404": "NoSuchKey",
            "NotFound": "NoSuchKey",
            "403": "AccessDenied",
            "Forbidden": "AccessDenied",
            "412": "PreconditionFailed",
            "304": "NotModified",
        }.get(code, code)
        return S3RequestError(
            action, url, code, f"HTTP {status} {err.get('Message', '')}".strip(), status=status
        )
    return S3RequestError(action, url, type(exc).__name__, str(exc) or repr(exc))


def foreign_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError

    return (BotoCoreError, ClientError, HTTPError, ConnectionError, TimeoutError)


def read_chunk(body: Any, retries: int, amount: int) -> bytes:
    try:
        return bytes(body.read(amount))
    except foreign_errors() as exc:
        raise StreamBroken(exc, retries) from exc


class StreamBroken(Exception):
    """A body broke while streaming: re-request it (``retries``: what botocore already spent)."""

    def __init__(self, cause: BaseException, retries: int) -> None:
        super().__init__(str(cause))
        self.cause, self.retries = cause, retries
