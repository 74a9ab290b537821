# syntax=docker/dockerfile:1
#
# airflow-bundle-sync: the config sync sidecar image. Python slim + boto3 (+ pydantic for the
# tenancy policy file), no Airflow.
# Build from the repository root:
#
#   docker build -f sidecar.Dockerfile -t airflow-bundle-sync:0.1.0 .
#
# It runs as uid 50000 / gid 0, the user of the official Airflow image, so the files it
# writes into the shared emptyDir belong to the same user as the DAG processor.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY airflow_bundles_ext ./airflow_bundles_ext
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
COPY constraints/py311.txt /tmp/constraints.txt
# Only the [sidecar] extra (boto3, pydantic and their dependencies), pinned by the constraints.
RUN pip install --constraint /tmp/constraints.txt "$(ls /wheels/airflow_bundles_ext-*.whl)[sidecar]" \
    && rm -rf /wheels /tmp/constraints.txt \
    && useradd --uid 50000 --gid 0 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sync
USER 50000:0
# Liveness without a shell: `airflow-bundle-sync probe --max-age 90`.
ENTRYPOINT ["airflow-bundle-sync"]
