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
"""

import base64
import csv
import hashlib
import hmac
import io
import json
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from http.cookies import SimpleCookie
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from eih_ml import __version__
from eih_ml.data.inputs import is_missing_text
from eih_ml.errors import DataError, ModelError
from eih_ml.features.columns import is_missing
from eih_ml.serve import schemas

TOKEN_ENV = "EIH_ML_API_TOKEN"
COOKIE_NAME = "eih_ml_session"
#: Largest JSON body of ``POST /api/predict`` (bytes).
API_BODY_LIMIT = 5_000_000
#: Largest CSV upload body (bytes): below Starlette's 1 MiB spool threshold, so an upload never
#: rolls over to a temporary file on disk.
UPLOAD_BODY_LIMIT = 1_000_000
#: Largest form body (bytes).
FORM_BODY_LIMIT = 200_000
#: Training-cohort counts below this are shown as "<5" by ``GET /api/model``.
SMALL_CELL = 5

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


def session_value(token: str) -> str:
    """The cookie value for ``token``: an HMAC, so the browser never holds the token itself."""
    return hmac.new(token.encode(), b"eih_ml web session v1", hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _wants_json(path: str) -> bool:
    return path.startswith(("/api/", "/health", "/openapi.json"))


class InputProblems(Exception):
    """Input the model cannot use; ``errors`` name each field."""

    def __init__(self, errors: list[schemas.FieldError]):
        self.errors = errors
        super().__init__(f"{len(errors)} input problem(s)")


# ----------------------------------------------------------------------------------- middleware
class _Guard:
    """Pure ASGI middleware: token, body size, security headers, generic 500, access log."""

    def __init__(self, app, *, token: str | None, page: Callable[[str, int, dict], bytes]):
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None
        self.page = page

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0, "started": False}

        async def send_secure(message) -> None:
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
    def _route(scope) -> str:
        route = scope.get("route")
        return getattr(route, "path", None) or "(no route)"

    def _error(self, path: str, status: int, message: str, headers: dict | None = None):
        if _wants_json(path):
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        try:
            body = self.page("error.html.j2", status, {"status": status, "message": message})
        except Exception:  # pragma: no cover - a broken template must not hide the error
            body = message.encode()
        return HTMLResponse(body, status_code=status, headers=headers)

    def _check(self, scope):
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
        if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), self.token):
            return None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie
            cookie = SimpleCookie()
        if COOKIE_NAME in cookie and _same(cookie[COOKIE_NAME].value, self.session or ""):
            return None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if method == "GET" and "token" in query and _same(query.pop("token"), self.token):
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


# ------------------------------------------------------------------------------------- service
class _Service:
    """The loaded model and everything computed from it once; predictions under one lock."""

    def __init__(self, bundle, model_uri: str | None):
        self.bundle = bundle
        self.task = bundle.task
        self.meta = bundle.meta
        self.model_uri = model_uri
        self.field_list = schemas.describe_inputs(bundle)
        self.fields = {f.name: f for f in self.field_list}
        self.sections = schemas.build_sections(self.field_list)
        self.Patient = schemas.patient_model(self.field_list)
        self.PredictRequest = schemas.request_model(self.Patient)
        meta = {k: v for k, v in self.meta.items() if k != "reference"}
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode())
        self.version = digest.hexdigest()[:12]
        self.name = str(self.meta.get("model", "model"))
        # One prediction at a time: pyplot (in the explanation) is not thread-safe, and the
        # work is CPU-bound under the GIL anyway.
        self.lock = threading.Lock()
        self.batcher = _Batcher(self)
        self._example: dict[str, str] | None = None

    # ---------------------------------------------------------------------------- warm-up
    def warm_up(self) -> None:
        """Build the explainer and run one synthetic prediction (lazy imports, caches)."""
        _ = self.bundle.attributor
        example = self.example_patient()
        if example:
            self.predict([example])

    def example_values(self) -> dict[str, str]:
        """A synthetic patient from the simulator as form text (never a real participant)."""
        if self._example is None:
            from eih_ml.pyfunc import synthetic_example

            row = synthetic_example(self.bundle.features).iloc[0].to_dict()
            values = {}
            for name, v in row.items():
                if name not in self.fields or v is None or (isinstance(v, float) and np.isnan(v)):
                    continue
                values[name] = f"{v:g}" if isinstance(v, float | np.floating) else str(v)
            self._example = values
        return dict(self._example)

    def example_patient(self) -> dict | None:
        """:meth:`example_values` validated as a patient."""
        patient, problems = schemas.validate_text_row(
            self.example_values(), self.fields, self.Patient
        )
        return None if problems else patient

    # ------------------------------------------------------------------------- prediction
    @staticmethod
    def _with_ids(patients: list[dict]) -> list[dict]:
        out = []
        for i, p in enumerate(patients):
            p = dict(p)
            p.setdefault("participant_id", f"patient-{i + 1}")
            p.setdefault("session_id", f"row-{i + 1}")
            out.append(p)
        return out

    @staticmethod
    def _records(rows: list[dict]) -> list[dict]:
        """The rows without the fields none of them gives (as :meth:`_frame` drops them)."""
        given = {k for r in rows for k, v in r.items() if not is_missing(v)}
        return [{k: v for k, v in r.items() if k in given} for r in rows]

    def _frame(self, rows: list[dict], index: list[int]) -> pd.DataFrame:
        """:meth:`_records` as a table, rows numbered as in the request."""
        return pd.DataFrame(self._records(rows), index=pd.Index([i + 1 for i in index], name="row"))

    def _groups(self, patients: list[dict]) -> dict[tuple, list[int]]:
        """Patients grouped by which questionnaires they give as items.

        The scorer ignores a total whenever the item columns exist, so a batch mixing items and
        totals for a scale is predicted in groups (each row's prediction depends on that row
        only, so this equals predicting each patient alone).
        """
        groups: dict[tuple, list[int]] = {}
        prefixes = [*schemas.contract.QUESTIONNAIRES]
        for i, p in enumerate(patients):
            key = tuple(
                pre
                for pre in prefixes
                if any(k.rsplit("_", 1)[0] == pre for k in p if k[-1:].isdigit())
            )
            groups.setdefault(key, []).append(i)
        return groups

    def _violations(self, exc, index: list[int], prefix: tuple) -> InputProblems:
        v = exc.report.violations
        v = v[v["severity"] == "error"]
        errors = []
        for r in v.itertuples(index=False):
            try:
                patient = int(r.row) - 1
            except (TypeError, ValueError):
                patient = None
            if patient is not None and patient not in index:
                patient = None
            loc = (*prefix, "patients", patient, r.column) if patient is not None else prefix
            errors.append(
                schemas.FieldError(loc, str(r.column), str(r.message), str(r.rule), patient)
            )
        return InputProblems(errors or [schemas.FieldError(prefix, "body", str(exc), "data")])

    def predict(
        self, patients: list[dict], prefix: tuple = ("body",), level: float | None = None
    ) -> list[dict]:
        """Validated patients -> one record per patient (``ModelBundle.predict`` columns).

        Requests that arrive while the model is busy are predicted together in one call (see
        :class:`_Batcher`); the answer is the same as predicting each request alone. A request
        at another confidence ``level`` than the model's is predicted on its own.
        """
        if level is not None and not self.is_default_level(level):
            return self.predict_now(patients, prefix, level)
        return self.batcher.submit(patients, prefix)

    def is_default_level(self, level: float) -> bool:
        """Is ``level`` the model's own confidence level."""
        return abs(float(level) - float(self.bundle.meta["confidence_level"])) < 1e-9

    def at_level(self, level: float | None, prefix: tuple = ("body",)):
        """The bundle at ``level`` (None: the model's own); a level not calibrated is a 422."""
        if level is None:
            return self.bundle
        try:
            return self.bundle.at_level(level)
        except ModelError as exc:
            raise InputProblems(
                [
                    schemas.FieldError(
                        (*prefix, "confidence_level"), "confidence_level", str(exc), "value_error"
                    )
                ]
            ) from None

    def predict_now(
        self, patients: list[dict], prefix: tuple = ("body",), level: float | None = None
    ) -> list[dict]:
        """:meth:`predict` without batching."""
        from eih_ml.data.validate import CohortValidationError

        bundle = self.at_level(level, prefix)
        patients = self._with_ids(patients)
        results: list[dict | None] = [None] * len(patients)
        for index in self._groups(patients).values():
            rows = self._records([patients[i] for i in index])
            try:
                with self.lock:
                    out = bundle.predict_records(rows, rows=[i + 1 for i in index])
            except CohortValidationError as exc:
                raise self._violations(exc, index, prefix) from None
            except DataError as exc:
                raise InputProblems(
                    [schemas.FieldError(prefix, "body", str(exc), "data")]
                ) from None
            if len(out) != len(index):  # pragma: no cover - the bundle keeps every row
                raise RuntimeError("the model returned a different number of rows")
            for i, row in zip(index, out, strict=True):
                results[i] = self.record(row)
        return [r for r in results if r is not None]

    def record(self, row: dict) -> dict:
        """One ``ModelBundle.predict`` row as JSON-ready values (top factors parsed)."""
        keys = {
            "classification": (
                "predicted_class",
                "probability",
                "prediction_set",
                "probability_low",
                "probability_high",
            ),
            "multiclass": (
                "predicted_class",
                "p_hyperalgesic",
                "p_non_responder",
                "p_hypoalgesic",
                "hyperalgesia_risk",
                "prediction_set",
            ),
        }.get(self.task, ("eih_kpa", "interval_low", "interval_high"))
        out: dict[str, Any] = {
            "participant_id": str(row["participant_id"]),
            "session_id": str(row["session_id"]),
            "pain_modulation_profile": str(row.get("pain_modulation_profile") or "not_assessable"),
        }
        for k in (*keys, "eih_low", "eih_high"):
            if k in row:
                out[k] = _plain(row[k])
        out["confidence_level"] = _plain(row["confidence_level"])
        factors = row["top_factors"]
        out["top_factors"] = json.loads(factors) if isinstance(factors, str) else factors
        out["ood"] = bool(row["ood"])
        out["ood_reasons"] = str(row.get("ood_reasons") or "")
        out["abstained"] = bool(row.get("abstained"))
        out["abstain_reason"] = row.get("abstain_reason") or None
        out["not_measured"] = str(row.get("not_measured") or "")
        return out

    def explain(self, patient: dict, prefix: tuple = (), level: float | None = None) -> dict:
        """Prediction + explanation of one validated patient (``explain_patient``)."""
        from eih_ml.data.validate import CohortValidationError
        from eih_ml.report.patient import explain_patient

        bundle = self.at_level(level, prefix[:1] or ("body",))
        p = self._with_ids([patient])[0]
        frame = self._frame([p], [0])
        try:
            with self.lock:
                data = explain_patient(bundle, frame, p["participant_id"], p["session_id"])
        except CohortValidationError as exc:
            raise self._violations(exc, [0], prefix) from None
        except DataError as exc:
            raise InputProblems([schemas.FieldError(prefix, "patient", str(exc), "data")]) from None
        data["record"] = self.record(data["row"])
        return data

    # ------------------------------------------------------------------------------ model
    def outcome_text(self) -> str:
        """The outcome definition in words."""
        o = self.meta["outcome"]
        name = str(o.get("outcome", ""))
        site = "a remote site" if "remote" in name else "the exercising muscle"
        change = "Percentage change" if "_pct" in name else "Change (kPa)"
        base = f"{change} of the pressure pain threshold at {site} from before to after exercise"
        if self.task == "regression":
            return base + "; positive means less pain sensitivity after exercise."
        thr = self.meta.get("threshold")
        unit = "%" if "_pct" in name else " kPa"
        rule = o.get("rule")
        cut = f"more than {thr:g}{unit}" if isinstance(thr, int | float) else "the rule's cut-off"
        return f"{base}; a responder's threshold rises by {cut} (rule {rule})."

    def abstain_rule(self) -> dict:
        """The model's minimum-information rule (eih_ml.explain.abstain), for GET /api/model."""
        rule = self.bundle.abstain_rule
        return {
            "description": rule.describe(),
            "enabled": rule.enabled,
            "required": [{"label": r.label, "any_of": list(r.any_of)} for r in rule.required],
            "min_measured_share": rule.min_measured_share,
            "core_measurements": [m.label for m in rule.measurements if m.core],
            "needed": rule.n_needed,
            "dropped": list(rule.dropped),
        }

    def model_info(self) -> dict:
        """Aggregates only: no participant-level value, no percentile grid, no file path."""
        m = self.meta
        cohort = m.get("training_cohort", {})
        source = cohort.get("source", {}) or {}

        def cells(counts: dict) -> dict:
            return {
                str(k): (int(v) if int(v) >= SMALL_CELL else f"<{SMALL_CELL}")
                for k, v in counts.items()
            }

        return {
            "name": self.name,
            "version": self.version,
            "uri": self.model_uri,
            "created": m.get("created"),
            "toolkit_version": m.get("toolkit_version"),
            "task": self.task,
            "outcome": {
                "name": m["outcome"].get("outcome"),
                "definition": self.outcome_text(),
                "rule": m["outcome"].get("rule"),
                "threshold": m.get("threshold"),
                "prevalence": m["outcome"].get("prevalence"),
            },
            "confidence_level": m.get("confidence_level"),
            "levels": list(self.bundle.offered_levels),
            "uncertainty": {
                "prediction_set": (m.get("conformal") or {}).get("method"),
                "probability_range": (m.get("venn_abers") or {}).get("method"),
                "eih_interval": (m.get("eih_interval") or {}).get("method"),
            },
            "pain_modulation_profile": {
                "source": "Yarnitsky 2014 (Pain 155:663)",
                **self.bundle._profile_rule.describe(),
            },
            "abstain_rule": self.abstain_rule(),
            "inputs": [
                {
                    "name": f.name,
                    "label": f.full_label,
                    "domain": f.domain,
                    "unit": f.unit,
                    "minimum": f.low,
                    "maximum": f.high if f.high is not None and math.isfinite(f.high) else None,
                    "choices": [c for c, _ in f.choices] or None,
                }
                for f in self.field_list
            ],
            "features": [
                {
                    "name": name,
                    "label": info.get("label", name),
                    "domain": info.get("domain", ""),
                    "unit": info.get("unit", ""),
                }
                for name, info in m.get("feature_info", {}).items()
            ],
            "performance": m.get("performance", {}),
            "reliability_ceiling": m.get("reliability_ceiling", {}),
            "training_cohort": {
                "n_participants": cohort.get("n_participants"),
                "n_sessions": cohort.get("n_sessions"),
                "source": source.get("kind", "unknown"),
                "fingerprint": cohort.get("fingerprint"),
                "conditions": cells(cohort.get("conditions", {})),
                "sex": cells(cohort.get("sex", {})),
                "small_counts_shown_as": f"<{SMALL_CELL}",
            },
        }


