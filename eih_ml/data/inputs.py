"""The input contract: what every door accepts in each canonical column, and how it is typed.

A study reaches the model through several doors: a file read by :func:`eih_ml.data.load.load_study`,
a DataFrame given to :meth:`eih_ml.bundle.ModelBundle.predict` or to the MLflow pyfunc (which
``mlflow models serve`` feeds from JSON), records posted to the web API, a form or a CSV upload.
Files written by other tools type the same values differently (ids 1, 2, 3 as integers, whole
numbers as int64, everything as text after an Excel or REDCap round-trip), so each door accepts
the same, derived from the data contract (:mod:`eih_ml.data.contract`):

=========  ====================================================  =========================
kind       accepted                                              stored as
=========  ====================================================  =========================
id         text, or a whole number (``7``, ``7.0``)               text (``"7"``)
number     int, float, numeric text (``"12.5"``, ``" 3 "``)      float
category   a contract value in any case, spaces or hyphens for   the contract value
           ``_``, or a built-in synonym (F/M, LBP, OA, FM, WAD)
biomarker  a number, numeric text or a non-detect                float + non-detect flag
           (``"<LOD"``, ``"<0.7"``, ``"ND"``, ``"BLQ"``)          + limit of detection
=========  ====================================================  =========================

In every column a value is missing when it is ``None``, NaN, ``pd.NA`` or one of
:data:`MISSING_SPELLINGS` (any case, surrounding spaces ignored). Optional columns may be absent;
columns outside the contract are ignored and listed (the loader's ``unmapped``, the API's
``ignored_fields``), never an error. Values that are none of these are kept as found so that
:mod:`eih_ml.data.validate` names them (row, column, value, rule).

A decimal comma is read when it is unambiguous (``"1,5"`` is 1.5); ``"1,050"`` could be 1.05 or
1050 and is reported, never guessed.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import TYPE_CHECKING, Literal

from eih_ml.data import contract

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.types import Schema

InputKind = Literal["id", "number", "category", "biomarker"]

#: Spellings of a missing value in any column, compared case-insensitively after stripping.
MISSING_SPELLINGS: tuple[str, ...] = (
    "",
    "na",
    "n/a",
    "#n/a",
    "nan",
    "null",
    "none",
    "<na>",
    "-",
)
_MISSING = frozenset(MISSING_SPELLINGS)

#: A biomarker below its limit of detection: ``<0.7`` (the LOD given), ``<LOD``, ``ND``, ``BLQ``
#: or ``<LLOQ`` (the LOD from the column dictionary). Written without inline flags so that the
#: same text is a JSON-schema pattern (the web API) and a Python regular expression (the loader).
NONDETECT_PATTERN = (
    r"^\s*(?:<\s*(?P<lod>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)|<\s*[Ll][Oo][Dd]|[Nn][Dd]"
    r"|[Bb][Ll][Qq]|<\s*[Ll][Ll][Oo][Qq])\s*$"
)
NONDETECT = re.compile(NONDETECT_PATTERN)
#: How messages and hints write a non-detect (the simulator writes both forms).
NONDETECT_EXAMPLES = f"<LOD or {contract.NONDETECT_LOD_EXAMPLE}"

#: Built-in spellings of canonical categories (after lower-casing and turning spaces into "_").
CATEGORY_SYNONYMS: dict[str, dict[str, str]] = {
    "sex": {"f": "female", "m": "male", "woman": "female", "man": "male"},
    "condition": {
        "lbp": "low_back_pain",
        "chronic_low_back_pain": "low_back_pain",
        "oa": "knee_oa",
        "knee_osteoarthritis": "knee_oa",
        "fm": "fibromyalgia",
        "wad": "whiplash",
        "whiplash_associated_disorder": "whiplash",
        "healthy_control": "healthy",
        "control": "healthy",
    },
    "exercise_modality": {
        "cycling": "aerobic",
        "aerobic_cycling": "aerobic",
        "walking": "aerobic",
        "running": "aerobic",
        "resistance": "dynamic_resistance",
    },
}

#: Numeric text: what Python's float() reads, without inf/nan spellings (also an ECMAScript
#: pattern: the web form checks it before submitting).
NUMBER_PATTERN = r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
_NUMBER = re.compile(NUMBER_PATTERN)
#: A decimal comma that cannot be a thousands separator ("1,5", "12,25", "0,1234").
DECIMAL_COMMA = re.compile(r"^[-+]?[0-9]+,(?:[0-9]{1,2}|[0-9]{4,})$")
_ANY_COMMA = re.compile(r"^[-+]?[0-9]*,[0-9]+$")
#: A comma followed by exactly three digits: 1.05 or 1050? Reported, never guessed.
AMBIGUOUS_COMMA = re.compile(r"^[-+]?[0-9]{1,3}(?:,[0-9]{3})+$")

#: What each kind accepts, in words (error messages and docs).
ACCEPTS: dict[str, str] = {
    "id": "text or a whole number",
    "number": "a number (integer, decimal or numeric text)",
    "category": "one of the listed values",
    "biomarker": (
        f"a number, or a non-detect written as <LOD, {contract.NONDETECT_LOD_EXAMPLE}, ND or BLQ"
    ),
}


def ecma_pattern(pattern: str) -> str:
    """A pattern of this module as an ECMAScript regular expression (the web form's checks).

    Python's named groups ``(?P<name>...)`` are written ``(?<name>...)``.

    Examples
    --------
    >>> ecma_pattern(r"^<(?P<lod>[0-9]+)$")
    '^<(?<lod>[0-9]+)$'
    """
    return pattern.replace("(?P<", "(?<")


#: A named group of a Python pattern: ``(?P<lod>``.
_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def json_pattern(pattern: str) -> str:
    """A pattern of this module as a JSON-schema (ECMA-262) pattern, read alike by Python.

    Python's named groups ``(?P<name>...)`` are not ECMAScript (which writes ``(?<name>...)``,
    a syntax error for Python's ``re``); the schema writes them as non-capturing groups, which
    every JSON-schema validator reads and which match the same strings.

    Examples
    --------
    >>> json_pattern(r"^<(?P<lod>[0-9]+)$")
    '^<(?:[0-9]+)$'
    """
    return _NAMED_GROUP.sub("(?:", pattern)


def input_kind(column: str) -> InputKind | None:
    """The input kind of a canonical column (``None`` when it is not in the data contract).

    Examples
    --------
    >>> input_kind("session_id"), input_kind("pcs_3"), input_kind("bio_il6"), input_kind("x")
    ('id', 'number', 'biomarker', None)
    """
    spec = contract.spec_for(column)
    if spec is None:
        return None
    return "number" if spec.kind == "numeric" else spec.kind


def is_missing_text(text: str) -> bool:
    """True when ``text`` spells a missing value (``"NA"``, ``" n/a "``, ``""``...)."""
    return text.strip().lower() in _MISSING


def ambiguous_number(text: str) -> bool:
    """True for text such as ``"1,050"`` (a thousands separator or a decimal comma?)."""
    return AMBIGUOUS_COMMA.fullmatch(text.strip()) is not None


def parse_number(text: str) -> float | None:
    """Numeric text -> float; ``None`` when it is not a number by the input contract.

    Examples
    --------
    >>> parse_number(" 12.5 "), parse_number("3"), parse_number("1,5"), parse_number("1,050")
    (12.5, 3.0, 1.5, None)
    >>> parse_number("inf") is None and parse_number("abc") is None
    True
    """
    t = text.strip()
    if _NUMBER.fullmatch(t):
        return float(t)
    if DECIMAL_COMMA.fullmatch(t):
        return float(t.replace(",", "."))
    return None


def id_value(value: object) -> object:
    """An identifier as stored: text; whole numbers (``7``, ``7.0``) become ``"7"``.

    Missing values become ``None``; anything else (a bool, a fraction, a list) is returned as
    found so that validation reports it.
    """
    if isinstance(value, str):
        text = value.strip()
        return None if text.lower() in _MISSING else text
    if value is None or _is_nan(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        return str(math.trunc(value))
    return value


def number_value(value: object) -> object:
    """A number cell as typed: numeric text -> float, a missing spelling -> ``None``.

    Numbers and anything that is not text are returned as found (validation checks them).
    """
    if not isinstance(value, str):
        return None if value is None or _is_nan(value) else value
    if is_missing_text(value):
        return None
    number = parse_number(value)
    return value if number is None else number


def biomarker_value(value: object) -> object:
    """A biomarker cell: a number or numeric text -> float, a non-detect kept as its text."""
    typed = number_value(value)
    return typed.strip() if isinstance(typed, str) else typed


def category_value(column: str, value: object) -> object:
    """A category cell as the contract spells it; text that is still not a category, stripped.

    For example ``"Female"`` -> ``"female"`` and ``"LBP"`` -> ``"low_back_pain"``; text that is
    not a category after that is returned as found, only stripped.

    Examples
    --------
    >>> category_value("sex", " Female "), category_value("condition", "Knee OA")
    ('female', 'knee_oa')
    >>> category_value("sex", "x"), category_value("sex", "NA")
    ('x', None)
    """
    if not isinstance(value, str):
        return None if value is None or _is_nan(value) else value
    text = value.strip()
    if text.lower() in _MISSING:
        return None
    spec = contract.spec_for(column)
    normal = re.sub(r"[\s\-]+", "_", text.lower())
    normal = CATEGORY_SYNONYMS.get(column, {}).get(normal, normal)
    return normal if spec is not None and normal in spec.categories else text


def coerce(column: str, value: object) -> object:
    """One value of a canonical column typed by the input contract (see the module docstring)."""
    kind = input_kind(column)
    if kind == "id":
        return id_value(value)
    if kind == "number":
        return number_value(value)
    if kind == "biomarker":
        return biomarker_value(value)
    if kind == "category":
        return category_value(column, value)
    return value


def _is_nan(value: object) -> bool:
    if isinstance(value, float):
        return value != value
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a core dependency
        return False


# ------------------------------------------------------------------------------------ tables
def blank_missing(frame: pd.DataFrame, extra: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Missing spellings in the text cells of ``frame`` set to missing (NaN), column by column.

    ``extra`` adds a column dictionary's own spellings (``missing_values``, e.g. ``-99`` or
    ``.``); an extra spelling that is a number also blanks that number in numeric cells, as
    ``pandas.read_csv(na_values=...)`` does for a text file. Columns of numbers are only scanned
    for such numbers, so a numeric table costs nothing. Columns are replaced, never changed in
    place: a caller's table is left as it was.
    """
    import numpy as np
    import pandas as pd

    spellings = sorted(_MISSING | {str(s).strip().lower() for s in extra})
    numbers = [x for s in extra if (x := parse_number(str(s))) is not None]
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            hit = values.isin(numbers).to_numpy() if numbers else None
            if hit is not None and hit.any():
                frame[name] = values.where(~hit)
            continue
        cells = values.to_numpy(dtype=object)
        text = pd.Series(
            [v.strip().lower() if isinstance(v, str) else None for v in cells], dtype=object
        )
        hit = np.array(text.isin(spellings), dtype=bool)
        if numbers:
            parsed = [parse_number(t) if t is not None else None for t in text]
            hit |= pd.Series(parsed, dtype=object).isin(numbers).to_numpy()
            hit |= text.isna().to_numpy() & pd.Series(cells, dtype=object).isin(numbers).to_numpy()
        if hit.any():
            cells = cells.copy()
            cells[hit] = np.nan
            frame[name] = pd.Series(cells, index=frame.index, dtype=object)
    return frame


def parse_numbers(values: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """:func:`parse_number` of every cell of ``values``, vectorised.

    Returns (floats with NaN where missing or unreadable, mask of the ambiguous cells such as
    ``"1,050"``). Vectorised: one conversion for the column, a regular expression only over the
    cells that are not plain numbers. ``decimal=","`` (a column dictionary's declaration) reads
    every single comma as the decimal separator.
    """
    import numpy as np
    import pandas as pd

    text = values.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce").astype(float)
    numeric[~np.isfinite(numeric.to_numpy())] = np.nan  # "inf" is not a measurement
    other = text.notna() & numeric.isna()
    ambiguous = pd.Series(False, index=values.index)
    if other.any():
        rest = text[other]
        pattern = _ANY_COMMA if decimal == "," else DECIMAL_COMMA
        comma = rest.str.fullmatch(pattern.pattern).fillna(False).astype(bool)
        numeric[comma[comma].index] = rest[comma].str.replace(",", ".", regex=False).astype(float)
        if decimal != ",":
            amb = rest.str.fullmatch(AMBIGUOUS_COMMA.pattern).fillna(False).astype(bool)
            ambiguous[amb[amb].index] = True
    return numeric, ambiguous


# ------------------------------------------------------------------------------ JSON / MLflow
def json_schema(
    kind: str,
    *,
    low: float | None = None,
    high: float | None = None,
    whole: bool = False,
    id_pattern: str | None = None,
) -> dict:
    """The JSON-schema of one input field: what the web API documents and accepts.

    ``kind`` is "id", "number" or "biomarker" (a category's schema is its list of values).
    Numbers take a JSON number (with ``minimum`` / ``maximum``), numeric text or a missing
    spelling; ids take text or an integer; biomarkers also take a non-detect string.
    """
    text_number = {
        "type": "string",
        "description": "numeric text (e.g. '12.5'), or a missing value (blank, NA, N/A, null)",
    }
    if kind == "id":
        text: dict = {"type": "string", "maxLength": 64}
        if id_pattern:
            text["pattern"] = id_pattern
        return {"anyOf": [text, {"type": "integer", "minimum": 0}, {"type": "null"}]}
    number: dict = {"type": "number"}
    if whole:
        number["multipleOf"] = 1
    if low is not None:
        number["minimum"] = low
    if high is not None and math.isfinite(high):
        number["maximum"] = high
    if kind == "biomarker":
        nd = {"type": "string", "pattern": json_pattern(NONDETECT_PATTERN), "maxLength": 20}
        return {"anyOf": [number, nd, text_number, {"type": "null"}]}
    return {"anyOf": [number, text_number, {"type": "null"}]}


def mlflow_input_schema(columns: list[str]) -> Schema:
    """The pyfunc's input :class:`mlflow.types.Schema`: every column optional and of any type.

    MLflow enforces a signature before the model sees the table: a ``string`` column refuses
    integer ids, a ``double`` column refuses a biomarker column holding ``"<LOD"``, and a column
    of blanks arrives as float. ``AnyType`` (MLflow >= 2.19) is passed through unchanged by
    both the in-process enforcement and the ``mlflow models serve`` JSON parsing, so the model
    types the values itself, by this contract, with the loader's messages for what it cannot
    read. Columns outside the signature are dropped by MLflow with a warning that lists them
    (the "ignored and listed" rule); REDCap's ``record_id`` and ``redcap_event_name`` are
    declared so that a REDCap export reaches the loader whole.
    """
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    names = list(dict.fromkeys([*columns, *REDCAP_ID_COLUMNS]))
    return Schema([ColSpec(AnyType(), c, required=False) for c in names])


#: The identifier columns of a REDCap export (the loader maps them to participant and session).
REDCAP_ID_COLUMNS = ("record_id", "redcap_event_name")
