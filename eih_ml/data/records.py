"""A few patients given as records (dicts in canonical names), typed without DataFrames.

A prediction request carries one patient, or a handful, as ``{column: value}`` records (the web
API's JSON, one row of a form). Loading and validating them through
:func:`~eih_ml.data.load.load_frame` and :func:`~eih_ml.data.validate.validate_cohort` costs
about 20 ms of per-call DataFrame work for a single row. :func:`plain_records` is the short way
for records that need nothing from those steps: it *accepts* records only when every value is
already what validation would pass unchanged, and types them as arrays; for anything else
it returns ``None`` and the caller takes the full path, which recodes what it can and reports
what it cannot (with row, column, value and rule). So an error message is only ever written in
one place, :mod:`eih_ml.data.validate`.

Accepted records, all of them true of every record:

* the column dictionary renames, converts and recodes nothing (the default dictionary);
* ids, when present in any record, are present in every record as non-blank text or whole
  numbers, and no participant appears twice (sessions of one participant are cross-checked by
  the full path);
* numbers (int or float, not bool) are finite or missing, within the contract's range for the
  column, whole where the contract says so; a biomarker is a number or a non-detect written as
  the loader reads it (``"<0.7"``, or ``"<LOD"`` / ``"ND"`` with a declared LOD);
* categories are exactly one of the contract's values, or missing;
* an exercise intensity has its unit and lies in that unit's range; CPM test stimuli have a
  test type and lie in its range;
* no post-exercise PPT (a prediction is made before exercise).

Columns not in the data contract are left out, as :func:`~eih_ml.data.load.load_frame` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
import pandas as pd

from eih_ml.data import contract
from eih_ml.data.dictionary import ColumnDictionary
from eih_ml.data.inputs import NONDETECT
from eih_ml.features.columns import ArrayColumns, is_missing


def plain_dictionary(d: ColumnDictionary) -> bool:
    """True when loading with ``d`` leaves canonical columns as they are."""
    return (
        d.format != "redcap"
        and not d.columns
        and not d.patterns
        and not d.units
        and not d.categories
        and d.redcap is None
    )


_LARGEST = 2**1023  # ints beyond it do not convert to float


def _number(v: object) -> float | None:
    """A finite number (or NaN for missing); None when the value is not plainly a number."""
    if type(v) is float:  # the common case first
        return v if v == v and v not in _INFINITE else (math.nan if v != v else None)
    if v is None or v is pd.NA:
        return math.nan
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, Integral):
        return float(v) if abs(int(v)) <= _LARGEST else None
    if isinstance(v, Real):
        x = float(v)
        if math.isnan(x):
            return math.nan
        return x if math.isfinite(x) else None
    return None


_INFINITE = (math.inf, -math.inf)


@dataclass(frozen=True, eq=False)
class _Layout:
    """How the columns of a set of record keys are read.

    Cached per key set: a service sees the same fields request after request.
    """

    ids: tuple[str, ...]
    numbers: tuple[str, ...]  # numeric and biomarker columns, in key order
    lo: np.ndarray  # per number column: contract range (-inf/inf when open or dependent)
    hi: np.ndarray
    integer: np.ndarray  # whole numbers required
    post: np.ndarray  # a post-exercise PPT: not plain for a prediction
    biomarker: frozenset[str]
    categories: dict[str, frozenset[str]]
    stimuli: tuple[str, ...]  # CPM test stimuli (range by test type)
    order: tuple[str, ...]  # the kept columns in key order


@lru_cache(maxsize=64)
def _layout(keys: tuple) -> _Layout | None:
    """The reading plan of ``keys``; None when this short way cannot read them.

    None when a key is not text or of a kind this short way does not read. Columns the loader
    leaves out (not in the contract, helper columns) are skipped.
    """
    ids, numbers, categories, bounds, biomarker = [], [], {}, [], set()
    order = []
    for key in keys:
        if type(key) is not str:
            return None
        spec = contract.spec_for(key)
        if spec is None or key.endswith(
            (contract.BIOMARKER_ND_SUFFIX, contract.BIOMARKER_LOD_SUFFIX)
        ):
            continue
        if spec.kind == "id":
            ids.append(key)
            continue
        order.append(key)
        if spec.kind in ("numeric", "biomarker"):
            numbers.append(key)
            lo, hi = spec.valid_range or (-math.inf, math.inf)
            post = spec.block == "ppt" and "_post_" in key  # a prediction is made before exercise
            bounds.append((lo, hi, spec.integer, post))
            if spec.kind == "biomarker":
                biomarker.add(key)
        elif spec.kind == "category":
            categories[key] = frozenset(spec.categories)
        else:
            return None
    lows, highs, integers, posts = (
        (np.array(c) for c in zip(*bounds, strict=True)) if bounds else [np.empty(0)] * 4
    )
    return _Layout(
        ids=tuple(ids),
        numbers=tuple(numbers),
        lo=lows.astype(float),
        hi=highs.astype(float),
        integer=integers.astype(bool),
        post=posts.astype(bool),
        biomarker=frozenset(biomarker),
        categories=categories,
        stimuli=tuple(contract.cpm_stimulus_columns(numbers)),
        order=tuple(order),
    )


_PLAIN_NUMBER = (float, int, type(None))


def plain_records(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    records: Sequence[Mapping[str, object]], dictionary: ColumnDictionary
) -> tuple[list[str] | None, list[str] | None, ArrayColumns] | None:
    """Type ``records`` when validation would pass them unchanged (see the module docstring).

    Returns
    -------
    tuple or None
        ``(participant_ids, session_ids, columns)``: the ids as text (``None`` when the records
        carry none) and the typed columns (float arrays for numbers, object arrays with NaN for
        missing categories, biomarker ``_nd`` / ``_lod`` helper columns added as the loader
        adds them). ``None`` when any record needs the full path.
    """
    n = len(records)
    if n == 0 or not plain_dictionary(dictionary):
        return None
    if not all(isinstance(r, Mapping) for r in records):
        return None
    keys = tuple(records[0]) if n == 1 else tuple({k: None for r in records for k in r})
    if "record_id" in keys and "participant_id" not in keys:
        return None  # possibly a REDCap export
    layout = _layout(keys)
    if layout is None:
        return None
    ids: dict[str, list[str]] = {}
    for key in layout.ids:
        text = []
        for r in records:
            v = r.get(key)
            if isinstance(v, str) and v.strip():
                text.append(v.strip())
            elif isinstance(v, Integral) and not isinstance(v, bool | np.bool_):
                text.append(str(int(v)))
            else:
                return None
        ids[key] = text
    typed = _numbers(records, layout, dictionary)
    if typed is None:
        return None
    block, nondetects = typed
    arrays: dict[str, np.ndarray] = {}
    row = {key: j for j, key in enumerate(layout.numbers)}
    for key in layout.order:
        if key in row:
            arrays[key] = block[row[key]]
            continue
        allowed = layout.categories[key]
        values = [r.get(key) for r in records]
        if not all(is_missing(v) or (isinstance(v, str) and v in allowed) for v in values):
            return None
        arrays[key] = np.array([np.nan if is_missing(v) else v for v in values], dtype=object)
    if any(all(is_missing(v) for v in r.values()) for r in records):
        return None  # a blank record: the loader drops it, with a note
    if not _dependent_ranges_hold(arrays, n, layout.stimuli):
        return None
    pids = ids.get("participant_id")
    if pids is not None and len(set(pids)) < n:
        return None  # sessions of one participant: their baseline fields are cross-checked
    _add_biomarker_helpers(arrays, nondetects, dictionary)
    return pids, ids.get("session_id"), ArrayColumns(arrays, n)


def _numbers(
    records: Sequence[Mapping[str, object]], layout: _Layout, dictionary: ColumnDictionary
) -> tuple[np.ndarray, dict[str, dict[int, float]]] | None:
    """The number columns as one block (columns x records) and the non-detects, or None.

    Values that are plain float, int or None convert in one numpy call; anything else (numpy
    scalars, text) is read one by one: a non-detect text of a biomarker becomes NaN with its
    LOD, everything else is not plain.
    """
    n = len(records)
    values = [r.get(key) for key in layout.numbers for r in records]
    nondetects: dict[str, dict[int, float]] = {}
    if not all(type(v) in _PLAIN_NUMBER for v in values) or any(
        type(v) is int and abs(v) > _LARGEST for v in values
    ):
        for k, v in enumerate(values):
            x = _number(v)
            if x is None:
                key = layout.numbers[k // n]
                if key not in layout.biomarker or (lod := _nondetect(v, key, dictionary)) is None:
                    return None
                nondetects.setdefault(key, {})[k % n] = lod
                x = math.nan
            values[k] = x
    block = np.array(values, dtype=float).reshape(len(layout.numbers), n)
    present = ~np.isnan(block)
    with np.errstate(invalid="ignore"):
        bad = (block < layout.lo[:, None]) | (block > layout.hi[:, None]) | np.isinf(block)
    bad |= layout.integer[:, None] & (block != np.round(block))
    bad |= layout.post[:, None]
    if (bad & present).any():
        return None
    return block, nondetects


def _dependent_ranges_hold(arrays: dict[str, np.ndarray], n: int, stimuli: tuple[str, ...]) -> bool:
    """Whether intensities and CPM stimuli lie within the range their unit or test type sets.

    Exercise and programme intensity within their unit's range; CPM stimuli within their test
    type's.
    """
    for name, unit_name in contract.INTENSITY_COLUMNS.items():
        if name not in arrays:
            continue
        x = arrays[name]
        ranges = contract.INTENSITY_RANGES  # every intensity column's (INTENSITY_COLUMNS)
        unit = arrays.get(unit_name, np.full(n, np.nan, dtype=object))
        for i in np.flatnonzero(np.isfinite(x)):
            bounds = ranges.get(unit[i]) if isinstance(unit[i], str) else None
            if bounds is None or not bounds[0] <= x[i] <= bounds[1]:
                return False
    if stimuli:
        stimulus = contract.CPM_STIMULUS
        kind = arrays.get(stimulus.by, np.full(n, np.nan, dtype=object))
        block = np.column_stack([arrays[c] for c in stimuli])
        for i in np.flatnonzero(np.isfinite(block).any(axis=1)):
            bounds = stimulus.ranges.get(kind[i]) if isinstance(kind[i], str) else None
            row = block[i][np.isfinite(block[i])]
            if bounds is None or ((row < bounds[0]) | (row > bounds[1])).any():
                return False
    return True


def _declared_lod(marker: str, d: ColumnDictionary) -> float:
    spec = d.biomarkers.get(marker.removeprefix("bio_"))
    return spec.lod if spec is not None and spec.lod else math.nan


def _nondetect(v: object, marker: str, d: ColumnDictionary) -> float | None:
    """The LOD of a non-detect written as text ("<0.7", "<LOD", "ND"...), as the loader reads it.

    None when ``v`` is not such a text or no LOD is known (the full path reports it).
    """
    if not isinstance(v, str):
        return None
    m = NONDETECT.match(v.strip())
    if m is None:
        return None
    lod = float(m["lod"]) if m["lod"] is not None else _declared_lod(marker, d)
    return lod if math.isfinite(lod) else None


def _add_biomarker_helpers(
    arrays: dict[str, np.ndarray], nondetects: dict[str, dict[int, float]], d: ColumnDictionary
) -> None:
    """Add the non-detect flag and LOD columns of every biomarker ``m`` to ``arrays``.

    ``bio_{m}_nd`` (1 for a non-detect, 0 where measured) and ``bio_{m}_lod`` (the LOD written
    with a non-detect, else the declared one), missing where nothing was given.
    """
    for col in contract.biomarker_columns(list(arrays)):
        x = arrays[col]
        measured = np.isfinite(x)
        nd = np.where(measured, 0.0, np.nan)
        lod = np.where(measured, _declared_lod(col, d), np.nan)
        for i, value in nondetects.get(col, {}).items():
            nd[i], lod[i] = 1.0, value
        arrays[col + contract.BIOMARKER_ND_SUFFIX] = nd
        arrays[col + contract.BIOMARKER_LOD_SUFFIX] = lod
