"""Signing in and out: ``GET|POST /login`` and ``POST /logout``.

Only meaningful when the server runs with a token (without one, ``/login`` redirects to the
form). The sign-in form takes the token and sets the session cookie: an HMAC of the token
(:func:`eih_ml.serve.security.session_value`), ``HttpOnly; SameSite=Strict``, ``Secure`` over
HTTPS. Signing out deletes it.
"""

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eih_ml.serve.security import COOKIE_NAME, constant_time_equal, session_value
from eih_ml.serve.views import Pages


def add_login_routes(app: FastAPI, token: str | None, pages: Pages) -> None:
    """Add the sign-in and sign-out routes to ``app`` (``token``: the server's, or None)."""
    html = pages.html

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page() -> Response:
        if token is None:
            return RedirectResponse("/", status_code=303)
        return html("login.html.j2", 200)

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> Response:
        if token is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form(max_files=0, max_fields=5)
        given = form.get("token")
        if not isinstance(given, str) or not constant_time_equal(given.strip(), token):
            return html("login.html.j2", 401, error="That token is not valid.")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            session_value(token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login" if token else "/", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response
