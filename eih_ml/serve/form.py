"""The form: ``GET /`` (empty, or ``?example=1`` for a synthetic patient) and ``POST /predict``.

The form is laid out from the model's input fields (:func:`~eih_ml.serve.fields.build_sections`).
A submit is typed and checked as text, as a CSV row is
(:func:`~eih_ml.serve.validation.validate_text_row`), and its confidence level must be one the
model was calibrated at; each problem is shown beside its field (422). A valid patient is
predicted and explained in a worker thread, and the result is shown above the form, which keeps
the values entered.
"""

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from eih_ml.data import inputs
from eih_ml.serve.security import UPLOAD_BODY_LIMIT
from eih_ml.serve.service import InputProblems, Service
from eih_ml.serve.validation import validate_text_row
from eih_ml.serve.views import Pages, result_view

if TYPE_CHECKING:
    from eih_ml.bundle import ModelBundle


def _form_level(text: object, bundle: "ModelBundle") -> tuple[float | None, str]:
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


def add_form_routes(app: FastAPI, service: Service, pages: Pages) -> None:
    """Add ``GET /`` and ``POST /predict`` to ``app`` (pages: left out of the API schema)."""
    html = pages.html

    def index(values: dict, errors: dict, status: int = 200, **extra: Any) -> HTMLResponse:
        return html(
            "index.html.j2",
            status,
            sections=service.sections,
            values=values,
            errors=errors,
            max_upload=UPLOAD_BODY_LIMIT,
            number_pattern=inputs.ecma_pattern(inputs.NUMBER_PATTERN),
            nondetect_examples=inputs.NONDETECT_EXAMPLES,
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
        patient, problems = validate_text_row(values, service.fields, service.Patient)
        if level_problem:
            problems = {**problems, "confidence_level": level_problem}
        if problems or patient is None:  # no patient without a problem
            return index(values, problems, 422, level=level)
        try:
            data = await run_in_threadpool(service.explain, patient, (), level)
        except InputProblems as exc:
            return index(values, {e.field: e.msg for e in exc.errors}, 422, level=level)
        return index(
            values,
            {},
            200,
            level=level,
            result=result_view(data, service.task, service.bundle.meta),
        )
