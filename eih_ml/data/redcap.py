"""REDCap exports as REDCap writes them: events, repeating instruments, checkboxes, dictionaries.

A REDCap export has one row per record and event (``record_id``, ``redcap_event_name``), and
in projects with repeating instruments or events one row per *instance* as well
(``redcap_repeat_instrument``, ``redcap_repeat_instance``). A checkbox field is exported as one
0/1 column per choice, ``<field>___<code>`` (three underscores), or "Checked"/"Unchecked" in a
label export; radio and dropdown fields hold their codes (raw export) or their labels (label
export). Each instrument adds a ``<form>_complete`` status column. (REDCap's Data Export and
Data Dictionary documentation; https://projectredcap.org.)

This module turns such a table into one row per participant x session before the contract's
column mapping (:func:`eih_ml.data.load.load_frame`):

* **Checkbox groups** are collapsed into their field: one box ticked gives its code (recoded by
  the dictionary's ``categories`` as any code is), none gives a blank, several give the codes
  joined with ``+`` so that validation names the cell (a category takes one value).
* **Repeating instruments and events**: each instance is a session. Rows of the same record,
  event and instance (several repeating instruments) are merged; the record's non-repeating row
  of that event fills what its instances leave blank (demographics entered once). The session is
  the instance number (a project without events) or ``<event>#<instance>``.
* **Form-status columns** (``*_complete``) and the repeat columns are left out, with a note.

The **REDCap data dictionary** (the CSV that REDCap's Dictionary page downloads) can be given as
the column dictionary itself (``--dictionary project_DataDictionary.csv``), or named from a YAML
dictionary (``redcap: {data_dictionary: file.csv}``) that also maps names and units. From it the
loader takes the choices of radio, dropdown, checkbox and yes/no fields (both codes and labels are
recoded to the contract's categories, so raw and label exports read the same), the field labels
(a label export with label headers reads too) and the validation ranges (a range that
contradicts the contract's is a note).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml.errors import DictionaryError

if TYPE_CHECKING:
    from eih_ml.data.dictionary import RedcapSpec

#: A checkbox column: ``<field>___<code>`` (REDCap writes a negative or dotted code with '_').
CHECKBOX = re.compile(r"^(?P<field>.+?)___(?P<code>[A-Za-z0-9_]+)$")
#: A checkbox column's header in a label export: ``Field label (choice=Choice label)``.
CHECKBOX_LABEL = re.compile(r"^(?P<label>.+?) \(choice=(?P<choice>.+)\)$")
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
#: Values of a ticked / unticked box, raw and label exports.
TICKED = frozenset({"1", "1.0", "checked", "true", "yes"})
UNTICKED = frozenset({"0", "0.0", "unchecked", "false", "no"})

#: The columns of REDCap's data dictionary CSV this module reads (REDCap 8 to 14 spell them so).
DD_COLUMNS = {
    "name": "Variable / Field Name",
    "form": "Form Name",
    "type": "Field Type",
    "label": "Field Label",
    "choices": "Choices, Calculations, OR Slider Labels",
    "validation": "Text Validation Type OR Show Slider Number",
    "min": "Text Validation Min",
    "max": "Text Validation Max",
}
CHOICE_TYPES = ("radio", "dropdown", "checkbox", "yesno", "truefalse")
#: The headers a label export gives REDCap's own columns.
LABEL_EXPORT_HEADERS = {
    "Event Name": "redcap_event_name",
    "Repeat Instrument": REPEAT_INSTRUMENT,
    "Repeat Instance": REPEAT_INSTANCE,
}
#: A label export's form-status header ("Complete?", read twice as "Complete?.1").
STATUS_LABEL = re.compile(r"^Complete\?(\.\d+)?$")
#: An event label of a label export: "Screening (Arm 1: Main)".
EVENT_LABEL = re.compile(r"^(?P<event>.+?) \(Arm (?P<arm>\d+)(?:: .*)?\)$")


@dataclass(frozen=True)
class RedcapField:
    """One field of a REDCap data dictionary."""

    name: str
    form: str
    type: str
    label: str
    #: code -> choice label (radio, dropdown, checkbox; yes/no and true/false built in).
    choices: dict[str, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class RedcapDictionary:
    """A REDCap data dictionary: its fields by name, in the project's order."""

    fields: dict[str, RedcapField]
    source: str = ""

    @property
    def forms(self) -> list[str]:
        """The instruments (forms), in order."""
        return list(dict.fromkeys(f.form for f in self.fields.values()))

    def label_headers(self) -> dict[str, str]:
        """Header of a label export -> column of a raw export (checkbox choices included)."""
        out: dict[str, str] = dict(LABEL_EXPORT_HEADERS)
        for f in self.fields.values():
            if f.type == "descriptive" or not f.label:
                continue
            if f.type == "checkbox":
                for code, choice in f.choices.items():
                    out[f"{f.label} (choice={choice})"] = f"{f.name}___{checkbox_code(code)}"
            else:
                out[f.label] = f.name
        return out


