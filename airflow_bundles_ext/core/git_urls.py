"""Git remote URLs: redaction for messages and logs, upstream's view URL, submodule URLs,
credentials embedded in a URL, and what a URL says about where it goes (:func:`parse_remote`).
Pure functions, no git, no Airflow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from airflow_bundles_ext.errors import GitSourceError


def redact_url(url: str) -> str:
    """The URL without user info, query or fragment: ``https://host/org/repo.git``.

    scp-like SSH addresses (``git@host:org/repo``) carry no secret and are returned as is.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable url>"
    netloc = f"{host}{port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_URL_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_URL_QUERY = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#]*)[?#][^\s'\"]*")


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove URL user info, URL query strings and every known secret value from free text."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    text = _URL_QUERY.sub(r"\1", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def view_url_template(repo_url: str | None, subdir: str | None) -> str | None:
    """Upstream's GitHub / GitLab / Bitbucket browse URL with ``{version}``, else ``None``."""
    if not repo_url:
        return None
    url = repo_url
    if url.startswith("git@"):
        scp_host, _, scp_path = url[4:].partition(":")
        url = f"https://{scp_host}/{scp_path}"
    url = url.removesuffix(".git")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if not host or parts.scheme not in ("https", "http", "ssh"):
        return None
    base = urlunsplit(("https", host, parts.path.rstrip("/"), "", ""))
    suffixes = {
        "github.com": "/tree/{version}",
        "gitlab.com": "/-/tree/{version}",
        "bitbucket.org": "/src/{version}",
    }
    for known, suffix in suffixes.items():
        if host == known or host.endswith(f".{known}"):
            template = base + suffix
            return f"{template}/{subdir.strip('/')}" if subdir else template
    return None


def submodule_url(parent_url: str, url: str) -> str:
    """Resolve a submodule URL (``../lib.git`` is relative to the parent remote) and refuse unsafe ones.

    Local paths and ``file://`` are allowed only when the parent itself is local; transports
    other than https, http, ssh and scp-like ``user@host:path`` are refused (git's
    ``ext::`` would run a command).
    """
    if url.startswith(("./", "../")):
        base = parent_url.rstrip("/")
        for part in url.split("/"):
            if part == "..":
                base = base.rsplit("/", 1)[0] if "/" in base.partition("://")[2] else base
            elif part and part != ".":
                base = f"{base}/{part}"
        url = base
    local_parent = parent_url.startswith(("file://", "/"))
    if url.startswith(("https://", "http://", "ssh://", "git+ssh://")) or re.match(r"^[^/@:]+@[^/:]+:", url):
        return url
    if local_parent and url.startswith(("file://", "/")):
        return url
    raise GitSourceError(
        f"submodule url refused: {redact_url(url)}: only https, http and ssh submodules are fetched "
        "(local paths only for a local parent repository); fix .gitmodules"
    )


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``(url without secrets, user, password)``; URLs without user info are returned unchanged.

    A token embedded as ``https://user:token@host/...`` must never reach the store's config. For
    http(s) the whole user info is taken out (it is the credential); for ``ssh://`` only the
    password is (ssh never uses it, and the user name is part of the address).
    """
    if not url.startswith(("http://", "https://", "ssh://", "git+ssh://", "ssh+git://")):
        return url, None, None
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return url, None, None
    user, _, password = userinfo.partition(":")
    if scheme.startswith(("ssh", "git+ssh")):
        kept = f"{user}@{host}" if user else host
        return f"{scheme}://{kept}{slash}{path}", unquote(user) or None, unquote(password) or None
    return f"{scheme}://{host}{slash}{path}", unquote(user) or None, unquote(password) or None


_SCP_LIKE = re.compile(r"^(?:(?P<user>[^/@:]+)@)?(?P<host>[^/@:\[\]]+|\[[^\]]+\]):(?!//)")
_TRANSPORT = re.compile(r"^(?P<transport>[A-Za-z][A-Za-z0-9+.-]*)::")


@dataclass(frozen=True)
class Remote:
    """Where a git URL goes. ``scheme`` is ``file`` for local paths, the transport for ``x::``."""

    scheme: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    has_password: bool = False
    has_query: bool = False

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}" if self.port else (self.host or "")


def parse_remote(url: str) -> Remote:
    """Classify a git remote: scheme, host and port, and whether it carries a secret."""
    transport = _TRANSPORT.match(url)
    if transport:
        return Remote(scheme=transport.group("transport").lower())
    if "://" in url:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return Remote(scheme="invalid")
        return Remote(
            scheme=parts.scheme.lower(),
            host=(parts.hostname or "").lower() or None,
            port=port,
            user=parts.username,
            has_password=parts.password is not None,
            has_query=bool(parts.query or parts.fragment),
        )
    scp = _SCP_LIKE.match(url)
    if scp:
        return Remote(scheme="ssh", host=scp.group("host").strip("[]").lower(), user=scp.group("user"))
    return Remote(scheme="file")


def connection_host(value: str) -> Remote:
    """What the host field of a git connection names: a URL, ``git@host:path`` or a bare host."""
    remote = parse_remote(value)
    if remote.scheme != "file":
        return remote
    host, _, port = value.strip().partition("/")[0].partition(":")
    return Remote(scheme="", host=host.lower() or None, port=int(port) if port.isdigit() else None)