class _Batcher:
    """Predicts the API requests waiting for the model in one ``ModelBundle.predict_records`` call.

    A prediction costs little more for a few rows than for one (its time is mostly per call: the
    model, the explainer and, for records that need it, loading, validating and deriving the
    table), so under concurrent load the requests that queue while a prediction runs are joined.
    Leader/follower: the first waiting thread that finds the model idle takes every queued request (up to :data:`schemas.MAX_PATIENTS` rows), predicts
    them with participant ids prefixed by their request (so rows of different requests never mix
    in the cohort checks), hands each request its rows back and wakes the others. Rows are
    independent, so each answer equals predicting that request alone; if a joined call fails (one
    request's data error), each request is predicted alone so each gets its own answer or error.
    Nothing outlives the call.
    """

    def __init__(self, service: _Service):
        self.service = service
        self.cv = threading.Condition()
        self.queue: list[dict] = []
        self.busy = False

    def submit(self, patients: list[dict], prefix: tuple) -> list[dict]:
        """Block until this request's rows are predicted; return them or raise its error."""
        item: dict[str, Any] = {"patients": patients, "prefix": prefix, "done": False}
        with self.cv:
            self.queue.append(item)
            while not item["done"]:
                if self.busy:
                    self.cv.wait()
                    continue
                self.busy = True
                batch, rows = [], 0
                while self.queue and (
                    not batch or rows + len(self.queue[0]["patients"]) <= schemas.MAX_PATIENTS
                ):
                    rows += len(self.queue[0]["patients"])
                    batch.append(self.queue.pop(0))
                self.cv.release()
                try:
                    self._run(batch)
                finally:
                    self.cv.acquire()
                    self.busy = False
                    self.cv.notify_all()
        if "error" in item:
            raise item["error"]
        return item["result"]

    def _alone(self, item: dict) -> None:
        try:
            item["result"] = self.service.predict_now(item["patients"], item["prefix"])
        except Exception as exc:  # handed to the request's own thread
            item["error"] = exc
        item["done"] = True

    def _run(self, batch: list[dict]) -> None:
        try:
            self._predict(batch)
        except Exception as exc:  # never leave a waiting request without an answer
            for item in batch:
                if not item["done"]:
                    item["error"], item["done"] = exc, True

    def _predict(self, batch: list[dict]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        joined, sizes = [], []
        for r, item in enumerate(batch):
            rows = self.service._with_ids(item["patients"])
            joined += [{**p, "participant_id": f"r{r}:{p['participant_id']}"} for p in rows]
            sizes.append(len(rows))
        try:
            records = self.service.predict_now(joined)
        except Exception:
            for item in batch:
                self._alone(item)
            return
        start = 0
        for r, (item, n) in enumerate(zip(batch, sizes, strict=True)):
            part = records[start : start + n]
            start += n
            for rec in part:
                rec["participant_id"] = rec["participant_id"].removeprefix(f"r{r}:")
            item["result"] = part
            item["done"] = True


def _plain(v: Any) -> Any:
    """numpy scalars -> Python; NaN -> None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# -------------------------------------------------------------------------------- page views
def _pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def _output_text(value: float, space: str) -> str:
    if space == "log-odds":
        return _pct(1 / (1 + math.exp(-value)))
    if space == "probability":
        return _pct(value)
    if space == "class margin":  # a softmax margin is not a probability on its own
        return f"{value:+.2f}"
    return f"{value:+.0f} kPa"


def _value_text(f: dict) -> str:
    from eih_ml.explain.text import value_text

    text = value_text(f)
    p = f.get("percentile")
    if f.get("value") is None or isinstance(f.get("value"), str) or p is None:
        return text
    return text + f", percentile {p:.0f} of the training cohort"


def _waterfall(data: dict, task: str) -> dict:
    """Geometry of the waterfall: rows of (label, detail, bar x and width in 0-100 units)."""
    space = data["output_space"]
    base = float(data["base_value"])
    factors = data["factors"]
    total = sum(float(v) for v in data["domains"].values())
    steps = [(f["label"], _value_text(f), float(f["contribution"])) for f in factors]
    rest = total - sum(c for _, _, c in steps)
    if abs(rest) > 1e-9:
        steps.append(("All other inputs", "together", rest))
    points = [base]
    for _, _, c in steps:
        points.append(points[-1] + c)
    lo, hi = min(points), max(points)
    pad = max(hi - lo, 1e-9) * 0.06
    lo, hi = lo - pad, hi + pad

    def sx(v: float) -> float:
        return round(100 * (v - lo) / (hi - lo), 2)

    rows = []
    running = base
    for label, detail, c in steps:
        a, b = sx(running), sx(running + c)
        running += c
        if space == "kPa":
            effect = f"{c:+.0f} kPa"
        else:
            effect = ("raises" if c > 0 else "lowers") + f" to {_output_text(running, space)}"
        rows.append(
            {
                "label": label,
                "detail": detail,
                "x": min(a, b),
                "width": max(abs(b - a), 0.6),
                "positive": c > 0,
                "effect": effect,
            }
        )
    what = "chance of a hypoalgesic response" if task == "classification" else "predicted EIH"
    if data.get("target") == "hyperalgesia" or task == "multiclass":
        what = "chance of hyperalgesia"
    if space == "class margin":
        what = "score of the hyperalgesic class (a softmax margin: higher means more likely)"
    return {
        "start": {
            "x": sx(base),
            "text": f"Average patient in the training cohort: {what} {_output_text(base, space)}",
        },
        "end": {"x": sx(running), "text": f"This patient: {_output_text(running, space)}"},
        "rows": rows,
    }


def _domain_bars(domains: dict, task: str) -> list[dict]:
    from eih_ml.features.metadata import DOMAINS

    names = {
        "QST": "Sensory testing (QST)",
        "psychological": "Questionnaires",
        "biomarker": "Biomarkers",
        "clinical": "Clinical",
        "demographic": "Demographic",
        "protocol": "Exercise protocol",
    }
    items = [(d, float(v)) for d, v in domains.items() if abs(float(v)) > 1e-9]
    items.sort(key=lambda kv: (-abs(kv[1]), DOMAINS.index(kv[0]) if kv[0] in DOMAINS else 99))
    top = max((abs(v) for _, v in items), default=1.0) or 1.0
    rows = []
    for d, v in items:
        w = round(50 * abs(v) / top, 2)
        rows.append(
            {
                "label": names.get(d, d),
                "x": 50 if v > 0 else round(50 - w, 2),
                "width": max(w, 0.6),
                "positive": v > 0,
                "effect": (f"{v:+.0f} kPa" if task == "regression" else "")
                or ("raises" if v > 0 else "lowers"),
            }
        )
    return rows


def _form_level(text, bundle) -> tuple[float | None, str]:
    """The form's confidence level (None: the model's own) and a problem, if any."""
    if not isinstance(text, str) or not text.strip():
        return None, ""
    offered = bundle.offered_levels
    try:
        level = float(text)
    except ValueError:
        level = -1.0
    if not any(abs(level - v) < 1e-9 for v in offered):
        return None, (
            f"expected one of {', '.join(f'{100 * v:g} %' for v in offered)}; found {text!r}"
        )
    return level, ""


def _result_view(data: dict, task: str, meta: dict) -> dict:
    rec = data["record"]
    level = round(100 * float(rec.get("confidence_level") or meta.get("confidence_level", 0.9)))
    if rec.get("abstained"):  # the minimum-information rule: a reason, not a number
        return {
            "record": rec,
            "explanation": data["explanation"],
            "abstained": True,
            "rule": data.get("rule", ""),
            "level": level,
            "whatif": [],
        }
    view: dict[str, Any] = {
        "record": rec,
        "explanation": data["explanation"],
        "waterfall": _waterfall({**data, "target": meta["outcome"].get("target")}, task),
        "domains": _domain_bars(data["domains"], task),
        "level": level,
    }
    if task == "multiclass":
        p = float(rec["p_hyperalgesic"])
        view["big"] = _pct(p)
        view["big_caption"] = "chance of more pain sensitivity after exercise (hyperalgesia)"
        view["gauge"] = {"x": round(100 * p, 2)}
        view["classes"] = [
            {
                "label": label,
                "value": _pct(float(rec[column])),
                "x": round(100 * float(rec[column]), 2),
                "positive": column != "p_hyperalgesic",  # red for more pain
            }
            for label, column in (
                ("Less pain sensitivity (hypoalgesic)", "p_hypoalgesic"),
                ("No clear change (non-responder)", "p_non_responder"),
                ("More pain sensitivity (hyperalgesic)", "p_hyperalgesic"),
            )
        ]
        view["uncertainty"] = (
            f"At {level} % confidence: {rec['prediction_set']}" if rec.get("prediction_set") else ""
        )
    elif task == "classification":
        p = float(rec["probability"])
        view["big"] = _pct(p)
        view["big_caption"] = (
            "chance of more pain sensitivity after exercise (hyperalgesia)"
            if meta["outcome"].get("target") == "hyperalgesia"
            else "chance of less pain sensitivity after exercise (hypoalgesia)"
        )
        view["uncertainty"] = (
            f"At {level} % confidence: {rec['prediction_set']}" if rec.get("prediction_set") else ""
        )
        view["gauge"] = {"x": round(100 * p, 2)}
    elif meta["outcome"].get("programme"):  # a programme's improvement (eih_ml.programme)
        from eih_ml.explain.text import outcome_unit

        unit = outcome_unit(meta)
        v = float(rec["eih_kpa"])
        view["big"] = f"{v:+.1f} {unit}"
        view["big_caption"] = (
            f"predicted improvement at week {float(meta['outcome']['programme']['week']):g} "
            "of the programme"
        )
        view["scale"] = ("worse", "no change", "better")
        view["uncertainty"] = ""
        if rec.get("interval_low") is not None:
            lo, hi = float(rec["interval_low"]), float(rec["interval_high"])
            view["uncertainty"] = f"{level} % interval: {lo:+.1f} to {hi:+.1f} {unit}"
            span = max(abs(lo), abs(hi), abs(v), 0.1) * 1.1
            view["interval"] = {
                "lo": round(50 + 50 * lo / span, 2),
                "hi": round(50 + 50 * hi / span, 2),
                "x": round(50 + 50 * v / span, 2),
            }
    else:
        view["big"] = f"{float(rec['eih_kpa']):+.0f} kPa"
        view["big_caption"] = "predicted change of the pain threshold after exercise"
        if rec.get("interval_low") is not None:
            lo, hi = float(rec["interval_low"]), float(rec["interval_high"])
            view["uncertainty"] = f"{level} % interval: {lo:+.0f} to {hi:+.0f} kPa"
            span = max(abs(lo), abs(hi), abs(float(rec["eih_kpa"])), 1.0) * 1.1
            view["interval"] = {
                "lo": round(50 + 50 * lo / span, 2),
                "hi": round(50 + 50 * hi / span, 2),
                "x": round(50 + 50 * float(rec["eih_kpa"]) / span, 2),
            }
        else:
            view["uncertainty"] = ""
    whatif = data["whatif"]
    rows = []
    for w in whatif.to_dict(orient="records") if len(whatif) else []:
        if task == "multiclass":
            pred = _pct(float(w["p_hyperalgesic"]))
            unc = w.get("prediction_set") or ""
        elif task == "classification":
            pred = _pct(float(w["probability"]))
            unc = w.get("prediction_set") or ""
        else:
            pred = f"{float(w['eih_kpa']):+.0f} kPa"
            unc = _interval_text(w)
        note = w.get("flag") or ""
        if not w.get("seen_in_training", True):
            note = (note + "; " if note else "") + "not in the training cohort"
        rows.append(
            {"protocol": w["protocol"], "prediction": pred, "uncertainty": unc, "note": note}
        )
    view["whatif"] = rows
    view["whatif_notes"] = any(r["note"] for r in rows)
    view["prescriptions"] = _prescription_view(data.get("prescriptions"), task, meta)
    return view


def _prescription_view(grid, task: str, meta: dict) -> dict | None:
    """The prescription explorer as a grid per modality and the ten best candidates."""
    if grid is None or not len(grid):
        return None
    import numpy as np

    from eih_ml.explain.prescription import caveat
    from eih_ml.explain.text import outcome_unit

    value = "eih_kpa" if "eih_kpa" in grid else "probability"

    def shown(v: float) -> str:
        return f"{100 * v:.0f} %" if value == "probability" else f"{v:+.1f}"

    ok = grid.loc[~grid["extrapolation"], value]
    edges = np.quantile(ok, [0.2, 0.4, 0.6, 0.8]) if len(ok) else np.array([])
    doses = sorted(
        dict.fromkeys(zip(grid["session_duration_min"], grid["sessions_per_week"], strict=True))
    )
    intensities = sorted(grid["programme_intensity_rel"].unique(), reverse=True)
    panels = []
    for m in dict.fromkeys(grid["programme_modality"]):
        sub = grid[grid["programme_modality"] == m]
        rows = []
        for i in intensities:
            cells = []
            for d, f in doses:
                r = sub[
                    (sub["programme_intensity_rel"] == i)
                    & (sub["session_duration_min"] == d)
                    & (sub["sessions_per_week"] == f)
                ].iloc[0]
                if r["extrapolation"]:
                    cells.append({"text": "extrap.", "cls": "x", "title": r["reason"]})
                else:
                    band = int(np.searchsorted(edges, r[value])) if len(edges) else 2
                    cells.append({"text": shown(r[value]), "cls": f"g{band}", "title": ""})
            rows.append({"label": f"{100 * i:.0f} %", "cells": cells})
        panels.append(
            {
                "title": {"aerobic": "Aerobic", "isometric": "Isometric"}.get(
                    m, "Dynamic resistance"
                ),
                "doses": [f"{d:.0f} min × {f:.0f}" for d, f in doses],
                "rows": rows,
            }
        )
    best = grid[grid["rank"].notna()].sort_values("rank").head(10)
    return {
        "unit": "chance of a clinically important improvement"
        if value == "probability"
        else f"predicted improvement ({outcome_unit(meta)})",
        "panels": panels,
        "best": [
            {
                "rank": int(r["rank"]),
                "prescription": r["prescription"],
                "prediction": shown(r[value]),
                "uncertainty": r.get("prediction_set")
                if value == "probability"
                else (
                    f"{r['interval_low']:+.1f} to {r['interval_high']:+.1f}"
                    if "interval_low" in r
                    else ""
                ),
                "flag": r["flag"],
            }
            for _, r in best.iterrows()
        ],
        "n_extrapolated": int(grid["extrapolation"].sum()),
        "caveat": caveat(meta),
    }


def _interval_text(row: dict) -> str:
    """A regression prediction's conformal interval in kPa ("" when the model has none)."""
    if row.get("interval_low") is None:
        return ""
    return f"{float(row['interval_low']):+.0f} to {float(row['interval_high']):+.0f} kPa"