def checkbox_code(code: str) -> str:
    """The column suffix REDCap writes for a checkbox code (``-1`` -> ``_1``, ``1.5`` -> ``1_5``).

    >>> checkbox_code("-1"), checkbox_code("2"), checkbox_code("1.5")
    ('_1', '2', '1_5')
    """
    return re.sub(r"[^A-Za-z0-9_]", "_", code).lower()


def parse_choices(text: str, field_type: str = "radio") -> dict[str, str]:
    """A field's choices, ``"1, Female | 2, Male"`` -> ``{"1": "Female", "2": "Male"}``.

    >>> parse_choices("1, Female | 2, Male | 3, Other, or not said")
    {'1': 'Female', '2': 'Male', '3': 'Other, or not said'}
    >>> parse_choices("", "yesno")
    {'1': 'Yes', '0': 'No'}
    """
    if field_type == "yesno":
        return {"1": "Yes", "0": "No"}
    if field_type == "truefalse":
        return {"1": "True", "0": "False"}
    out = {}
    for part in str(text or "").split("|"):
        code, sep, label = part.partition(",")
        if sep and code.strip():
            out[code.strip()] = label.strip()
    return out


def looks_like_redcap_dictionary(path: str | Path) -> bool:
    """True for a CSV whose header is REDCap's data dictionary's."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8-sig", errors="replace")
    first = head.splitlines()[0] if head else ""
    return DD_COLUMNS["name"] in first and DD_COLUMNS["type"] in first


def read_redcap_dictionary(path: str | Path) -> RedcapDictionary:
    """Read REDCap's data dictionary CSV.

    Raises
    ------
    DictionaryError
        The file is missing, or lacks the field name or field type column.
    """
    path = Path(path)
    if not path.is_file():
        raise DictionaryError(
            f"REDCap data dictionary {path} does not exist; download it from the project's "
            "Dictionary page (Download the current Data Dictionary)."
        )
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DictionaryError(f"REDCap data dictionary {path} could not be read: {exc}") from None
    missing = [c for k, c in DD_COLUMNS.items() if k in ("name", "type") and c not in table]
    if missing:
        raise DictionaryError(
            f"{path} is not a REDCap data dictionary: no column {', '.join(map(repr, missing))}. "
            "Give the CSV that REDCap's Dictionary page downloads, unchanged."
        )
    fields = {}
    for row in table.to_dict("records"):
        name = row[DD_COLUMNS["name"]].strip()
        if not name:
            continue
        kind = row[DD_COLUMNS["type"]].strip().lower()
        fields[name] = RedcapField(
            name=name,
            form=row.get(DD_COLUMNS["form"], "").strip(),
            type=kind,
            label=_plain_label(row.get(DD_COLUMNS["label"], "")),
            choices=parse_choices(row.get(DD_COLUMNS["choices"], ""), kind)
            if kind in CHOICE_TYPES
            else {},
            minimum=_number(row.get(DD_COLUMNS["min"], "")),
            maximum=_number(row.get(DD_COLUMNS["max"], "")),
        )
    return RedcapDictionary(fields, source=str(path))


def _plain_label(text: str) -> str:
    """A field label without the HTML REDCap allows in it."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", str(text or ""))).strip()


