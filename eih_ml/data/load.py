"""Read a study file into the canonical raw table: ``load_study()``.

Reading is read-only and learns nothing from the cohort: columns are renamed to the data contract
through a column dictionary, units are converted (e.g. PPT in kg/cm^2 to kPa, 1 kg/cm^2 = 98.0665
kPa; EIH_REFERENCE.md section 1), category codes are recoded, REDCap events become sessions and
biomarker non-detects (``<LOD``, ``<0.7``) are split into value, non-detect flag and LOD.
Type and range checks are the job of :func:`eih_ml.data.validate.validate_cohort`: a cell that
cannot be converted is kept as found so that validation can name it.

The table's index is the row number in the source file (``row``; the header is row 1), so every
message can point at the row a user sees in a spreadsheet.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eih_ml.data import contract, redcap
from eih_ml.data.dictionary import (
    DEFAULT_MISSING,
    ColumnDictionary,
    RedcapSpec,
    load_dictionary,
    unit_factor,
)
from eih_ml.data.inputs import NONDETECT, blank_missing, category_value
from eih_ml.errors import DataError, DictionaryError, did_you_mean

TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_DELIMITERS = (",", ";", "\t", "|")
_HELPER_SUFFIXES = (contract.BIOMARKER_ND_SUFFIX, contract.BIOMARKER_LOD_SUFFIX)
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class StudyTable:
    """A study file mapped to canonical columns, before validation.

    Attributes
    ----------
    data : pandas.DataFrame
        Canonical columns; index ``row`` = row number in the source file.
    source : str
        The file it came from.
    dictionary : ColumnDictionary
        The dictionary used.
    column_map : dict
        Study column -> canonical column, for every renamed column.
    unmapped : list of str
        Study columns that are neither canonical nor mapped nor ignored (kept out of the analysis,
        and reported).
    notes : list of str
        Everything the loader did that a reader should know (conversions, recodes, blank lines).
    """

    data: pd.DataFrame
    source: str
    dictionary: ColumnDictionary
    column_map: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"<StudyTable {Path(self.source).name}: {len(self.data)} rows, "
            f"{self.data.shape[1]} canonical columns, {len(self.unmapped)} unmapped>"
        )


def load_study(
    path: str | Path,
    dictionary: ColumnDictionary | str | Path | None = None,
) -> StudyTable:
    """Read a CSV, Parquet, Excel or REDCap export into canonical columns.

    Parameters
    ----------
    path : str or Path
        The study file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, ``.xlsx``).
    dictionary : ColumnDictionary, path or None
        How the file's columns map to the contract; ``None`` for canonical names.

    Returns
    -------
    StudyTable

    Raises
    ------
    DataError
        The file is missing, empty, not a table, not in the declared encoding, or parses into a
        single column (wrong delimiter). The message names the file, line and how to fix it.
    DictionaryError
        The dictionary does not fit the file (two columns mapped to one name, an unknown unit).
    """
    path = Path(path)
    if not isinstance(dictionary, ColumnDictionary):
        dictionary = load_dictionary(dictionary)
    notes: list[str] = []
    frame = read_table(path, dictionary, notes)
    return load_frame(frame, dictionary, source=str(path), notes=notes)


def load_frame(
    frame: pd.DataFrame,
    dictionary: ColumnDictionary | str | Path | None = None,
    *,
    source: str = "<DataFrame>",
    notes: list[str] | None = None,
) -> StudyTable:
    """Map an in-memory table to canonical columns (what :func:`load_study` does after reading).

    The index is kept as the row number when it is named ``row``; otherwise rows are numbered
    from 1.
    """
    if not isinstance(dictionary, ColumnDictionary):
        dictionary = load_dictionary(dictionary)
    notes = [] if notes is None else notes
    frame = frame.copy(deep=False)  # columns are replaced below, never the caller's
    if frame.index.name != "row":
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    # The input contract's missing spellings, in every table (a text file's reader has already
    # read most of them; a DataFrame, an Excel sheet or a JSON request has not).
    frame = blank_missing(frame, dictionary.missing_values)
    frame = _drop_blank_rows(frame, notes)
    is_redcap = dictionary.format == "redcap" or (
        dictionary.format == "auto" and redcap.is_redcap_export(list(frame.columns))
    )
    if is_redcap:
        frame = redcap.prepare_export(frame, dictionary.redcap or _default_redcap(), notes)
    column_map, unmapped = _rename(frame, dictionary, is_redcap)
    frame = frame.rename(columns=column_map)
    if unmapped:
        notes.append(
            f"{len(unmapped)} column(s) not in the data contract and not mapped were left out: "
            + ", ".join(_with_suggestion(c) for c in unmapped[:20])
            + (" ..." if len(unmapped) > 20 else "")
            + ". Map them in the column dictionary, or list them under 'ignore'."
        )
    keep = [
        c
        for c in frame.columns
        if contract.spec_for(c) is not None and not c.endswith(_HELPER_SUFFIXES)
    ]
    frame = frame[keep]
    if is_redcap:
        frame = _merge_redcap_events(frame, dictionary, notes)
        notes.extend(redcap.range_notes(dictionary.redcap or _default_redcap(), frame.columns))
    frame = _normalise_ids(frame)
    frame = _recode_categories(frame, dictionary, notes)
    frame = _convert_units(frame, dictionary, notes)
    frame = _split_biomarkers(frame, dictionary, notes)
    return StudyTable(
        data=frame,
        source=source,
        dictionary=dictionary,
        column_map={k: v for k, v in column_map.items() if k != v},
        unmapped=unmapped,
        notes=notes,
    )


# --------------------------------------------------------------------------------------- reading
def read_table(path: Path, d: ColumnDictionary, notes: list[str]) -> pd.DataFrame:
    """Read a study file (text, Parquet or Excel) as a frame indexed by its file rows."""
    if not path.exists():
        raise DataError(f"{path} does not exist. Check the path (relative to {Path.cwd()}).")
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass the study file inside it (e.g. cohort.csv).")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        frame, first_row = _read_text(path, d, notes), 2
    elif suffix in PARQUET_SUFFIXES:
        frame, first_row = _read_parquet(path), 1
    elif suffix in EXCEL_SUFFIXES:
        frame, first_row = _read_excel(path, d), 2
    else:
        known = ", ".join(sorted(TEXT_SUFFIXES | PARQUET_SUFFIXES | EXCEL_SUFFIXES))
        raise DataError(
            f"{path}: files ending in {suffix or '(no suffix)'!r} are not read; "
            f"supported: {known}. Export the study table as CSV, Parquet or Excel."
        )
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise DataError(
            f"{path} has a header but no data rows: expected one row per participant x session."
        )
    _check_header(frame, path)
    frame.index = pd.RangeIndex(first_row, first_row + len(frame), name="row")
    return frame


def _read_text(path: Path, d: ColumnDictionary, notes: list[str]) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(
            f"{path} is empty: expected a header row with the column names and one row per "
            "participant x session."
        )
    encoding = _text_encoding(raw, d.encoding, path, notes)
    if b"\x00" in raw[:65536] and not encoding.lower().startswith(
        ("utf-16", "utf-32", "utf16", "utf32")
    ):
        raise DataError(
            f"{path} is not a text table (it contains binary data). If it is an Excel workbook, "
            "give it the .xlsx suffix; if it is text in UTF-16 (Excel's 'Unicode text') "
            "without a byte-order mark, declare 'encoding: utf-16-le' in the column dictionary; "
            "otherwise export the table as CSV."
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: byte 0x{raw[exc.start]:02x} is not valid {d.encoding}. "
            "Save the file as UTF-8, or declare its encoding in the column dictionary "
            "(e.g. 'encoding: latin-1')."
        ) from None
    except LookupError:
        raise DictionaryError(
            f"Unknown encoding {d.encoding!r} in the column dictionary; use e.g. utf-8 or latin-1."
        ) from None
    header = text.lstrip("\ufeff").splitlines()[0]
    delimiter = d.delimiter or _sniff_delimiter(header)
    if delimiter is None:
        if path.suffix.lower() == ".tsv":
            delimiter = "\t"
        else:
            raise DataError(
                f"{path}: the first line has a single field ({header[:80]!r}); expected a header "
                "with column names separated by commas, semicolons or tabs. Is this a table?"
            )
    counts = {c: header.count(c) for c in _DELIMITERS}
    if counts[delimiter] == 0:
        likely = max(counts, key=counts.__getitem__)
        hint = (
            f" The header looks {_DELIMITER_NAMES[likely]}-separated: set "
            f"'delimiter: {likely!r}' in the column dictionary."
            if counts[likely]
            else ""
        )
        raise DataError(
            f"{path}: no {_DELIMITER_NAMES.get(delimiter, repr(delimiter))} in the header line "
            f"({header[:80]!r}), so the file reads as a single column.{hint}"
        )
    if d.delimiter is None and delimiter != ",":
        notes.append(f"{path.name}: read as {_DELIMITER_NAMES[delimiter]}-separated.")
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            decimal=d.decimal,
            encoding=encoding,
            skip_blank_lines=False,
            keep_default_na=False,
            na_values=list(DEFAULT_MISSING) + d.missing_values,
            dtype=_text_dtypes(header.split(delimiter), d),
            low_memory=False,
        )
    except pd.errors.ParserError as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        detail = (
            f"line {match.group(2)} has {match.group(3)} fields but the header has {match.group(1)}"
            if match
            else str(exc).strip()
        )
        raise DataError(
            f"{path}: {detail}. Check for an unquoted delimiter inside a value, or a wrong "
            "delimiter."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a header row and data rows.") from None
    return frame


#: Byte-order marks that name a file's encoding whatever the dictionary says.
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))  # fmt: skip


def _text_encoding(raw: bytes, declared: str, path: Path, notes: list[str]) -> str:
    """The codec to decode a text table with: its byte-order mark, else the declared encoding.

    UTF-8 is read as ``utf-8-sig`` (an Excel "CSV UTF-8" starts with a BOM); a UTF-16 or UTF-32
    BOM (Excel's "Unicode text", some lab software) is followed, with a note, even when the
    dictionary declares nothing.
    """
    name = declared.lower().replace("_", "-")
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            if not name.startswith(codec):
                notes.append(f"{path.name}: read as {codec.upper()} (its byte-order mark says so).")
            return codec
    if name in ("utf-8", "utf8"):
        return "utf-8-sig"
    if name in ("utf-16", "utf16", "utf-32", "utf32"):
        return name if "-" in name else f"{name[:3]}-{name[3:]}"
    return declared


def _text_dtypes(header: list[str], d: ColumnDictionary) -> dict[str, type]:
    """Read identifiers and codes as text so that '007' stays '007'."""
    as_text = {
        "participant_id",
        "session_id",
        *contract.LABEL_COLUMNS,
        "record_id",
        "redcap_event_name",
        *(k for k, v in d.columns.items() if v in contract.ID_COLUMNS),
        *(k for k, v in d.columns.items() if v in d.categories),
        *d.categories,
    }
    if d.redcap:
        as_text |= {d.redcap.record_id, d.redcap.event_column}
    return {c.strip().strip('"'): str for c in header if c.strip().strip('"') in as_text}


def _sniff_delimiter(header: str) -> str | None:
    try:
        return csv.Sniffer().sniff(header, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        counts = {c: header.count(c) for c in _DELIMITERS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise DataError(
            f"{path} could not be read as Parquet ({type(exc).__name__}: {exc}). "
            "Is it really a Parquet file? Re-export it, or save it as CSV."
        ) from None


def _read_excel(path: Path, d: ColumnDictionary) -> pd.DataFrame:
    """One sheet of a workbook: the dictionary's ``sheet``, else the only sheet with data.

    A workbook with several sheets holding data (a data sheet and a codebook, two time points)
    is an error naming them: reading the first one silently could analyse the wrong table.
    """
    sheet = 0 if d.sheet is None else d.sheet
    try:
        if d.sheet is None:
            with pd.ExcelFile(path, engine="openpyxl") as book:
                filled = [n for n in book.sheet_names if not _empty_sheet(book, n)]
                if len(filled) > 1:
                    raise DataError(
                        f"{path}: the workbook has {len(filled)} sheets with data ("
                        + ", ".join(repr(n) for n in filled)
                        + "), and which one is the study table is not said. Set "
                        f"'sheet: {filled[0]}' (or the sheet's name) in the column dictionary."
                    )
                sheet = filled[0] if filled else 0
                return pd.read_excel(book, sheet_name=sheet)
        return pd.read_excel(path, sheet_name=sheet, engine="openpyxl")
    except DataError:
        raise
    except ValueError as exc:
        if "Worksheet" in str(exc) or "not found" in str(exc):
            raise DataError(
                f"{path}: no sheet {sheet!r} ({exc}). Set 'sheet:' in the column dictionary."
            ) from None
        raise DataError(f"{path} could not be read as Excel: {exc}") from None
    except Exception as exc:  # zipfile / openpyxl errors for a file that is not a workbook
        raise DataError(
            f"{path} could not be read as an Excel workbook ({type(exc).__name__}). "
            "Save it from Excel as .xlsx, or export it as CSV."
        ) from None


def _empty_sheet(book: pd.ExcelFile, name: int | str) -> bool:
    """True for a sheet with no cell filled (a workbook's unused 'Sheet2')."""
    rows = book.book[name].iter_rows(max_row=50, values_only=True)
    return not any(v is not None for row in rows for v in row)


def _check_header(frame: pd.DataFrame, path: Path) -> None:
    names = [str(c) for c in frame.columns]
    unnamed = [i + 1 for i, c in enumerate(names) if c.startswith("Unnamed:") or not c.strip()]
    if unnamed and len(unnamed) == len(names):
        raise DataError(f"{path}: the first row holds no column names; add a header row.")
    seen: dict[str, int] = {}
    for name in names:
        base = re.sub(r"\.\d+$", "", name)
        if base in seen and base in names and not redcap.STATUS_LABEL.match(name):
            raise DataError(f"{path}: column {base!r} appears more than once in the header.")
        seen[name] = 1
    frame.columns = [c.strip() for c in names]


def _drop_blank_rows(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        rows = frame.index[blank].tolist()
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        notes.append(f"{len(rows)} blank row(s) ignored (rows {shown}).")
        frame = frame.loc[~blank]
    return frame


# --------------------------------------------------------------------------------------- mapping
def _rename(
    frame: pd.DataFrame, d: ColumnDictionary, is_redcap: bool
) -> tuple[dict[str, str], list[str]]:
    mapping: dict[str, str] = {}
    explicit = dict(d.columns)
    if is_redcap:
        spec = d.redcap or _default_redcap()
        explicit.setdefault(spec.record_id, "participant_id")
        explicit.setdefault(spec.event_column, "session_id")
    for col in frame.columns:
        mapping[col] = explicit[col] if col in explicit else d.target(col)
    targets: dict[str, list[str]] = {}
    for src, dst in mapping.items():
        if contract.spec_for(dst) is not None:
            targets.setdefault(dst, []).append(src)
    clashes = {dst: srcs for dst, srcs in targets.items() if len(srcs) > 1}
    if clashes:
        detail = "; ".join(f"{dst} <- {', '.join(srcs)}" for dst, srcs in clashes.items())
        raise DictionaryError(
            f"Several study columns map to the same canonical column: {detail}. Map only one of "
            "them, and list the others under 'ignore' in the column dictionary."
        )
    bad_targets = [
        f"{src} -> {dst}"
        for src, dst in mapping.items()
        if dst != src and contract.spec_for(dst) is None
    ]
    if bad_targets:
        raise DictionaryError(
            "The column dictionary maps to names that are not in the data contract: "
            + ", ".join(bad_targets)
            + ". Canonical names: "
            + ", ".join(contract.canonical_names())
        )
    ignored = set(d.ignore)
    unmapped = [
        c for c, dst in mapping.items() if contract.spec_for(dst) is None and c not in ignored
    ]
    return mapping, unmapped


def _with_suggestion(column: str) -> str:
    return repr(column) + did_you_mean(column, contract.example_names())


def _default_redcap() -> RedcapSpec:
    return RedcapSpec()


def _merge_redcap_events(
    frame: pd.DataFrame, d: ColumnDictionary, notes: list[str]
) -> pd.DataFrame:
    """Turn REDCap events into sessions; baseline-only events fill the record's baseline fields.

    REDCap writes a participant's baseline instruments (demographics, questionnaires) only on the
    event where they were collected. Fields blank on a session row are filled from the record's
    baseline events, and each fill is counted in the notes.
    """
    spec = d.redcap or _default_redcap()
    if "participant_id" not in frame.columns or "session_id" not in frame.columns:
        return frame
    frame = frame.copy()
    frame["session_id"] = frame["session_id"].astype("string")
    is_base = frame["session_id"].isin(spec.baseline_events).to_numpy()
    if is_base.any():
        base = frame.loc[is_base].drop(columns=["session_id"])
        base = base.groupby("participant_id", sort=False).first()
        sessions = frame.loc[~is_base]
        filled = 0
        for col in base.columns:
            if col not in sessions.columns:
                continue
            fill = sessions["participant_id"].map(base[col])
            missing = sessions[col].isna() & fill.notna()
            filled += int(missing.sum())
            sessions.loc[missing, col] = fill[missing]
        notes.append(
            f"REDCap: {int(is_base.sum())} baseline event row(s) "
            f"({', '.join(spec.baseline_events)}) merged into the sessions; {filled} cell(s) "
            "filled from them."
        )
        frame = sessions
    if spec.events:

        def session(event: object) -> object:
            # "visit_1_arm_1#2" (a repeating instance) keeps its "#2"
            if not isinstance(event, str):  # a missing session id stays missing
                return event
            base, sep, instance = event.rpartition("#")
            if event in spec.events or not sep:
                return spec.events.get(event, event)
            return f"{spec.events[base]}#{instance}" if base in spec.events else event

        events = frame["session_id"].dropna().astype(str)
        unknown = sorted({e for e in events if session(e) == e})
        frame["session_id"] = frame["session_id"].map(session)
        if unknown:
            notes.append(f"REDCap events kept under their own names: {', '.join(unknown)}.")
    return frame


def _normalise_ids(frame: pd.DataFrame) -> pd.DataFrame:
    for col in (*contract.ID_COLUMNS, *contract.LABEL_COLUMNS):
        if col in frame.columns:
            values = frame[col]
            if pd.api.types.is_float_dtype(values):
                # Parquet/Excel ids typed as numbers: 12.0 -> "12"
                as_int = values.dropna()
                if (np.isfinite(as_int) & (as_int == np.round(as_int))).all():
                    values = values.astype("Int64")
            # pandas-stubs has no overload of replace() with pd.NA as the value
            frame[col] = values.astype("string").str.strip().replace("", pd.NA)  # type: ignore[call-overload]
    return frame


def _recode_categories(frame: pd.DataFrame, d: ColumnDictionary, notes: list[str]) -> pd.DataFrame:
    for spec in contract.COLUMNS:
        if spec.kind != "category" or spec.name not in frame.columns:
            continue
        col = spec.name
        raw = frame[col]
        user = {str(k).strip(): v for k, v in d.categories.get(col, {}).items()}
        # Work on the distinct values (a handful), then index: fast for 1 and 100,000 rows.
        codes, distinct = pd.factorize(raw)
        counts = np.bincount(codes[codes >= 0], minlength=len(distinct))
        recoded = np.empty(len(distinct) + 1, dtype=object)
        recoded[-1] = np.nan  # code -1: missing
        n_recoded = 0
        for k, value in enumerate(distinct):
            text = _code_text(value)
            if text in user:
                text = user[text]
                n_recoded += int(counts[k])
            # Kept as found when it is still not a category, so validation names it.
            recoded[k] = category_value(col, text)
        if user:
            notes.append(f"{col}: {n_recoded} value(s) recoded with the dictionary's categories.")
        frame[col] = pd.Series(recoded[codes], index=frame.index, dtype="string")
    for col, mapping in d.categories.items():
        s = contract.spec_for(col)
        if s is None or s.kind != "category":
            raise DictionaryError(
                f"The dictionary's 'categories' names {col!r}, which is not a category column; "
                "category columns: "
                + ", ".join(c.name for c in contract.COLUMNS if c.kind == "category")
            )
        bad = sorted(set(mapping.values()) - set(s.categories))
        if bad:
            raise DictionaryError(
                f"categories.{col} recodes to {', '.join(map(repr, bad))}, which are not "
                f"allowed; allowed values: {', '.join(s.categories)}."
            )
    return frame


_WHOLE_FLOAT = re.compile(r"(-?\d+)\.0+")


def _code_text(value: object) -> str:
    """A category code as text, whole numbers without the '.0' that Excel and REDCap add.

    Excel and REDCap's numeric exports write ``1.0``; ``1.0`` and ``"1.0"`` -> ``"1"``, so that a
    dictionary's ``'1': female`` matches them and an unknown code is echoed as the user typed it.

    >>> _code_text(1.0), _code_text(" 2.0 "), _code_text("1.5"), _code_text("F")
    ('1', '2', '1.5', 'F')
    """
    text = str(value).strip()
    match = _WHOLE_FLOAT.fullmatch(text)
    return match.group(1) if match else text


def _convert_units(frame: pd.DataFrame, d: ColumnDictionary, notes: list[str]) -> pd.DataFrame:
    for pattern, unit in d.units.items():
        targets = [c for c in frame.columns if fnmatch.fnmatchcase(c, pattern)]
        if not targets:
            notes.append(f"units: no column matches {pattern!r}; nothing converted.")
            continue
        for col in targets:
            spec = contract.spec_for(col)
            canonical_unit = spec.unit if spec and spec.unit else _implied_unit(col)
            factor = unit_factor(unit, canonical_unit, col)
            if factor == 1.0:
                continue
            numeric = pd.to_numeric(frame[col], errors="coerce")
            converted = numeric * factor
            if numeric.isna().sum() == frame[col].isna().sum():
                frame[col] = converted
            else:  # keep unparseable cells as found for validation to report
                frame[col] = converted.astype(object).where(numeric.notna(), frame[col])
        notes.append(
            f"units: {len(targets)} column(s) matching {pattern!r} converted from {unit} "
            f"(x {factor:g})."
        )
    return frame


def _implied_unit(col: str) -> str:
    """Columns whose unit depends on another column (CPM stimuli) are pressures when converted."""
    return "kPa" if col.startswith("cpm_") else ""


def _split_biomarkers(frame: pd.DataFrame, d: ColumnDictionary, notes: list[str]) -> pd.DataFrame:
    """Split each biomarker column into value, non-detect flag and LOD, all columns at once.

    The cells of every biomarker column are parsed in one pass (one numeric conversion, one
    regular expression over the cells that are not plain numbers): fast for one row and for
    100,000.
    """
    cols = contract.biomarker_columns(list(frame.columns))
    if not cols:
        return frame
    n = len(frame)
    raw = frame[cols]
    flat = pd.Series(raw.to_numpy(dtype=object).reshape(-1, order="F"), dtype=object)
    present = flat.notna().to_numpy()
    text = flat.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    other = present & np.isnan(numeric)
    is_nd = np.zeros(len(flat), dtype=bool)
    lod_given = np.full(len(flat), np.nan)
    if other.any():
        candidates = text[other]
        matched = candidates.str.match(NONDETECT).fillna(False).to_numpy(dtype=bool)
        is_nd[np.flatnonzero(other)[matched]] = True
        parts = candidates.str.extract(NONDETECT)
        lod_given[np.flatnonzero(other)] = pd.to_numeric(parts["lod"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
    declared = np.repeat(
        [
            (
                spec.lod
                if (spec := d.biomarkers.get(c.removeprefix("bio_"))) and spec.lod
                else np.nan
            )
            for c in cols
        ],
        n,
    )
    lod = np.where(np.isnan(lod_given), declared, lod_given)
    lod[~present] = np.nan
    nd = np.where(is_nd, 1.0, 0.0)
    nd[~present] = np.nan
    unparsed = other & ~is_nd
    values = numeric.astype(object)
    values[unparsed] = flat.to_numpy()[unparsed]  # kept as found: validation names the cell
    new_cols: dict[str, np.ndarray] = {}
    for j, col in enumerate(cols):
        part = slice(j * n, (j + 1) * n)
        frame[col] = values[part] if unparsed[part].any() else numeric[part]
        new_cols[col + contract.BIOMARKER_ND_SUFFIX] = nd[part]
        new_cols[col + contract.BIOMARKER_LOD_SUFFIX] = lod[part]
        n_nd = int(is_nd[part].sum())
        if n_nd:
            notes.append(f"{col}: {n_nd} value(s) below the limit of detection.")
    return pd.concat([frame, pd.DataFrame(new_cols, index=frame.index)], axis=1)
