"""The simulator's cohort written the way other tools write it, for the tests of every door.

The simulator writes ``P00001`` / ``S1`` ids, floats everywhere and ``"<LOD"`` strings, so a test
that only reads its files never meets what a lab's own export gives. :func:`write_variants`
writes one cohort as:

* ``string_ids``: as the simulator writes it (the reference);
* ``integer_ids``: participant and session ids 1, 2, 3 and whole-valued columns as integers,
  as a statistics package or a database export writes them;
* ``excel``: ``integer_ids`` saved as an Excel workbook (read back with ints, floats and text);
* ``redcap``: a REDCap export: ``record_id`` / ``redcap_event_name``, the repeat columns left
  blank, ``*_complete`` status columns, categories as labels ("Female", "Knee OA");
* ``text``: every cell as text, missing cells written ``NA``, read with ``dtype=str``;
* ``extra_columns``: the reference with columns no contract knows (site, visit date, comment);
* ``missing_block``: the reference without its biomarker and CPM blocks (scores differ from the
  reference; every door must still agree with every other).

Every variant but ``missing_block`` holds the same measurements, so every door must give the
same scores for all of them; :func:`comparable` is what "the same" means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eih_ml.data import contract

SAME_AS_REFERENCE = ("string_ids", "integer_ids", "excel", "redcap", "text", "extra_columns")
ALL_VARIANTS = (*SAME_AS_REFERENCE, "missing_block")


@dataclass(frozen=True)
class Variant:
    """One written file, how a pandas user reads it, and the ids every door must answer with."""

    name: str
    path: Path
    ids: list[tuple[str, str]]

    def read(self) -> pd.DataFrame:
        """The file read as a new user would, with plain pandas."""
        if self.path.suffix == ".xlsx":
            return pd.read_excel(self.path)
        if self.name == "text":
            return pd.read_csv(self.path, dtype=str, keep_default_na=False)
        return pd.read_csv(self.path)


def _whole_as_int(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_float_dtype(values):
            known = values.dropna()
            if len(known) and (known == np.round(known)).all():
                out[col] = values.astype("Int64")
    return out


def write_variants(cohort: pd.DataFrame, folder: Path) -> dict[str, Variant]:
    """Write ``cohort`` (the simulator's canonical table) as every variant; see the module doc."""
    folder.mkdir(parents=True, exist_ok=True)
    cohort = cohort.reset_index(drop=True).copy()
    # Non-detects as labs write them, whatever the seed gave: the LOD given, and "<LOD".
    markers = contract.biomarker_columns(list(cohort.columns))
    if markers:
        cohort[markers[0]] = cohort[markers[0]].astype(object)
        cohort.loc[0, markers[0]] = "<0.5"
        cohort.loc[len(cohort) - 1, markers[0]] = "< 0.7"
    pids = cohort["participant_id"].astype(str)
    sids = cohort["session_id"].astype(str)
    number = {p: i + 1 for i, p in enumerate(dict.fromkeys(pids))}
    int_pid = pids.map(number)
    int_sid = sids.str.removeprefix("S").astype(int)
    ref_ids = list(zip(pids, sids, strict=True))
    int_ids = [(str(p), str(s)) for p, s in zip(int_pid, int_sid, strict=True)]
    out: dict[str, Variant] = {}

    def put(name: str, frame: pd.DataFrame, ids: list[tuple[str, str]], **kw) -> None:
        suffix = ".xlsx" if name == "excel" else ".csv"
        path = folder / f"{name}{suffix}"
        if suffix == ".xlsx":
            frame.to_excel(path, index=False, engine="openpyxl")
        else:
            frame.to_csv(path, index=False, **kw)
        out[name] = Variant(name, path, ids)

    put("string_ids", cohort, ref_ids)
    integers = _whole_as_int(cohort)
    integers["participant_id"] = int_pid
    integers["session_id"] = int_sid
    put("integer_ids", integers, int_ids)
    put("excel", integers, int_ids)

    redcap = integers.drop(columns=["participant_id", "session_id"])
    for col in ("sex", "condition", "exercise_modality"):
        redcap[col] = redcap[col].astype("string").str.replace("_", " ").str.capitalize()
    redcap.insert(0, "record_id", int_pid)
    redcap.insert(1, "redcap_event_name", [f"session_{s}_arm_1" for s in int_sid])
    redcap.insert(2, "redcap_repeat_instrument", "")
    redcap.insert(3, "redcap_repeat_instance", "")
    redcap["demographics_complete"] = 2
    redcap["qst_complete"] = 2
    put(
        "redcap",
        redcap,
        [(str(p), f"session_{s}_arm_1") for p, s in zip(int_pid, int_sid, strict=True)],
    )
    put("text", cohort, ref_ids, na_rep="NA")
    extra = cohort.copy()
    extra.insert(2, "site", "Aarhus")
    extra["visit_date"] = "2026-03-01"
    extra["comment"] = "no adverse events"
    put("extra_columns", extra, ref_ids)
    dropped = [
        c
        for c in cohort.columns
        if (s := contract.spec_for(c)) is not None and s.block in ("biomarker", "cpm")
    ]
    put("missing_block", cohort.drop(columns=dropped), ref_ids)
    return out


def comparable(predictions: pd.DataFrame | list[dict]) -> list[dict]:
    """Prediction rows without their ids, numbers rounded to 9 places, factors parsed.

    Rows from a DataFrame (``ModelBundle.predict``, the pyfunc, the CLI's CSV) and rows from
    JSON (``mlflow models serve``, the web API) compare equal when they say the same.
    """
    rows = (
        predictions.to_dict(orient="records")
        if isinstance(predictions, pd.DataFrame)
        else list(predictions)
    )
    return [
        {
            k: _plain(json.loads(v) if k == "top_factors" and isinstance(v, str) else v)
            for k, v in row.items()
            if k not in ("participant_id", "session_id")
        }
        for row in rows
    ]


def ids_of(predictions: pd.DataFrame | list[dict]) -> list[tuple[str, str]]:
    """The (participant_id, session_id) of each row, as the door answered them."""
    rows = (
        predictions.to_dict(orient="records")
        if isinstance(predictions, pd.DataFrame)
        else list(predictions)
    )
    return [(r["participant_id"], r["session_id"]) for r in rows]


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else round(float(v), 9)
    if v is None or v is pd.NA or v == "":  # a CSV reads an empty text back as missing
        return None
    return v