def _number(text: str) -> float | None:
    try:
        return float(str(text).strip())
    except ValueError:
        return None


# ------------------------------------------------------------------------------ the export itself
def is_redcap_export(columns: list[str]) -> bool:
    """REDCap's own columns without the contract's ids: an export to read as REDCap's."""
    cols = set(columns)
    if "participant_id" in cols or "record_id" not in cols:
        return False
    return bool(
        cols & {"redcap_event_name", REPEAT_INSTRUMENT, REPEAT_INSTANCE}
        or any(c.endswith("_complete") for c in cols)
        or any(CHECKBOX.match(c) for c in cols)
    )


def prepare_export(frame: pd.DataFrame, spec: RedcapSpec, notes: list[str]) -> pd.DataFrame:
    """One row per record x session, checkbox groups collapsed, REDCap's bookkeeping left out.

    Parameters
    ----------
    frame : pandas.DataFrame
        The export as read (raw or label values; label headers are renamed by
        ``spec.label_headers``).
    spec : eih_ml.data.dictionary.RedcapSpec
        The record and event columns, and what the data dictionary told (label headers,
        checkbox fields and their codes).
    notes : list of str
        What was done is appended (groups collapsed, instances merged, columns left out).
    """
    renames = {c: n for c, n in spec.label_headers.items() if c in frame.columns}
    if renames:
        frame = frame.rename(columns=renames)
        notes.append(
            f"REDCap: {len(renames)} label header(s) renamed to their field names "
            "(data dictionary)."
        )
    frame = _codes_for_labels(frame, spec.choice_labels, notes)
    if spec.event_column in frame.columns:
        frame = _unique_event_names(frame, spec.event_column, notes)
    frame = _collapse_checkboxes(frame, notes, spec.checkboxes)
    frame = _merge_instances(frame, spec.record_id, spec.event_column, notes)
    status = [
        c for c in frame.columns if str(c).endswith("_complete") or STATUS_LABEL.match(str(c))
    ]
    if status:
        frame = frame.drop(columns=status)
        notes.append(
            f"REDCap: {len(status)} form-status column(s) left out ({', '.join(status[:6])}"
            f"{' ...' if len(status) > 6 else ''})."
        )
    return frame


def _codes_for_labels(
    frame: pd.DataFrame, labels: dict[str, dict[str, str]], notes: list[str]
) -> pd.DataFrame:
    """A label export's choice labels back to their codes (``To a great degree`` -> ``3``)."""
    changed = 0
    frame = frame.copy()
    for name, mapping in labels.items():
        if name not in frame.columns or not mapping:
            continue
        text = frame[name].astype("string").str.strip()
        hit = text.isin(list(mapping)).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            changed += int(hit.sum())
            frame[name] = text.where(~hit, text.map(mapping))
    if changed:
        notes.append(f"REDCap: {changed} choice label(s) read as their codes (data dictionary).")
    return frame


def unique_event_name(label: str) -> str:
    """REDCap's unique event name for an event label of a label export.

    >>> unique_event_name("Screening (Arm 1: Main)"), unique_event_name("Visit 2 (Arm 1)")
    ('screening_arm_1', 'visit_2_arm_1')
    >>> unique_event_name("visit_arm_1")
    'visit_arm_1'
    """
    m = EVENT_LABEL.fullmatch(str(label).strip())
    if not m:
        return label
    slug = re.sub(r"[^a-z0-9]+", "_", m.group("event").lower()).strip("_")[:18].strip("_")
    return f"{slug}_arm_{m.group('arm')}"