def _batch_row(rec: dict, task: str) -> dict:
    if rec.get("abstained"):
        return {
            "participant_id": rec["participant_id"],
            "session_id": rec["session_id"],
            "prediction": "no prediction",
            "uncertainty": rec["abstain_reason"],
            "top_factor": "",
            "ood": rec["ood"],
            "ood_reasons": rec["ood_reasons"],
        }
    if task == "multiclass":
        pred = f"{rec['predicted_class']} (hyperalgesia {_pct(float(rec['p_hyperalgesic']))}" + (
            ", at risk)" if rec.get("hyperalgesia_risk") else ")"
        )
        unc = rec.get("prediction_set") or ""
    elif task == "classification":
        pred = f"{rec['predicted_class']} ({_pct(float(rec['probability']))})"
        unc = rec.get("prediction_set") or ""
    else:
        pred = f"{float(rec['eih_kpa']):+.0f} kPa"
        unc = _interval_text(rec)
    top = rec["top_factors"][0] if rec["top_factors"] else None
    return {
        "participant_id": rec["participant_id"],
        "session_id": rec["session_id"],
        "prediction": pred,
        "uncertainty": unc,
        "top_factor": f"{top['label']} ({top['direction']})" if top else "",
        "ood": rec["ood"],
        "ood_reasons": rec["ood_reasons"],
    }


