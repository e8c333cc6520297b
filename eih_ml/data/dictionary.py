"""Column dictionaries: how a study's own columns, units and codes map to the data contract.

A dictionary is a small YAML file (examples in ``configs/dictionaries/``). The default dictionary,
shipped inside the package, describes data already in canonical names and declares the units,
matrix and limit of detection (LOD) of the common biomarkers.

Example
-------
.. code-block:: yaml

    description: Knee OA study, PPT recorded in kg/cm2
    columns:            # study column -> canonical column
      ID: participant_id
      Visit: session_id
    patterns:           # regular-expression renames, applied after `columns`
      - match: 'PPT_quad_(pre|post)_(\\d)'
        to: 'ppt_local_\\1_\\2'
    units:              # canonical column or glob -> unit in the file (converted on load)
      'ppt_*': kg/cm2
    categories:         # canonical column -> {study code: canonical value}
      sex: {'1': female, '2': male}
    biomarkers:
      il6: {unit: pg/mL, matrix: plasma, lod: 0.7}
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eih_ml.data.inputs import MISSING_SPELLINGS
from eih_ml.errors import DictionaryError

if TYPE_CHECKING:
    from eih_ml.data.redcap import RedcapDictionary

#: Conversions to each canonical unit: {canonical unit: {unit in the file: factor}}.
#: 1 kg/cm^2 = 98.0665 kPa (EIH_REFERENCE.md section 1); 1 N/cm^2 = 10 kPa; 1 psi = 6.894757 kPa.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "kPa": {
        "kpa": 1.0,
        "kg/cm2": 98.0665,
        "kgf/cm2": 98.0665,
        "n/cm2": 10.0,
        "psi": 6.894757,
        "lbf/in2": 6.894757,
        "g/cm2": 0.0980665,
    },
    "years": {"years": 1.0, "months": 1.0 / 12.0},
    "months": {"months": 1.0, "years": 12.0, "weeks": 12.0 / 52.1775, "days": 12.0 / 365.25},
    "min": {"min": 1.0, "s": 1.0 / 60.0, "h": 60.0},
    "kg/m2": {"kg/m2": 1.0},
    # temporal-summation ratings (0-100): a 0-10 numeric rating scale is x 10
    "rating": {"0-100": 1.0, "nrs_0_100": 1.0, "nrs_0_10": 10.0, "0-10": 10.0},
}

#: Values a text file's reader reads as missing, besides those a dictionary adds: the input
#: contract's spellings (:data:`eih_ml.data.inputs.MISSING_SPELLINGS`) as files write them. The
#: loader then blanks any other case of them (``load_frame``), in every kind of table.
DEFAULT_MISSING = tuple(
    dict.fromkeys([v for s in MISSING_SPELLINGS for v in (s, s.upper(), s.title())] + ["NaN"])
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RenamePattern(_Strict):
    """A regular-expression rename: a study column fully matching ``match`` becomes ``to``."""

    match: str
    to: str

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value


class BiomarkerSpec(_Strict):
    """What a biomarker column holds: its unit, the sample matrix and the limit of detection."""

    unit: str = ""
    matrix: str = ""
    lod: float | None = Field(default=None, gt=0)
    label: str = ""


class RedcapSpec(_Strict):
    """How a REDCap export (one row per record and event) maps to participants and sessions."""

    record_id: str = "record_id"
    event_column: str = "redcap_event_name"
    #: event name -> session id; events not listed keep their name as session id.
    events: dict[str, str] = Field(default_factory=dict)
    #: events that hold baseline data only (e.g. screening): merged into the record's sessions.
    baseline_events: list[str] = Field(default_factory=list)
    #: REDCap's data dictionary CSV (relative to this file); read when the dictionary is
    #: loaded, into the four keys below and ``categories`` (eih_ml.data.redcap).
    data_dictionary: str | None = None
    #: header of a label export -> field name (``Sex (choice=Female)`` -> ``sex___1``).
    label_headers: dict[str, str] = Field(default_factory=dict)
    #: checkbox field -> {column suffix: choice code} (``sex: {'1': '1', '_1': '-1'}``).
    checkboxes: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: choice field -> {choice label: code}: a label export's values read as the raw codes.
    choice_labels: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: canonical column -> [min, max] of its REDCap validation (a contradiction is a note).
    ranges: dict[str, list[float | None]] = Field(default_factory=dict)


class ColumnDictionary(_Strict):
    """A validated column dictionary (see the module docstring for the YAML form)."""

    description: str = ""
    format: Literal["auto", "canonical", "redcap"] = "auto"
    delimiter: str | None = None
    decimal: str = "."
    encoding: str = "utf-8"
    sheet: str | int | None = None
    missing_values: list[str] = Field(default_factory=list)
    columns: dict[str, str] = Field(default_factory=dict)
    patterns: list[RenamePattern] = Field(default_factory=list)
    units: dict[str, str] = Field(default_factory=dict)
    categories: dict[str, dict[str, str]] = Field(default_factory=dict)
    biomarkers: dict[str, BiomarkerSpec] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    redcap: RedcapSpec | None = None
    source: str = Field(default="<default>", exclude=True)

    @field_validator("units")
    @classmethod
    def _known_units(cls, value: dict[str, str]) -> dict[str, str]:
        known = sorted({u for table in UNIT_FACTORS.values() for u in table})
        for column, unit in value.items():
            if unit.lower() not in known:
                raise ValueError(
                    f"unit {unit!r} for {column!r} is not one the toolkit can convert; "
                    f"known units: {', '.join(known)}"
                )
        return value

    def __repr__(self) -> str:
        parts = [f"{len(self.columns)} renames", f"{len(self.patterns)} patterns"]
        if self.units:
            parts.append("units " + ", ".join(f"{k}: {v}" for k, v in self.units.items()))
        if self.categories:
            parts.append(f"categories of {', '.join(self.categories)}")
        if self.missing_values:
            parts.append(f"missing {self.missing_values}")
        if self.format != "auto":
            parts.append(f"format {self.format}")
        return f"<ColumnDictionary {Path(self.source).name}: {'; '.join(parts)}>"

    def target(self, name: str) -> str:
        """The canonical name a study column is read as.

        ``columns``, then ``patterns``, else its own name (REDCap's record and event columns are
        mapped by the loader).
        """
        if name in self.columns:
            return self.columns[name]
        for pat in self.patterns:
            if re.fullmatch(pat.match, name):
                return re.sub(pat.match, pat.to, name)
        return name

    def merged_with(self, other: ColumnDictionary) -> ColumnDictionary:
        """Return this dictionary with ``other``'s biomarker declarations added where missing."""
        markers = {**other.biomarkers, **self.biomarkers}
        return self.model_copy(update={"biomarkers": markers})


