"""CSV upload: ``POST /batch`` predicts every row of a file, shown as a table with a download.

The file is read in memory (:data:`eih_ml.serve.security.UPLOAD_BODY_LIMIT` keeps an upload
below the size at which it would spool to disk) and checked as a table (encoding, separator,
header, number of rows); each row is checked as a form submit is, and every problem is named by
row, line and column (422). Columns the model does not read are ignored and listed. The
predictions come back as a table and as a CSV ``data:`` link; nothing is kept.
"""

import base64
import csv
import io
import json

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from eih_ml.data.inputs import is_missing_text
from eih_ml.serve.request_models import MAX_PATIENTS
from eih_ml.serve.service import InputProblems, Service
from eih_ml.serve.validation import FieldError, cross_check, suggest, validate_text_row
from eih_ml.serve.views import Pages, batch_row


def _read_csv(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """CSV bytes -> (header, rows of text), in memory. Raises InputProblems."""

    def fail(msg: str) -> InputProblems:
        return InputProblems([FieldError(("file",), "file", msg, "csv")])

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
    if len(frame) > MAX_PATIENTS:
        raise fail(
            f"expected at most {MAX_PATIENTS} patients; found {len(frame)}. Split the "
            "file, or use 'eih-ml predict'."
        )
    frame.columns = header[: len(frame.columns)]
    rows = [  # the input contract's missing spellings (NA, N/A, -, ...) become blank
        {str(k): ("" if is_missing_text(str(v)) else str(v)) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]
    return header, rows


def _row_where(e: FieldError, name: str) -> str:
    """``row 3 (line 4), name`` for a problem of one CSV row; ``name`` when it is not one row's."""
    return name if e.patient is None else f"row {e.patient + 1} (line {e.patient + 2}), {name}"


def _ignored_notes(ignored: list[str], known: list[str]) -> list[str]:
    """The note on the columns the model does not use (none when there are none)."""
    if not ignored:
        return []
    shown = ", ".join(c + suggest(c, known) for c in ignored[:15]) + (
        " ..." if len(ignored) > 15 else ""
    )
    return [f"{len(ignored)} column(s) this model does not use were ignored: {shown}."]


def _csv_download(records: list[dict]) -> str:
    frame = pd.DataFrame([{**r, "top_factors": json.dumps(r["top_factors"])} for r in records])
    data = frame.to_csv(index=False).encode()
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode()


def add_batch_routes(app: FastAPI, service: Service, pages: Pages) -> None:
    """Add ``POST /batch`` to ``app`` (a page: left out of the API schema)."""
    html = pages.html

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
            patient, problems = validate_text_row(values, service.fields, service.Patient)
            for name, msg in problems.items():
                where = f"row {i + 1} (line {i + 2})"
                errors.append(FieldError(("file", i, name), f"{where}, {name}", msg, "csv", i))
            if patient is not None:  # None only with problems, which are raised below
                patients.append(patient)
        if errors:
            raise InputProblems(errors)
        dupes = [
            e
            for e in cross_check(
                patients, service.fields, ("file",), where=lambda j: f"row {j + 1}"
            )
            if e.type == "duplicate"
        ]
        if dupes:
            raise InputProblems(
                [
                    FieldError(
                        e.loc,
                        _row_where(e, "session_id"),
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
                    FieldError(
                        e.loc,
                        _row_where(e, e.field),
                        e.msg,
                        e.type,
                    )
                    for e in exc.errors
                ]
            ) from None
        return {
            "rows": [batch_row(r, service.task) for r in records],
            "download": _csv_download(records),
            "notes": _ignored_notes(ignored, list(known)),
            "n_ood": sum(r["ood"] for r in records),
        }
