"""The JSON API: ``GET /health``, ``GET /api/model`` and ``POST /api/predict``.

``POST /api/predict`` takes one or many patients (``{"patients": [...], "explain": false}``,
the bundle's ``PredictRequest`` model, so its OpenAPI schema lists every input with its unit
and range) and answers one prediction per patient, in request order, with the keys it ignored
(:class:`~eih_ml.serve.response_models.PredictResponse`, the route's ``response_model``: FastAPI
validates every answer against it). Bad input answers 422, each problem naming its field
(:func:`problems_json`).
"""

from typing import Protocol, cast

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from eih_ml.json_values import json_safe
from eih_ml.serve.request_models import MAX_EXPLAIN
from eih_ml.serve.response_models import ErrorResponse, PredictResponse
from eih_ml.serve.service import InputProblems, Service
from eih_ml.serve.validation import FieldError, cross_check, ignored_fields


class _PredictBody(Protocol):
    """What the route reads of a ``PredictRequest`` (a model made at run time for the bundle)."""

    patients: list[BaseModel]
    explain: bool
    confidence_level: float | None


def problems_json(errors: list[FieldError]) -> JSONResponse:
    """The 422 answer listing ``errors`` (:class:`~eih_ml.serve.response_models.ErrorResponse`)."""
    return JSONResponse({"detail": [e.as_dict() for e in errors]}, status_code=422)


def add_api_routes(app: FastAPI, service: Service) -> None:
    """Add the JSON API's routes to ``app``."""
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
        response_model=PredictResponse,
        # the answer holds the keys the model has (a classifier's answer has no eih_kpa): the
        # model validates it, the defaults of keys left out are not added
        response_model_exclude_unset=True,
        responses={422: {"model": ErrorResponse, "description": "Each problem names its field"}},
    )
    # FastAPI reads the body's model from the annotation: the bundle's class, made at run time
    def api_predict(body: PredictRequest) -> dict | JSONResponse:  # type: ignore[valid-type]
        """Prediction, uncertainty, top factors and out-of-distribution flag per patient."""
        request = cast(_PredictBody, body)
        ignored = ignored_fields(request.patients, service.fields)
        patients = [
            p.model_dump(exclude_none=True, exclude=set(p.model_extra or ()))
            for p in request.patients
        ]
        errors = cross_check(patients, service.fields, ("body",))
        if request.explain and len(patients) > MAX_EXPLAIN:
            errors.append(
                FieldError(
                    ("body", "explain"),
                    "explain",
                    f"expected at most {MAX_EXPLAIN} patients with explain=true; found "
                    f"{len(patients)}. Ask for explanations in smaller requests.",
                    "too_long",
                )
            )
        if errors:
            return problems_json(errors)
        try:
            if request.explain:
                records = []
                ids = service._with_ids(patients)
                for i, p in enumerate(ids):
                    data = service.explain(
                        p, prefix=("body", "patients", i), level=request.confidence_level
                    )
                    rec = data["record"]
                    rec["explanation"] = data["explanation"]
                    rec["whatif"] = [
                        {k: json_safe(v) for k, v in w.items()}
                        for w in data["whatif"].to_dict(orient="records")
                    ]
                    grid = data.get("prescriptions")
                    rec["prescriptions"] = (
                        [
                            {k: json_safe(v) for k, v in c.items()}
                            for c in grid.to_dict(orient="records")
                        ]
                        if grid is not None and len(grid)
                        else None
                    )
                    records.append(rec)
            else:
                records = service.predict(patients, level=request.confidence_level)
        except InputProblems as exc:
            return problems_json(exc.errors)
        return {
            "model": {"name": service.name, "version": service.version, "task": service.task},
            "predictions": records,
            "ignored_fields": ignored,
        }
