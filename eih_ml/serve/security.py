"""What every request passes through: token, body size, security headers, errors, the log.

:class:`Guard` is the app's outermost layer, a pure ASGI middleware:

* **Body size**: a POST, PUT or PATCH needs a ``Content-Length`` (411 without: chunked uploads
  are refused) of at most :data:`API_BODY_LIMIT` (``/api/``), :data:`UPLOAD_BODY_LIMIT` (``/batch``) or
  :data:`FORM_BODY_LIMIT` (any other); a larger one answers 413 before the body is read.
* **Token**: with a token set, a request needs ``Authorization: Bearer <token>``, the session
  cookie (:func:`session_value`, an HMAC of the token) or, for a GET, a one-time ``?token=``
  link, which sets the cookie and redirects without it; otherwise it answers 401 (JSON for the
  API, the sign-in page for the browser). ``/static/``, ``/login`` and ``/logout`` are open.
  Comparisons are constant-time (:func:`constant_time_equal`).
* **Headers**: :data:`SECURITY_HEADERS` on every response, replacing any the app set.
* **Errors**: an unexpected exception answers a generic 500, logged as its type and code
  locations, never its message (which may quote a value).
* **Log**: one line per request on the ``eih_ml.serve`` logger: method, route template, status
  and duration.
"""

import hashlib
import hmac
import logging
import time
import traceback
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_ENV = "EIH_ML_API_TOKEN"
COOKIE_NAME = "eih_ml_session"
#: Largest JSON body of ``POST /api/predict`` (bytes).
API_BODY_LIMIT = 5_000_000
#: Largest CSV upload body (bytes): below Starlette's 1 MiB spool threshold, so an upload never
#: rolls over to a temporary file on disk.
UPLOAD_BODY_LIMIT = 1_000_000
#: Largest form body (bytes).
FORM_BODY_LIMIT = 200_000

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)
_GENERIC_500 = (
    "Internal error: the request could not be completed. Nothing was stored. Try again; if it "
    "persists, tell the administrator the time of the error (the server log names its location)."
)
_TOKEN_HELP = (
    "missing or invalid token: send 'Authorization: Bearer <token>' with the value of "
    f"{TOKEN_ENV} the server was started with"
)

logger = logging.getLogger("eih_ml.serve")


def session_value(token: str) -> str:
    """The cookie value for ``token``: an HMAC, so the browser never holds the token itself."""
    return hmac.new(token.encode(), b"eih_ml web session v1", hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Do the secrets ``a`` and ``b`` match (constant-time: :func:`hmac.compare_digest`)."""
    return hmac.compare_digest(a.encode(), b.encode())


def _wants_json(path: str) -> bool:
    return path.startswith(("/api/", "/health", "/openapi.json"))


class Guard:
    """Pure ASGI middleware: token, body size, security headers, generic 500, access log."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, page: Callable[[str, int, dict], bytes]
    ) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0, "started": False}

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                names = {k for k, _ in SECURITY_HEADERS}
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in names
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        path = scope.get("path", "")
        try:
            early = self._check(scope)
            if early is not None:
                await early(scope, receive, send_secure)
            else:
                await self.app(scope, receive, send_secure)
        except Exception as exc:  # the server never crashes; the log names no value
            frames = traceback.extract_tb(exc.__traceback__)[-6:]
            where = " <- ".join(
                f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames
            )
            logger.error(
                "unexpected %s during %s %s; answered 500 (at %s)",
                type(exc).__name__,
                scope.get("method", "?"),
                self._route(scope),
                where,
            )
            if not state["started"]:
                await self._error(path, 500, _GENERIC_500)(scope, receive, send_secure)
        finally:
            logger.info(
                "%s %s %s %.0f ms",
                scope.get("method", "?"),
                self._route(scope),
                state["status"],
                1000 * (time.perf_counter() - started),
            )

    @staticmethod
    def _route(scope: Scope) -> str:
        route = scope.get("route")
        return getattr(route, "path", None) or "(no route)"

    def _error(self, path: str, status: int, message: str, headers: dict | None = None) -> Response:
        if _wants_json(path):
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        try:
            body = self.page("error.html.j2", status, {"status": status, "message": message})
        except Exception:  # pragma: no cover - a broken template must not hide the error
            body = message.encode()
        return HTMLResponse(body, status_code=status, headers=headers)

    def _check(self, scope: Scope) -> Response | None:
        """A response to send instead of the app's (auth, size), or None."""
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope.get("method", "GET")
        if method in ("POST", "PUT", "PATCH"):
            length = headers.get("content-length")
            if length is None or not length.isdigit():
                return self._error(
                    path, 411, "expected a Content-Length header (chunked uploads are refused)"
                )
            limit = (
                API_BODY_LIMIT
                if path.startswith("/api/")
                else UPLOAD_BODY_LIMIT
                if path == "/batch"
                else FORM_BODY_LIMIT
            )
            if int(length) > limit:
                what = "CSV upload" if path == "/batch" else "request body"
                return self._error(
                    path,
                    413,
                    f"expected a {what} of at most {limit:,} bytes; found {int(length):,}. "
                    "Split the patients into smaller files or requests, or use "
                    "'eih-ml predict' for large batches.",
                )
        if self.token is None or path.startswith("/static/") or path in ("/login", "/logout"):
            return None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and constant_time_equal(auth[7:].strip(), self.token):
            return None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie
            cookie = SimpleCookie()
        if COOKIE_NAME in cookie and constant_time_equal(
            cookie[COOKIE_NAME].value, self.session or ""
        ):
            return None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if (
            method == "GET"
            and "token" in query
            and constant_time_equal(query.pop("token"), self.token)
        ):
            target = path + ("?" + urlencode(query) if query else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                COOKIE_NAME,
                self.session or "",
                httponly=True,
                samesite="strict",
                secure=scope.get("scheme") == "https",
                path="/",
            )
            return response
        if _wants_json(path):
            return JSONResponse(
                {"detail": _TOKEN_HELP},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="eih_ml"'},
            )
        body = self.page("login.html.j2", 401, {"error": "Sign in with the access token."})
        return HTMLResponse(body, status_code=401)
