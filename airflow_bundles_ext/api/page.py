"""The Bundles page: static HTML and a small script; every datum comes from the authorized API.

The page is shown inside the Airflow UI (plugin external view ``/plugin/bundles``) in an
iframe on the same origin, so the UI's session cookie authenticates the script's calls. The
page itself holds no data and needs no login; the API answers 401/403 as usual, and the
refresh button is shown only when ``/api/v1/permissions`` says the user may edit DAGs (the
POST is authorized again on the server).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(prefix="/ui", include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'",
}


@cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse(_read("bundles.html"), headers=HEADERS)


@router.get("/bundles.js")
def script() -> Response:
    return Response(_read("bundles.js"), media_type="text/javascript", headers=HEADERS)


@router.get("/bundles.css")
def style() -> Response:
    return Response(_read("bundles.css"), media_type="text/css", headers=HEADERS)