def _unique_event_names(frame: pd.DataFrame, column: str, notes: list[str]) -> pd.DataFrame:
    values = frame[column].astype("string")
    distinct = values.dropna().unique()
    renames = {v: unique_event_name(v) for v in distinct if unique_event_name(v) != v}
    if not renames:
        return frame
    frame = frame.copy()
    frame[column] = values.map(lambda v: renames.get(v, v) if isinstance(v, str) else v)
    notes.append(
        "REDCap: event labels read as unique event names ("
        + ", ".join(f"{k!r} -> {v}" for k, v in list(renames.items())[:4])
        + ")."
    )
    return frame


def _collapse_checkboxes(
    frame: pd.DataFrame, notes: list[str], declared: dict[str, dict[str, str]]
) -> pd.DataFrame:
    """``frame`` with its ``field___code`` checkbox columns collapsed into ``field``.

    ``declared`` (from a data dictionary) maps each checkbox field to {column suffix: code}.
    Without it every ``___`` group is a checkbox.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for col in frame.columns:
        m = CHECKBOX.match(str(col))
        if m and m.group("field") not in frame.columns:
            groups.setdefault(m.group("field"), []).append((col, m.group("code")))
    if declared:  # a data dictionary says which fields are checkboxes
        groups = {f: cols for f, cols in groups.items() if f in declared}
    if not groups:
        return frame
    frame = frame.copy()
    described = []
    for name, columns in groups.items():
        codes = declared.get(name, {})
        labels = np.array([codes.get(suffix.lower(), suffix) for _, suffix in columns])
        ticks = np.column_stack([_ticked(frame[c], c) for c, _ in columns])
        joined = [("+".join(labels[row]) if row.any() else None) for row in ticks]
        frame = frame.drop(columns=[c for c, _ in columns])
        frame[name] = pd.Series(joined, index=frame.index, dtype="string")
        several = int((ticks.sum(axis=1) > 1).sum())
        described.append(
            f"{name} ({len(columns)} boxes"
            + (f"; {several} row(s) with several ticked" if several else "")
            + ")"
        )
    notes.append(
        f"REDCap: {len(groups)} checkbox group(s) read as one field each: {', '.join(described)}."
    )
    return frame


def _ticked(values: pd.Series, column: str) -> np.ndarray:
    text = values.astype("string").str.strip().str.lower()
    known = text.isna() | text.isin(TICKED | UNTICKED | {""})
    if not known.all():
        bad = text[~known].iloc[0]
        raise DictionaryError(
            f"REDCap checkbox column {column} holds {bad!r}; a checkbox is 0/1 (raw export) or "
            "Checked/Unchecked (label export). If it is not a checkbox, rename it so that it "
            "has no '___' in its name."
        )
    return text.isin(TICKED).fillna(False).to_numpy(dtype=bool)


def _merge_instances(
    frame: pd.DataFrame, record_id: str, event_column: str, notes: list[str]
) -> pd.DataFrame:
    """Each repeating instance a session; the record's non-repeating row fills its blanks.

    The row number (index) of a merged session is that of its first instance row, so that
    validation points at a row the user can find.
    """
    drop = [c for c in (REPEAT_INSTRUMENT, REPEAT_INSTANCE) if c in frame.columns]
    if REPEAT_INSTANCE not in frame.columns or record_id not in frame.columns:
        return frame.drop(columns=drop)
    instance = frame[REPEAT_INSTANCE].astype("string").str.strip().str.removesuffix(".0")
    repeated = (instance.fillna("") != "").to_numpy(dtype=bool)
    body = frame.drop(columns=drop)
    if not repeated.any():
        return body
    has_event = event_column in frame.columns
    keys = [record_id, event_column] if has_event else [record_id]
    key = body[keys].astype("string").fillna("").agg("\x1f".join, axis=1).to_numpy()
    index_name = body.index.name
    rows = body.loc[repeated].assign(
        _key=key[repeated], _instance=instance[repeated].to_numpy(), _row=body.index[repeated]
    )
    merged = rows.groupby(["_key", "_instance"], sort=False).first().reset_index()
    main = body.loc[~repeated]
    main_first = main.groupby(key[~repeated], sort=False).first()
    filled = 0
    for col in main_first.columns:
        if col in keys or col not in merged.columns:
            continue
        source = main_first[col].reindex(merged["_key"]).to_numpy()
        blank = merged[col].isna().to_numpy() & pd.notna(source)
        if blank.any():
            filled += int(blank.sum())
            merged[col] = merged[col].astype(object).where(~blank, source)
    label = merged["_instance"].astype(str)
    merged[event_column] = merged[event_column].astype(str) + "#" + label if has_event else label
    merged = merged.set_index("_row").drop(columns=["_key", "_instance"])
    merged.index.name = index_name
    keep_main = ~np.isin(key[~repeated], rows["_key"].unique())
    out = pd.concat([main.loc[keep_main], merged]).sort_index()
    notes.append(
        f"REDCap: {int(repeated.sum())} repeating instance row(s) read as {len(merged)} "
        f"session(s) ({'<event>#<instance>' if has_event else 'the instance number'}); "
        f"{filled} cell(s) filled from the record's non-repeating row."
    )
    return out


def dictionary_updates(dd: RedcapDictionary, target: Callable[[str], str]) -> dict:
    """What a REDCap data dictionary adds to a column dictionary.

    Applied by :func:`eih_ml.data.dictionary.load_dictionary`; the column dictionary's own keys
    win there.

    ``target(field)`` is the canonical column a field is read as (the column dictionary's
    ``columns``/``patterns``). Returned keys:

    * ``categories``: for every radio, dropdown, checkbox or yes/no field that maps to a
      contract category column, each code *and* each label recoded to the contract's value,
      so raw and label exports read the same;
    * ``label_headers``: label-export headers -> field names (checkbox choices too);
    * ``checkboxes``: checkbox fields -> {column suffix: code};
    * ``choice_labels``: other choice fields -> {label: code} (label exports);
    * ``ranges``: the validation range of each field mapped to a contract column.
    """
    from eih_ml.data import contract
    from eih_ml.data.inputs import category_value

    categories: dict[str, dict[str, str]] = {}
    ranges: dict[str, list[float | None]] = {}
    for f in dd.fields.values():
        column = target(f.name)
        spec = contract.spec_for(column)
        if spec is None:
            continue
        if spec.kind == "category" and f.choices:
            mapping = {}
            for code, label in f.choices.items():
                value = category_value(column, label)
                if value in spec.categories:
                    mapping[code] = mapping[label] = value
            if mapping:
                categories[column] = mapping
        if f.minimum is not None or f.maximum is not None:
            ranges[column] = [f.minimum, f.maximum]
    return {
        "categories": categories,
        "label_headers": dd.label_headers(),
        "checkboxes": {
            f.name: {checkbox_code(code): code for code in f.choices}
            for f in dd.fields.values()
            if f.type == "checkbox"
        },
        "choice_labels": {
            f.name: {label: code for code, label in f.choices.items()}
            for f in dd.fields.values()
            if f.choices and f.type != "checkbox"
        },
        "ranges": ranges,
    }


def range_notes(spec: RedcapSpec, columns: Collection[str]) -> list[str]:
    """Notes where the data dictionary's validation range contradicts the contract's."""
    from eih_ml.data import contract

    notes = []
    for column, (lo, hi) in spec.ranges.items():
        c = contract.spec_for(column)
        if column not in columns or c is None or c.valid_range is None:
            continue
        c_lo, c_hi = c.valid_range
        if (hi is not None and hi < c_lo) or (lo is not None and np.isfinite(c_hi) and lo > c_hi):
            notes.append(
                f"REDCap validates {column} to {lo if lo is not None else '-'}-"
                f"{hi if hi is not None else '-'}, outside the contract's {c_lo:g}-{c_hi:g} "
                f"{c.unit or ''}: is the field in another unit? Declare it under 'units'."
            )
    return notes
