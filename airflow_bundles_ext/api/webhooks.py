"""GitHub and GitLab push webhooks: authenticated by their signature, not by an Airflow login.

A request whose signature (GitHub ``X-Hub-Signature-256``) or token (GitLab ``X-Gitlab-Token``)
does not match ``[bundles_ext] github_webhook_secret`` / ``gitlab_webhook_token`` (or their
``_cmd``/``_secret`` variants) gets 401 before its body is parsed, and nothing changes. A valid
push requests a refresh of every configured git bundle that tracks the repository and ref.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from airflow_bundles_ext.api.schemas import ErrorOut, WebhookOut
from airflow_bundles_ext.errors import BundlesExtError
from airflow_bundles_ext.status import options, service
from airflow_bundles_ext.status.webhooks import (
    Push,
    github_push,
    github_signature_valid,
    gitlab_push,
    gitlab_token_valid,
)

router = APIRouter(prefix="/api/v1/webhooks")

MAX_BODY = 5 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not a JSON object"},
    401: {"model": ErrorOut, "description": "Missing or wrong signature (or the webhook is not configured)"},
    413: {"model": ErrorOut, "description": "Body too large"},
}


@router.post("/github", response_model=WebhookOut, responses=ERRORS)
async def github(request: Request) -> dict[str, Any]:
    """GitHub ``push`` events (``application/json``); ``ping`` and other events change nothing."""
    body = await _body(request)
    secret = await run_in_threadpool(options.webhook_secret, "github_webhook_secret")
    if not github_signature_valid(secret, body, request.headers.get("x-hub-signature-256")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid X-Hub-Signature-256")
    event = request.headers.get("x-github-event") or ""
    return await run_in_threadpool(_refresh, event, github_push(event, _json(body)))


@router.post("/gitlab", response_model=WebhookOut, responses=ERRORS)
async def gitlab(request: Request) -> dict[str, Any]:
    """GitLab ``Push Hook`` and ``Tag Push Hook`` events; other events change nothing."""
    body = await _body(request)
    token = await run_in_threadpool(options.webhook_secret, "gitlab_webhook_token")
    if not gitlab_token_valid(token, request.headers.get("x-gitlab-token")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid X-Gitlab-Token")
    payload = _json(body)
    return await run_in_threadpool(_refresh, str(payload.get("object_kind") or ""), gitlab_push(payload))


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "webhook body over 5 MiB")
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "webhook body is not a JSON object")
    return payload


def _refresh(event: str, push: Push | None) -> dict[str, Any]:
    from airflow.utils.session import create_session

    if push is None:
        return {"event": event, "refreshed": [], "skipped": {}}
    names = service.push_targets(push, service.configured_entries())
    refreshed, skipped = [], {}
    with create_session() as session:
        for name in names:
            try:
                service.request_refresh(session, name)
            except BundlesExtError as exc:
                skipped[name] = str(exc)
            else:
                refreshed.append(name)
    return {"event": event, "refreshed": refreshed, "skipped": skipped}
