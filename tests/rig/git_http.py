"""A smart-HTTP git server on 127.0.0.1 that requires credentials: ``git http-backend`` behind
a small threaded Python server, started and stopped by the test.

- Basic auth: every request needs ``username``/``password``, else 401 (what GitHub does for a
  private repository). ``requests`` records (method, path, user, git command) per request, and
  ``authorizations`` every ``Authorization`` header received, valid or not (what a client sent).
  With ``username=None`` the server is anonymous (a public repository): no credential is needed.
- ``protocol_v2=False`` does not forward the ``Git-Protocol`` header, so the backend speaks
  protocol v0 and, without ``uploadpack.allowAnySHA1InWant``, refuses wants by SHA of commits
  that are not ref tips, like a strict server.
- ``stall_fetch(n)``: the n-th ``fetch`` request (1-based, counted from the call) sends part of
  its response and then hangs until the stall is released or the server stops: a fetch caught
  in the middle, to kill the client deterministically. ``hang=True`` never answers at all.
- ``fail_fetch_status = 502``: every ``fetch`` request is answered with that HTTP status (after
  it is recorded), as a flaky proxy or an overloaded server would: a transport error.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


@dataclass
class Request:
    method: str
    path: str
    user: str | None
    command: str | None  # "ls-refs", "fetch" (v2) or None


class GitHttpServer:
    def __init__(
        self, project_root: Path, *, username: str | None, password: str | None, protocol_v2: bool = True
    ) -> None:
        self.project_root = project_root
        self.username = username
        self.password = password
        self.protocol_v2 = protocol_v2
        self.hang = False
        self.fail_fetch_status: int | None = None
        self.requests: list[Request] = []
        self.authorizations: list[str] = []
        self._stall_at: int | None = None
        self._fetches_seen = 0
        self._release = threading.Event()
        self.stalled = threading.Event()  # set when a stalled fetch has sent its first bytes
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def anonymous(cls, project_root: Path) -> GitHttpServer:
        """A server for public repositories: no credential needed (``username=None``)."""
        return cls(project_root, username=None, password=None)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, repo: str) -> str:
        return f"http://127.0.0.1:{self.port}/{repo}"

    def start(self) -> GitHttpServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def stall_fetch(self, n: int = 1) -> None:
        with self._lock:
            self._stall_at = self._fetches_seen + n
            self._release.clear()
            self.stalled.clear()

    def release(self) -> None:
        with self._lock:
            self._stall_at = None
        self._release.set()

    def commands(self, command: str) -> int:
        return sum(1 for r in self.requests if r.command == command)

    # --- per request -------------------------------------------------------------------------

    def _authorized_user(self, header: str | None) -> str | None:
        if header:
            self.authorizations.append(header)
        if self.username is None:
            return "anonymous"
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if (user, password) == (self.username, self.password) else None

    def _should_stall(self, command: str | None) -> bool:
        if command != "fetch":
            return False
        with self._lock:
            self._fetches_seen += 1
            return self._stall_at is not None and self._fetches_seen == self._stall_at


def _command_of(body: bytes) -> str | None:
    for marker in (b"command=fetch", b"command=ls-refs"):
        if marker in body[:200]:
            return marker.decode().split("=")[1]
    return "fetch" if body.startswith(b"00") and b"want " in body[:200] else None


def _handler(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            self._serve(self._read_body())

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self, body: bytes) -> None:
            if server.hang:
                server._release.wait()
                return
            user = server._authorized_user(self.headers.get("Authorization"))
            path, _, query = self.path.partition("?")
            plain = body
            if self.headers.get("Content-Encoding") == "gzip":
                import gzip

                plain = gzip.decompress(body)
            command = _command_of(plain) if self.command == "POST" else None
            server.requests.append(Request(self.command, path, user, command))
            if user is None:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if command == "fetch" and server.fail_fetch_status:
                self.send_response(server.fail_fetch_status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._cgi(body, path, query, server._should_stall(command))

        def _cgi(self, body: bytes, path: str, query: str, stall: bool) -> None:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.project_root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": server.username or "anonymous",
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_CONFIG_NOSYSTEM": "1",
                "HOME": str(server.project_root),
            }
            if server.protocol_v2 and self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            proc = subprocess.run([HTTP_BACKEND], input=body, env=env, capture_output=True, timeout=120)
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode("latin-1").split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if stall:
                self.wfile.write(payload[: max(1, len(payload) // 2)])
                self.wfile.flush()
                server.stalled.set()
                server._release.wait()
                return
            self.wfile.write(payload)

    return Handler
