"""The ``datagen serve`` web app: a standard-library HTTP server over one catalog.

Safety: bound to 127.0.0.1 by default (then the Host header must name it, which stops DNS
rebinding); on any other address a token is required (``?token=`` once, then a cookie, or
``Authorization: Bearer``). Writes are JSON POSTs carrying the page's CSRF token in
``X-CSRF-Token``. Every page sends a Content-Security-Policy that allows only this
server's own script and style files, on top of escaping every rendered value.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from datagen.errors import DatagenError, NotFound, UsageError

if TYPE_CHECKING:
    from datagen.catalog import Catalog

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "datagen_token"
MAX_BODY = 1_000_000
KEPT_ID_LISTS = 4  # versions whose sorted ids stay in memory (100k ids: a few MB)
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass
class Request:
    method: str
    segments: list[str]
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    db: Any = None  # a queries.Reader for this request's reads, set by App.handle

    def param(self, name: str, default: str = "") -> str:
        return self.params.get(name, [default])[0]

    def int_param(self, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
        text = self.param(name, str(default))
        try:
            value = int(text)
        except ValueError:
            raise UsageError(f"invalid {name}={text!r}: give a whole number") from None
        if not low <= value <= high:
            raise UsageError(f"invalid {name}={value}: allowed {low} to {high}")
        return value

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise UsageError("the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise UsageError("the request body must be a JSON object")
        return data


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode())

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        return cls(status, body, "application/json")

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(303, b"", "text/plain", {"Location": location})


class App:
    """Routes requests to pages; holds the catalog and the per-start secrets."""

    def __init__(self, catalog: Catalog, *, host: str = "127.0.0.1", port: int = 8765,
                 token: str | None = None, reviewer: str = ""):
        self.catalog = catalog
        self.host = host
        self.port = port
        self.token = token if token or host in LOOPBACK else secrets.token_urlsafe(24)
        self.csrf = secrets.token_urlsafe(32)
        self.reviewer = reviewer
        self.sql_lock = threading.Lock()  # the catalog's read-only SQL connection is shared
        self._columns: dict[str, Any] = {}  # table -> columns (tables never change)
        self._ids: dict[str, list[str]] = {}  # version table -> sorted ids, a few kept
        self._cache: dict[Any, Any] = {}
        self._cache_snapshot: int | None = None
        self._cache_lock = threading.Lock()

    def sorted_ids(self, request: Request, table: str) -> list[str]:
        """A version's ids in order, read once (version tables never change)."""
        from datagen_plugins.serve.queries import sorted_ids

        with self._cache_lock:
            found = self._ids.get(table)
        if found is None:
            found = sorted_ids(request.db, table)
            with self._cache_lock:
                while len(self._ids) >= KEPT_ID_LISTS:
                    self._ids.pop(next(iter(self._ids)))
                self._ids[table] = found
        return found

    def reviews(self, request: Request, info: Any) -> dict[str, Any]:
        """The current reviews of a version, read once per catalog snapshot."""
        from datagen_plugins.serve.reviews import current_reviews

        return self.cached(request, ("reviews", info.ref),
                           lambda: current_reviews(request.db, info))

    def cached(self, request: Request, key: tuple, compute: Any) -> Any:
        """``compute()`` once per catalog snapshot: metadata that only a write changes."""
        snapshot = request.db.snapshot()
        with self._cache_lock:
            if snapshot != self._cache_snapshot:
                self._cache = {}
                self._cache_snapshot = snapshot
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._cache_lock:
            if snapshot == self._cache_snapshot:
                self._cache[key] = value
        return value

    # -- entry -----------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        refusal = self._check_access(request)
        if refusal is not None:
            return refusal
        from datagen_plugins.serve.queries import Reader

        request.db = Reader(self.catalog, self._columns)
        try:
            return self._route(request)
        except NotFound as exc:
            return self._error(request, 404, str(exc))
        except DatagenError as exc:
            return self._error(request, 400, str(exc))
        except Exception:  # a bug: log it, answer 500, keep serving
            import traceback

            traceback.print_exc()
            return self._error(request, 500, "internal error (details in the server log)")
        finally:
            request.db.finish()

    def _route(self, request: Request) -> Response:
        from datagen_plugins.serve.routes import route

        return route(self, request)

    def _error(self, request: Request, status: int, message: str) -> Response:
        if request.segments[:1] == ["api"] or request.method != "GET":
            return Response.json({"error": message}, status)
        from datagen_plugins.serve.html import layout, tag

        return Response.html(layout("Error", tag("p", message, class_="error"),
                                    csrf=self.csrf), status)

    # -- access ------------------------------------------------------------------------
    def _check_access(self, request: Request) -> Response | None:
        if self.host in LOOPBACK and not self._host_allowed(request.headers.get("host", "")):
            return Response(400, b"unexpected Host header", "text/plain")
        if self.token and not self._token_ok(request):
            return Response(401, b"a token is required: open the URL printed by datagen serve",
                            "text/plain")
        if request.method == "POST":
            sent = request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(sent.encode(), self.csrf.encode()):
                return Response.json({"error": "missing or wrong CSRF token"}, 403)
            if not request.headers.get("content-type", "").startswith("application/json"):
                return Response.json({"error": "send JSON (Content-Type: application/json)"}, 415)
        return None

    def _host_allowed(self, host: str) -> bool:
        names = {f"{name}:{self.port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        return host in names

    def _token_ok(self, request: Request) -> bool:
        sent = request.param("token") or _cookie(request.headers.get("cookie", ""), TOKEN_COOKIE)
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            sent = auth[len("Bearer "):]
        return bool(sent) and hmac.compare_digest(sent.encode(), str(self.token).encode())


def static_file(name: str) -> Response:
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
        raise NotFound("static file", name)
    try:
        data = resources.files("datagen_plugins.serve").joinpath("static", name).read_bytes()
    except FileNotFoundError:
        raise NotFound("static file", name) from None
    return Response(200, data, STATIC_TYPES[suffix])


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class Handler(BaseHTTPRequestHandler):
    app: App
    server_version = "datagen"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
        body = self.rfile.read(length) if length else b""
        request = Request(method, segments, parse_qs(parts.query), headers, body)
        response = self.app.handle(request)
        if request.param("token") and response.status == 200 and self.app.token:
            response.headers["Set-Cookie"] = (f"{TOKEN_COOKIE}={self.app.token}; HttpOnly; "
                                              "SameSite=Strict; Path=/")
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = {**SECURITY_HEADERS, "Content-Type": response.content_type,
                   "Content-Length": str(len(response.body)), **response.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if getattr(self.app, "verbose", False):
            super().log_message(format, *args)


def make_server(app: App) -> ThreadingHTTPServer:
    """A threaded server bound to ``app.host:app.port`` (port 0 picks a free one)."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((app.host, app.port), handler)
    server.daemon_threads = True
    app.port = server.server_address[1]
    return server
