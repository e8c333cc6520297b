"""The clinician web app and JSON prediction API: :func:`create_app`.

``create_app(bundle, token=None)`` builds a FastAPI application around one loaded
:class:`~eih_ml.bundle.ModelBundle`. The model, its SHAP explainer and the input schema are built
once, when the app is created; nothing happens at import time.

Routes
------
``GET /``                the form (``?example=1`` fills in a synthetic patient)
``POST /predict``        form submit: prediction, uncertainty, explanation, charts, what-if
``POST /batch``          CSV upload: the batch as a table, with a CSV download
``POST /api/predict``    JSON: one or many patients (``{"patients": [...], "explain": false}``)
``GET /api/model``       model name, version, outcome definition, training-cohort aggregates
``GET /health``          liveness
``GET /openapi.json``    the API schema (fields with units and ranges)
``GET|POST /login``, ``POST /logout``   only meaningful when a token is set

Safety
------
* **No patient data is kept**: no files, no caches, no logs of values. CSV uploads are capped
  below the size at which the form parser would spool to a temporary file, so an upload stays
  in memory and is dropped with the request.
* **Logs** hold the method, route template, status and duration of each request; an unexpected
  error is logged as its type and code locations, never its message (which may quote a value).
* **Token**: with ``token`` set, every page and API call needs it: ``Authorization: Bearer
  <token>`` for the API; for the browser, the login form or a one-time ``?token=`` link sets an
  ``HttpOnly; SameSite=Strict`` cookie holding an HMAC of the token (never the token itself).
  Comparisons are constant-time (:func:`hmac.compare_digest`).
* **Headers** on every response: a ``'self'``-only Content-Security-Policy (charts are inline
  SVG drawn here; no script or style inline, no CDN), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``, ``Cache-Control: no-store``.
* Unexpected errors answer 500 with a generic message; bad input answers 422 naming each field.

Layout
------
This module keeps the factory, :func:`create_app`, and :func:`log_config` for uvicorn; the app
is assembled from:

* :mod:`eih_ml.serve.security`: the :class:`~eih_ml.serve.security.Guard` middleware (token,
  body limits, security headers, generic 500, request log) and its settings;
* :mod:`eih_ml.serve.service`: the loaded model (predictions, explanations, model facts) and
  the batching of concurrent API requests;
* :mod:`eih_ml.serve.views`: template rendering and what the pages show of a result;
* the routes: :mod:`eih_ml.serve.api` (JSON API), :mod:`eih_ml.serve.form` (the form),
  :mod:`eih_ml.serve.batch` (CSV upload), :mod:`eih_ml.serve.login` (sign-in);
* :mod:`eih_ml.serve.schemas`: input fields, request and response models, readable errors.
"""

from collections.abc import Sequence
from importlib.resources import files
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from eih_ml import __version__
from eih_ml.serve.api import add_api_routes, problems_json
from eih_ml.serve.batch import add_batch_routes
from eih_ml.serve.form import add_form_routes
from eih_ml.serve.login import add_login_routes
from eih_ml.serve.security import (
    API_BODY_LIMIT,
    COOKIE_NAME,
    CSP,
    FORM_BODY_LIMIT,
    SECURITY_HEADERS,
    TOKEN_ENV,
    UPLOAD_BODY_LIMIT,
    Guard,
    session_value,
)
from eih_ml.serve.service import SMALL_CELL, InputProblems, Service
from eih_ml.serve.validation import translate
from eih_ml.serve.views import Pages

if TYPE_CHECKING:
    from eih_ml.bundle import ModelBundle

__all__ = [  # the settings stay importable from here, where the CLI and the tests find them
    "API_BODY_LIMIT",
    "COOKIE_NAME",
    "CSP",
    "FORM_BODY_LIMIT",
    "SECURITY_HEADERS",
    "SMALL_CELL",
    "TOKEN_ENV",
    "UPLOAD_BODY_LIMIT",
    "InputProblems",
    "create_app",
    "log_config",
    "session_value",
]


def log_config(level: str = "info") -> dict:
    """Logging config for uvicorn: no access log (it would show query strings), app log on stderr.

    The ``eih_ml.serve`` logger writes one line per request (method, route template, status,
    duration); multipart parser debug logs are silenced.
    """
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "eih_ml": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "python_multipart": {"level": "WARNING"},
            "multipart": {"level": "WARNING"},
        },
    }


def create_app(
    bundle: "ModelBundle",
    token: str | None = None,
    *,
    model_uri: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """Build the web app and API around a loaded model.

    Parameters
    ----------
    bundle : eih_ml.bundle.ModelBundle
        The model (``eih_ml.tracking.load_model(uri)``).
    token : str, optional
        When given, every page and API call needs it (see the module docstring). ``eih-ml
        serve`` passes the ``EIH_ML_API_TOKEN`` environment variable.
    model_uri : str, optional
        Where the model came from, shown by ``GET /api/model``.
    allowed_hosts : sequence of str, optional
        Accepted ``Host`` headers (protects a loopback server from DNS rebinding); ``None``
        accepts any.
    warm_up : bool
        Build the explainer and run one synthetic prediction now, so the first request is as
        fast as the others.

    Returns
    -------
    fastapi.FastAPI
    """
    if token is not None and not token.strip():
        from eih_ml.errors import ConfigError

        raise ConfigError(
            f"expected a non-empty token; found an empty {TOKEN_ENV}. Set a long random value, "
            "or unset it to serve without a token (loopback only)."
        )
    service = Service(bundle, model_uri)
    if warm_up:
        service.warm_up()
    pages = Pages(service, token_enabled=token is not None)

    app = FastAPI(
        title="eih_ml prediction API",
        version=__version__,
        description=(
            "Predict an individual's exercise-induced hypoalgesia (EIH) from quantitative "
            "sensory testing, questionnaires and optional biomarkers. Every patient field is "
            "optional; units and plausible ranges are in each field's schema (x-unit, minimum, "
            "maximum). When the server runs with EIH_ML_API_TOKEN, send "
            "'Authorization: Bearer <token>'. Nothing sent is stored or logged."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.service = service
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(Guard, token=token, page=pages.page)
    app.mount(
        "/static", StaticFiles(directory=str(files("eih_ml.serve") / "static")), name="static"
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [dict(e) for e in exc.errors()]
        return problems_json(translate(errors, service.fields, ("body",)))

    # the routes, in the order of the API schema and the route table
    add_api_routes(app, service)
    add_form_routes(app, service, pages)
    add_batch_routes(app, service, pages)
    add_login_routes(app, token, pages)
    return app
