"""Run moto's S3 API in server mode, with request counting and fault injection.

Started as a subprocess by :class:`tests.rig.moto.MotoServer`; it serves real HTTP on
127.0.0.1 so boto3 (ours, upstream's, the sidecar's) talks to it exactly as to S3.

Control endpoints (not S3):

- ``GET  /_rig/counts``  -> ``{"requests": {"GET:GetObject": 3, ...}, "bytes_out": n, "bytes_in": n}``
- ``POST /_rig/counts/reset``
- ``POST /_rig/faults``  body: a JSON list of rules, appended
- ``DELETE /_rig/faults``

A fault rule: ``{"op": "GetObject", "key": "<regex on the object key>", "times": 1,
"action": "status"|"reset"|"truncate"|"delay"|"inflate"|"ignore-conditions"|"hold",
"status": 503, "code": "SlowDown", "seconds": 1.0, "name": "a-hold"}``. ``op`` and ``key`` are
optional filters; ``times`` (default 1, -1 for always) counts matching requests. A ``hold`` keeps
the request waiting until ``POST /_rig/release/<name>``; ``GET /_rig/held/<name>`` says how many
requests reached it.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_bytes = {"out": 0, "in": 0}
_faults: list[dict] = []
_holds: dict[str, threading.Event] = {}  # "hold" faults wait here until the test releases them
_held: Counter[str] = Counter()  # requests that reached a hold, by name


def classify(method: str, path: str, query: str) -> tuple[str, str]:
    """Return (operation, key) for an S3 path-style request."""
    qs = parse_qs(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    key = unquote(parts[1]) if len(parts) > 1 else ""
    if not key:
        if method == "GET":
            if "versions" in qs:
                return "ListObjectVersions", ""
            if "versioning" in qs:
                return "GetBucketVersioning", ""
            if qs.get("list-type") == ["2"]:
                return "ListObjectsV2", ""
            if not parts[0]:
                return "ListBuckets", ""
            return "ListObjects", ""
        if method == "HEAD":
            return "HeadBucket", ""
        if method == "PUT":
            return ("PutBucketVersioning" if "versioning" in qs else "CreateBucket"), ""
        if method == "POST" and "delete" in qs:
            return "DeleteObjects", ""
        return f"{method}Bucket", ""
    if method == "GET":
        return "GetObject", key
    if method == "HEAD":
        return "HeadObject", key
    if method == "PUT":
        return "PutObject", key
    if method == "DELETE":
        return "DeleteObject", key
    return f"{method}Object", key


def _take_fault(op: str, key: str) -> dict | None:
    with _lock:
        for rule in _faults:
            if rule.get("op") and rule["op"] != op:
                continue
            if rule.get("key") and not re.search(rule["key"], key):
                continue
            times = rule.get("times", 1)
            if times == 0:
                continue
            if times > 0:
                rule["times"] = times - 1
            return dict(rule)
    return None


def _json(start_response, body: object, status: str = "200 OK"):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _s3_error(start_response, status: int, code: str):
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>injected by test rig</Message></Error>"
    ).encode()
    start_response(
        f"{status} {code}", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _reset_socket(environ) -> None:
    """Drop the client's connection at once.

    ``close()`` alone does nothing while werkzeug still holds the socket's file objects, so
    shut the fd down first (the client sees the connection end mid-request), then close with
    SO_LINGER 0 so the kernel sends RST where it still can.
    """
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class RigMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if path.startswith("/_rig/"):
            return self._control(environ, start_response, method, path)
        op, key = classify(method, path, environ.get("QUERY_STRING", ""))
        with _lock:
            _counts[f"{method}:{op}"] += 1
            _bytes["in"] += int(environ.get("CONTENT_LENGTH") or 0)
        fault = _take_fault(op, key)
        if fault:
            action = fault.get("action", "status")
            if action == "status":
                return _s3_error(
                    start_response, int(fault.get("status", 503)), fault.get("code", "ServiceUnavailable")
                )
            if action == "reset":
                _reset_socket(environ)
                raise ConnectionAbortedError("injected reset")
            if action == "delay":
                time.sleep(float(fault.get("seconds", 1.0)))
            if action == "hold":  # until POST /_rig/release/<name> (or 120 s): a request caught midway
                name = str(fault.get("name", "hold"))
                with _lock:
                    event = _holds.setdefault(name, threading.Event())
                    _held[name] += 1
                event.wait(120)
            if action == "truncate":
                return self._truncated(environ, start_response)
            if action == "ignore-conditions":  # an S3-compatible endpoint without conditional writes
                for header in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH"):
                    environ.pop(header, None)
            if action == "inflate":
                return self._inflated(environ, start_response, int(fault.get("bytes", 64 * 1024 * 1024)))
        return self._counted(self.app(environ, start_response))

    def _counted(self, body_iter):
        for chunk in body_iter:
            with _lock:
                _bytes["out"] += len(chunk)
            yield chunk
        close = getattr(body_iter, "close", None)
        if close:
            close()

    def _truncated(self, environ, start_response):
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        start_response(captured["status"], captured["headers"])
        yield body[: max(1, len(body) // 2)]
        _reset_socket(environ)

    def _inflated(self, environ, start_response, size: int):
        """The real headers (ETag included) with a body of ``size`` bytes: listed small, served huge."""
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        for _ in self.app(environ, capture):
            pass
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(size))])
        chunk = b" " * 65536
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            with _lock:
                _bytes["out"] += len(part)
            yield part
            sent += len(part)

    def _control(self, environ, start_response, method: str, path: str):
        if path == "/_rig/counts" and method == "GET":
            with _lock:
                return _json(
                    start_response,
                    {"requests": dict(_counts), "bytes_out": _bytes["out"], "bytes_in": _bytes["in"]},
                )
        if path == "/_rig/counts/reset" and method == "POST":
            with _lock:
                _counts.clear()
                _bytes.update({"out": 0, "in": 0})
            return _json(start_response, {"ok": True})
        if path == "/_rig/faults" and method == "DELETE":
            with _lock:
                for event in _holds.values():
                    event.set()  # nothing stays held once the faults are cleared
                _holds.clear()
                _held.clear()
        if path == "/_rig/faults":
            with _lock:
                if method == "DELETE":
                    _faults.clear()
                elif method == "POST":
                    size = int(environ.get("CONTENT_LENGTH") or 0)
                    _faults.extend(json.loads(environ["wsgi.input"].read(size) or b"[]"))
                return _json(start_response, {"faults": _faults})
        if path.startswith("/_rig/held/") and method == "GET":
            with _lock:
                return _json(start_response, {"held": _held[path.rsplit("/", 1)[1]]})
        if path.startswith("/_rig/release/") and method == "POST":
            with _lock:
                _holds.setdefault(path.rsplit("/", 1)[1], threading.Event()).set()
            return _json(start_response, {"ok": True})
        return _json(start_response, {"error": "unknown rig endpoint"}, "404 Not Found")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = RigMiddleware(DomainDispatcherApplication(create_backend_app))
    sys.stderr.write(f"moto rig listening on 127.0.0.1:{args.port}\n")
    run_simple("127.0.0.1", args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
