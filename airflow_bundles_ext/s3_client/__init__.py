"""The one S3 client layer, boto3 only (no Airflow): used by the S3 bundle, the sidecar and the
release tool.

- :class:`S3Objects` (:mod:`.objects`): requests against one bucket over one reused client: paged
  LIST, GET with a hard size limit, PUT (optionally conditional), streams, HEAD, DELETE.
- :func:`fetch_all` (:mod:`.download`): verified downloads to files over a bounded pool.
- :func:`run_pool` (:mod:`.pool`): a small pool of daemon threads; the first failure (or a stop
  event) stops the rest, and a stuck request never keeps the process from exiting.
- :func:`translate` (:mod:`.boto`): the one place where botocore, urllib3 and socket errors
  become :class:`~airflow_bundles_ext.errors.S3RequestError`, which names ``s3://bucket/key``,
  the S3 error code and what to do, and says whether the failure concerns that object only.
"""

from airflow_bundles_ext.core.manifest import Listed
from airflow_bundles_ext.s3_client.boto import foreign_errors, make_client, translate
from airflow_bundles_ext.s3_client.download import Fetch, Fetched, fetch, fetch_all
from airflow_bundles_ext.s3_client.objects import S3Objects
from airflow_bundles_ext.s3_client.pool import run_pool

__all__ = [
    "Fetch",
    "Fetched",
    "Listed",
    "S3Objects",
    "fetch",
    "fetch_all",
    "foreign_errors",
    "make_client",
    "run_pool",
    "translate",
]
