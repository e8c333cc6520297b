"""Checking the input: readable errors naming each field, rules across fields, text parsing.

Pydantic's errors become one :class:`FieldError` per field (:func:`translate`), each saying
what was expected and what was found (:func:`field_message`); :func:`cross_check` applies the
rules that span fields; :func:`parse_text` and :func:`validate_text_row` type and check a form
submit or a CSV row as the JSON API checks a patient; :func:`ignored_fields` lists the keys
that are not inputs of the model.

Which fields are required
-------------------------
None on its own: the model imputes any missing input, and :meth:`eih_ml.bundle.ModelBundle.predict`
flags a patient as out of distribution when more than half of the model's inputs are missing.
What *is* required (see :func:`cross_check`):

* at least one measured input per patient (an empty patient is not a prediction);
* an exercise intensity needs its unit (``exercise_intensity_unit``), and is checked against that
  unit's range (0-100 % HRR / VO2max / MVC, RPE 0-20);
* CPM test stimuli need ``cpm_test_type`` (a PPT in kPa, 0-2000, or a 0-100 rating);
* each ``participant_id`` + ``session_id`` pair at most once per request.

Every error names its field and says what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from eih_ml.data import contract, inputs
from eih_ml.errors import did_you_mean
from eih_ml.serve.fields import ID_COLUMNS, InputField, number_text
from eih_ml.serve.request_models import MAX_PATIENTS


@dataclass(frozen=True)
class FieldError:
    """One input problem, named by field.

    ``loc`` is the path in the request (``["body", "patients", 0, "pain_nrs"]``), ``field`` the
    input name (or the path when the problem is not one field's), ``patient`` the 0-based index
    of the patient in the request or CSV (``None`` when not about one patient).
    """

    loc: tuple
    field: str
    msg: str
    type: str
    patient: int | None = None

    def as_dict(self) -> dict:
        """JSON form."""
        d = asdict(self)
        d["loc"] = list(self.loc)
        return d


def ignored_fields(patients: list[BaseModel], fields: dict[str, InputField]) -> list[dict]:
    """The keys of validated ``Patient`` models that are not inputs of the model, with why.

    A data-contract column the model does not read (a post-exercise PPT, a biomarker it was
    not trained with) is "not an input of this model"; any other key is "not in the data
    contract", with the closest input name when there is one.
    """
    seen: dict[str, list[int]] = {}
    for i, p in enumerate(patients):
        for key in p.model_extra or ():
            seen.setdefault(str(key), []).append(i)
    names = list(fields)
    out = []
    for key, where in seen.items():
        if contract.spec_for(key) is not None:
            reason = "a data-contract column that this model does not read; ignored"
        else:
            reason = f"not in the data contract; ignored{suggest(key, names)}"
        out.append({"field": key, "patients": where, "reason": reason})
    return out


# -------------------------------------------------------------------------------------- errors
def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def suggest(name: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``candidates`` to ``name``, or ""."""
    return did_you_mean(name, candidates, quote=True)


def field_message(f: InputField, err_type: str, value: Any) -> str:
    """What was expected for field ``f``, and what was found."""
    found = _shown(value)
    if err_type == "missing":
        return "required"
    if f.kind == "biomarker":
        unit = f" {f.unit}" if f.unit else ""
        return (
            f"expected a concentration of 0 or more{unit}, or a value below the limit of "
            f"detection written as {inputs.NONDETECT_EXAMPLES}; found {found}"
        )
    if f.kind == "category":
        allowed = ", ".join(c for c, _ in f.choices)
        return f"expected one of {allowed}; found {found}"
    if f.kind == "id":
        return (
            "expected a whole number or a code of 1-64 letters, digits, spaces or . _ : / - "
            f"(starting with a letter or digit); found {found}"
        )
    if err_type == "multiple_of":
        return f"expected a whole number, {f.range_text}; found {found}"
    if err_type in ("greater_than_equal", "less_than_equal", "finite_number"):
        return f"expected {f.range_text}; found {found}"
    return f"expected a number, {f.range_text}; found {found}"


def translate(
    errors: Sequence[Mapping[str, Any]], fields: dict[str, InputField], prefix: tuple = ()
) -> list[FieldError]:
    """Pydantic errors -> one readable :class:`FieldError` per field.

    ``prefix`` is stripped from the locations when looking up the field (``("body",)`` for a
    FastAPI request body); locations keep it.
    """
    out: dict[tuple, FieldError] = {}
    for e in errors:
        loc = tuple(e.get("loc", ()))
        rel = loc[len(prefix) :] if loc[: len(prefix)] == prefix else loc
        etype = str(e.get("type", "value_error"))
        value = e.get("input")
        patient = None
        if len(rel) >= 2 and rel[0] == "patients" and isinstance(rel[1], int):
            patient = rel[1]
            rel_field = rel[2:]
            base = (*prefix, "patients", patient)
        else:
            rel_field = rel
            base = prefix
        if etype == "json_invalid":
            err = FieldError(
                tuple(loc[:1]) or ("body",),
                "body",
                'expected a JSON object such as {"patients": [{...}]}; the body is not valid '
                f"JSON ({(e.get('ctx') or {}).get('error', 'parse error')})",
                etype,
            )
        elif (patient is not None or not prefix) and rel_field and rel_field[0] in fields:
            name = rel_field[0]
            err = FieldError(
                (*base, name), name, field_message(fields[name], etype, value), etype, patient
            )
        elif patient is not None and not rel_field:
            err = FieldError(
                base,
                f"patients[{patient}]",
                f"expected an object of input fields for each patient; found {_shown(value)}",
                etype,
                patient,
            )
        else:
            err = _body_error(loc, rel_field, etype, value, e)
        out.setdefault(err.loc, err)
    return list(out.values())


def _body_error(loc: tuple, rel: tuple, etype: str, value: Any, e: Mapping[str, Any]) -> FieldError:
    name = str(rel[0]) if rel else "body"
    if name == "body" and etype == "missing":
        msg = 'required: a JSON body such as {"patients": [{"age": 54}]}'
    elif name == "patients":
        msg = {
            "missing": 'required: a list of patients, e.g. {"patients": [{"age": 54}]}',
            "too_short": "expected at least one patient; found an empty list",
            "too_long": f"expected at most {MAX_PATIENTS} patients in one request; found "
            f"{len(value) if isinstance(value, list) else 'more'}. Send the rest in another "
            "request.",
            "list_type": f"expected a list of patients; found {_shown(value)}",
        }.get(etype, e.get("msg", "invalid"))
    elif name == "explain":
        msg = f"expected true or false; found {_shown(value)}"
    elif etype == "extra_forbidden":
        msg = f"unknown key {name!r}; the body takes 'patients' and, optionally, 'explain'"
    elif etype in ("model_type", "model_attributes_type", "dict_type"):
        name = "body"
        found = (
            "a body that is not JSON (send it with Content-Type: application/json)"
            if isinstance(value, bytes | str)
            else _shown(value)
        )
        msg = f'expected a JSON object such as {{"patients": [{{...}}]}}; found {found}'
    else:
        msg = str(e.get("msg", "invalid value"))
    return FieldError(tuple(loc) or ("body",), name, msg, etype)


# --------------------------------------------------------------------------------- cross checks
def cross_check(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    patients: list[dict],
    fields: dict[str, InputField],
    prefix: tuple = (),
    where: Callable[[int], str] = lambda j: f"patients[{j}]",
) -> list[FieldError]:
    """Rules that span fields (see the module docstring); ``patients`` are validated dicts.

    ``where(j)`` names the j-th patient in messages (``patients[0]``, or ``row 1`` for a CSV).
    """
    errors: list[FieldError] = []
    seen: dict[tuple[str, str], int] = {}
    for i, p in enumerate(patients):
        base = (*prefix, "patients", i) if prefix else (i,)

        def err(name: str, msg: str, etype: str, i: int = i, base: tuple = base) -> None:
            errors.append(FieldError((*base, name), name, msg, etype, i))

        measured = [k for k, v in p.items() if v is not None and k not in ID_COLUMNS]
        if not measured:
            errors.append(
                FieldError(
                    base,
                    f"patients[{i}]" if prefix else "patient",
                    "expected at least one measured input; found none. Fill in what was "
                    "measured (each missing input is imputed, and a prediction with more than "
                    "half of them missing is flagged as outside the training cohort).",
                    "no_input",
                    i,
                )
            )
        for name, unit_name in contract.INTENSITY_COLUMNS.items():
            intensity = p.get(name)
            unit = p.get(unit_name)
            if intensity is None or unit_name not in fields:
                continue
            if unit is None:
                err(
                    unit_name,
                    f"required when {name} is given: one of " + ", ".join(contract.INTENSITY_UNITS),
                    "missing",
                )
            else:
                spec = contract.spec_for(name)
                rule = spec.range_by if spec is not None else None
                assert rule is not None, name  # INTENSITY_COLUMNS: ranges picked by the unit
                lo, hi = rule.ranges[unit]
                if not lo <= intensity <= hi:
                    err(
                        name,
                        f"expected {number_text(lo)}-{number_text(hi)} for unit {unit}; found {number_text(intensity)}",
                        "less_than_equal" if intensity > hi else "greater_than_equal",
                    )
        stimulus = contract.CPM_STIMULUS
        cpm = [k for k in contract.cpm_stimulus_columns(list(p)) if p[k] is not None]
        if cpm and stimulus.by in fields:
            kind = p.get(stimulus.by)
            if kind is None:
                err(
                    "cpm_test_type",
                    "required when CPM test stimuli are given: threshold (a PPT in kPa) or "
                    "rating (0-100)",
                    "missing",
                )
            else:
                lo, hi = stimulus.ranges[kind]
                for k in cpm:
                    if not lo <= p[k] <= hi:
                        unit = stimulus.units[kind]
                        err(
                            k,
                            f"expected {number_text(lo)}-{number_text(hi)} {unit} for a {kind} test "
                            f"stimulus; found {number_text(p[k])}",
                            "less_than_equal",
                        )
        pid, sid = p.get("participant_id"), p.get("session_id")
        if pid is not None and sid is not None:
            if (pid, sid) in seen:
                err(
                    "session_id",
                    f"expected each participant_id + session_id once; {pid!r} / {sid!r} "
                    f"is already in {where(seen[(pid, sid)])}",
                    "duplicate",
                )
            else:
                seen[(pid, sid)] = i
    return errors


# ------------------------------------------------------------------------- text -> typed values
def parse_text(values: dict[str, str], fields: dict[str, InputField]) -> tuple[dict, dict]:
    """Form or CSV text -> (typed values for the ``Patient`` model, {field: error message}).

    Each cell is typed by the input contract (:func:`eih_ml.data.inputs.coerce`), as the loader
    and the JSON API type it: missing spellings (blank, NA, N/A, -) are missing; numbers take a
    decimal point or an unambiguous decimal comma ("1,050" is an error that says why);
    categories are matched after lower-casing and turning spaces into "_", with the loader's
    synonyms (F/M, LBP, OA...). Fields the model does not read are left out.
    """
    typed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, raw in values.items():
        f = fields.get(name)
        if f is None:
            continue
        value = inputs.coerce(name, "" if raw is None else str(raw))
        if value is None:
            continue
        if f.kind in ("number", "integer") and isinstance(value, str):
            hint = (
                " (a comma before three digits is a decimal comma or a thousands separator: "
                "write 1.05 or 1050)"
                if inputs.ambiguous_number(value)
                else ""
            )
            problems[name] = field_message(f, "float_type", value) + hint
            continue
        typed[name] = value
    return typed, problems


def validate_text_row(
    values: dict[str, str], fields: dict[str, InputField], model: type[BaseModel]
) -> tuple[dict | None, dict[str, str]]:
    """Validate one form / CSV row; returns (patient dict or None, {field: message})."""
    typed, problems = parse_text(values, fields)
    try:
        patient = model.model_validate(typed).model_dump(exclude_none=True)
    except ValidationError as exc:
        patient = None
        for e in translate(exc.errors(include_url=False), fields):
            problems.setdefault(e.field, e.msg)
    if patient is not None and not problems:
        for e in cross_check([patient], fields):
            problems.setdefault(e.field, e.msg)
    return (None if problems else patient), problems
