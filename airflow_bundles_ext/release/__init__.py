"""``airflow-bundle-release``: publish a directory as an immutable release, roll back, list.

For CI/CD pipelines, instead of ``aws s3 sync``. boto3 and zstandard only: no Airflow, no
metadata DB. See :mod:`airflow_bundles_ext.core.release` for the layout it writes and
docs/s3-bundle.md ("Release mode") for the pipeline recipe.

Exit codes::

    0  done (also: the tree was already the current release)
    1  an S3 or filesystem error (nothing half-published is ever visible)
    2  bad arguments or settings
    3  conflict: the current release is not --expect-current, or another pipeline won the race
    4  the endpoint ignores conditional writes; pass --no-cas to publish without compare-and-swap
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFLICT, EXIT_NO_CAS = 0, 1, 2, 3, 4