def _read_csv(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """CSV bytes -> (header, rows of text), in memory. Raises InputProblems."""

    def fail(msg: str) -> InputProblems:
        return InputProblems([schemas.FieldError(("file",), "file", msg, "csv")])

    if not data.strip():
        raise fail(
            "expected a CSV file with a header row and one row per patient; the file is empty"
        )
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise fail(
            "expected a CSV file; found an Excel workbook. Save it as 'CSV UTF-8' and upload "
            "again, or use 'eih-ml predict' which reads Excel."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(
            f"expected UTF-8 text; byte {exc.start} is not UTF-8. Save the file as 'CSV UTF-8'."
        ) from None
    if "\x00" in text:
        raise fail("expected a text CSV file; found binary data")
    first = text.splitlines()[0] if text.splitlines() else ""
    sep = max((",", ";", "\t"), key=first.count)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise fail(f"expected a CSV table; it could not be read ({reason})") from None
    header = [c.strip() for c in next(csv.reader(io.StringIO(text), delimiter=sep), [])]
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise fail(f"expected each column once; found repeated columns: {', '.join(dupes)}")
    if frame.empty:
        raise fail("expected one row per patient below the header; found no rows")
    if len(frame) > schemas.MAX_PATIENTS:
        raise fail(
            f"expected at most {schemas.MAX_PATIENTS} patients; found {len(frame)}. Split the "
            "file, or use 'eih-ml predict'."
        )
    frame.columns = header[: len(frame.columns)]
    rows = [  # the input contract's missing spellings (NA, N/A, -, ...) become blank
        {k: ("" if is_missing_text(str(v)) else str(v)) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]
    return header, rows


def _csv_download(records: list[dict]) -> str:
    frame = pd.DataFrame([{**r, "top_factors": json.dumps(r["top_factors"])} for r in records])
    data = frame.to_csv(index=False).encode()
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode()


# ------------------------------------------------------------------------------------- factory
def create_app(
    bundle,
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
    from jinja2 import Environment, PackageLoader

    if token is not None and not token.strip():
        from eih_ml.errors import ConfigError

        raise ConfigError(
            f"expected a non-empty token; found an empty {TOKEN_ENV}. Set a long random value, "
            "or unset it to serve without a token (loopback only)."
        )
    service = _Service(bundle, model_uri)
    if warm_up:
        service.warm_up()
    env = Environment(loader=PackageLoader("eih_ml.serve", "templates"), autoescape=True)
    common = {
        "meta": bundle.meta,
        "task": service.task,
        "model_name": service.name,
        "model_version": service.version,
        "version": __version__,
        "token_enabled": token is not None,
        "n_participants": bundle.meta.get("training_cohort", {}).get("n_participants"),
    }

    def page(template: str, status: int = 200, context: dict | None = None) -> bytes:
        return env.get_template(template).render(**common, **(context or {})).encode()

    def html(template: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(page(template, status, context), status_code=status)

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
    app.add_middleware(_Guard, token=token, page=page)
    app.mount(
        "/static", StaticFiles(directory=str(files("eih_ml.serve") / "static")), name="static"
    )

    def problems_json(errors: list[schemas.FieldError]) -> JSONResponse:
        return JSONResponse({"detail": [e.as_dict() for e in errors]}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [dict(e) for e in exc.errors()]
        return problems_json(schemas.translate(errors, service.fields, ("body",)))

    PredictRequest = service.PredictRequest

    # ---------------------------------------------------------------------------------- API
    @app.get("/health", tags=["service"], summary="Liveness")
    def health() -> dict:
        """``{"status": "ok"}`` with the model's name and version."""
        return {"status": "ok", "model": service.name, "version": service.version}

    @app.get("/api/model", tags=["model"], summary="The loaded model (aggregates only)")
    def model_info() -> dict:
        """Name, version, outcome definition, inputs, performance and training-cohort counts."""
        return service.model_info()

    @app.post(
        "/api/predict",
        tags=["prediction"],
        summary="Predict EIH for one or many patients",
        response_model=None,
        responses={
            200: {"model": schemas.PredictResponse},
            422: {"model": schemas.ErrorResponse, "description": "Each problem names its field"},
        },
    )
    def api_predict(body: PredictRequest) -> JSONResponse:  # type: ignore[valid-type]
        """Prediction, uncertainty, top factors and out-of-distribution flag per patient."""
        ignored = schemas.ignored_fields(body.patients, service.fields)
        patients = [
            p.model_dump(exclude_none=True, exclude=set(p.model_extra or ())) for p in body.patients
        ]
        errors = schemas.cross_check(patients, service.fields, ("body",))
        if body.explain and len(patients) > schemas.MAX_EXPLAIN:
            errors.append(
                schemas.FieldError(
                    ("body", "explain"),
                    "explain",
                    f"expected at most {schemas.MAX_EXPLAIN} patients with explain=true; found "
                    f"{len(patients)}. Ask for explanations in smaller requests.",
                    "too_long",
                )
            )
        if errors:
            return problems_json(errors)
        try:
            if body.explain:
                records = []
                ids = service._with_ids(patients)
                for i, p in enumerate(ids):
                    data = service.explain(
                        p, prefix=("body", "patients", i), level=body.confidence_level
                    )
                    rec = data["record"]
                    rec["explanation"] = data["explanation"]
                    rec["whatif"] = [
                        {k: _plain(v) for k, v in w.items()}
                        for w in data["whatif"].to_dict(orient="records")
                    ]
                    grid = data.get("prescriptions")
                    rec["prescriptions"] = (
                        [
                            {k: _plain(v) for k, v in c.items()}
                            for c in grid.to_dict(orient="records")
                        ]
                        if grid is not None and len(grid)
                        else None
                    )
                    records.append(rec)
            else:
                records = service.predict(patients, level=body.confidence_level)
        except InputProblems as exc:
            return problems_json(exc.errors)
        return JSONResponse(
            {
                "model": {"name": service.name, "version": service.version, "task": service.task},
                "predictions": records,
                "ignored_fields": ignored,
            }
        )

    # -------------------------------------------------------------------------------- pages
    def index(values: dict, errors: dict, status: int = 200, **extra) -> HTMLResponse:
        return html(
            "index.html.j2",
            status,
            sections=service.sections,
            values=values,
            errors=errors,
            max_upload=UPLOAD_BODY_LIMIT,
            abstain_rule=service.bundle.abstain_rule.describe(),
            levels=service.bundle.offered_levels,
            level=extra.pop("level", None) or float(service.bundle.meta["confidence_level"]),
            **extra,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(example: bool = False) -> HTMLResponse:
        return index(service.example_values() if example else {}, {})

    @app.post("/predict", response_class=HTMLResponse, include_in_schema=False)
    async def page_predict(request: Request) -> HTMLResponse:
        form = await request.form(max_files=0, max_fields=len(service.fields) + 20)
        values = {k: v for k, v in form.items() if k in service.fields and isinstance(v, str)}
        level, level_problem = _form_level(form.get("confidence_level"), service.bundle)
        patient, problems = schemas.validate_text_row(values, service.fields, service.Patient)
        if level_problem:
            problems = {**problems, "confidence_level": level_problem}
        if problems:
            return index(values, problems, 422, level=level)
        try:
            data = await run_in_threadpool(service.explain, patient, (), level)
        except InputProblems as exc:
            return index(values, {e.field: e.msg for e in exc.errors}, 422, level=level)
        return index(
            values, {}, 200, level=level, result=_result_view(data, service.task, bundle.meta)
        )

    @app.post("/batch", response_class=HTMLResponse, include_in_schema=False)
    async def page_batch(request: Request) -> HTMLResponse:
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not getattr(upload, "filename", ""):
            await form.close()
            return html(
                "batch.html.j2",
                422,
                errors=["file: expected a CSV file to upload; none was chosen"],
            )
        data = await upload.read()
        await form.close()
        try:
            view = await run_in_threadpool(_batch, data)
        except InputProblems as exc:
            lines = [f"{e.field}: {e.msg}" for e in exc.errors[:50]]
            if len(exc.errors) > 50:
                lines.append(f"... and {len(exc.errors) - 50} more problems")
            return html("batch.html.j2", 422, errors=lines)
        return html("batch.html.j2", 200, **view)

    def _batch(data: bytes) -> dict:
        header, rows = _read_csv(data)
        known = set(service.fields)
        ignored = [c for c in header if c not in known]
        errors = []
        patients = []
        for i, row in enumerate(rows):
            values = {k: v for k, v in row.items() if k in known}
            patient, problems = schemas.validate_text_row(values, service.fields, service.Patient)
            for name, msg in problems.items():
                where = f"row {i + 1} (line {i + 2})"
                errors.append(
                    schemas.FieldError(("file", i, name), f"{where}, {name}", msg, "csv", i)
                )
            patients.append(patient)
        if errors:
            raise InputProblems(errors)
        dupes = [
            e
            for e in schemas.cross_check(
                patients, service.fields, ("file",), where=lambda j: f"row {j + 1}"
            )
            if e.type == "duplicate"
        ]
        if dupes:
            raise InputProblems(
                [
                    schemas.FieldError(
                        e.loc,
                        f"row {e.patient + 1} (line {e.patient + 2}), session_id",
                        e.msg,
                        e.type,
                    )
                    for e in dupes
                ]
            )
        try:
            records = service.predict(patients, prefix=("file",))
        except InputProblems as exc:
            raise InputProblems(
                [
                    schemas.FieldError(
                        e.loc,
                        f"row {e.patient + 1} (line {e.patient + 2}), {e.field}"
                        if e.patient is not None
                        else e.field,
                        e.msg,
                        e.type,
                    )
                    for e in exc.errors
                ]
            ) from None
        notes = []
        if ignored:
            shown = ", ".join(c + schemas._suggest(c, list(known)) for c in ignored[:15]) + (
                " ..." if len(ignored) > 15 else ""
            )
            notes.append(f"{len(ignored)} column(s) this model does not use were ignored: {shown}.")
        return {
            "rows": [_batch_row(r, service.task) for r in records],
            "download": _csv_download(records),
            "notes": notes,
            "n_ood": sum(r["ood"] for r in records),
        }

    # -------------------------------------------------------------------------------- login
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
        if not isinstance(given, str) or not _same(given.strip(), token):
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

    return app