def _format_pydantic_error(exc: ValidationError, source: str) -> str:
    lines = [f"Column dictionary {source} is not valid:"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(ColumnDictionary.model_fields) if len(err["loc"]) == 1 else None
            msg = "unknown key" + (f"; allowed keys: {allowed}" if allowed else "")
        else:
            msg = err["msg"]
        lines.append(f"  - {path}: {msg} (found {err.get('input')!r})")
    lines.append("Fix the keys above; configs/dictionaries/ has commented examples.")
    return "\n".join(lines)


@cache
def default_dictionary() -> ColumnDictionary:
    """The dictionary for data already in canonical names (biomarker units and LODs declared)."""
    text = resources.files("eih_ml.data").joinpath("default_dictionary.yaml").read_text("utf-8")
    return _parse(yaml.safe_load(text), "<default dictionary>")


def _parse(raw: object, source: str) -> ColumnDictionary:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DictionaryError(
            f"Column dictionary {source} must be a YAML mapping (key: value lines), "
            f"found {type(raw).__name__}. A REDCap data dictionary is read as the CSV that "
            "REDCap's Dictionary page downloads, unchanged (its header starts with "
            "'Variable / Field Name')."
        )
    try:
        return ColumnDictionary(**raw, source=source)
    except ValidationError as exc:
        raise DictionaryError(_format_pydantic_error(exc, source)) from None


def load_dictionary(path: str | Path | None) -> ColumnDictionary:
    """Read and validate a column dictionary; ``None`` gives the default dictionary.

    The default dictionary's biomarker declarations (unit, matrix, LOD) are kept for markers
    the file does not declare.

    Raises
    ------
    DictionaryError
        When the file is missing, is not YAML, or has unknown keys or invalid values; the
        message names the key path and the allowed keys.
    """
    from eih_ml.data import redcap

    default = default_dictionary()
    if path is None:
        return default
    path = Path(path)
    if not path.is_file():
        raise DictionaryError(
            f"Column dictionary {path} does not exist. Pass an existing YAML file to "
            "--dictionary, or leave it out for data in canonical column names."
        )
    if redcap.looks_like_redcap_dictionary(path):  # REDCap's own data dictionary, as downloaded
        own = ColumnDictionary(
            description=f"REDCap data dictionary {path.name}",
            format="redcap",
            redcap=RedcapSpec(data_dictionary=path.name),
            source=str(path),
        )
        return _with_redcap(own, redcap.read_redcap_dictionary(path)).merged_with(default)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DictionaryError(
            f"Column dictionary {path} is not valid YAML: {exc}. Check indentation and quoting."
        ) from None
    parsed = _parse(raw, str(path))
    if parsed.redcap and parsed.redcap.data_dictionary:
        dd_path = path.parent / parsed.redcap.data_dictionary
        parsed = _with_redcap(parsed, redcap.read_redcap_dictionary(dd_path))
    return parsed.merged_with(default)


def _with_redcap(d: ColumnDictionary, dd: RedcapDictionary) -> ColumnDictionary:
    """``d`` with what a REDCap data dictionary tells added; ``d``'s own keys win.

    The additions are those of :func:`eih_ml.data.redcap.dictionary_updates`. The result is
    self-contained: the model bundle keeps it, and the CSV is not needed again.
    """
    from eih_ml.data.redcap import dictionary_updates

    found = dictionary_updates(dd, d.target)
    categories = {
        c: {**found["categories"].get(c, {}), **d.categories.get(c, {})}
        for c in {*found["categories"], *d.categories}
    }
    spec = d.redcap or RedcapSpec()
    redcap = spec.model_copy(
        update={
            key: {**found[key], **getattr(spec, key)}
            for key in ("label_headers", "checkboxes", "choice_labels", "ranges")
        }
    )
    return d.model_copy(update={"categories": categories, "redcap": redcap, "format": "redcap"})


def unit_factor(from_unit: str, to_unit: str, column: str) -> float:
    """Multiplier converting ``column`` from ``from_unit`` to the canonical ``to_unit``.

    Raises
    ------
    DictionaryError
        When the conversion is not known (e.g. kg/cm2 declared for an age column).
    """
    table = UNIT_FACTORS.get(to_unit)
    factor = None if table is None else table.get(from_unit.lower())
    if factor is None:
        options = ", ".join(sorted(table)) if table else "none (the column has no unit)"
        raise DictionaryError(
            f"The dictionary declares unit {from_unit!r} for {column}, whose canonical unit is "
            f"{to_unit or 'unitless'}; units that convert to it: {options}."
        )
    return factor
