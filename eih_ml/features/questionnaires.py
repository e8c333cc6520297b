"""Questionnaire scoring: keying, totals, subscales and the missing-item rule.

Scales (``EIH_REFERENCE.md`` section 4; item layout in :data:`eih_ml.data.contract.QUESTIONNAIRES`):

* **PCS**, Pain Catastrophizing Scale (Sullivan 1995): 13 items 0-4, total 0-52; rumination
  8-11, magnification 6, 7, 13, helplessness 1-5, 12.
* **TSK-17**, Tampa Scale for Kinesiophobia (Miller, Kori & Todd 1991): items 1-4, items 4, 8, 12,
  16 reverse-scored (5 - x), total 17-68. No subscales (their item lists differ between sources).
  **TSK-11** (Woby 2005, PAIN 117:137): TSK-17 items 1, 2, 3, 5, 6, 7, 10, 11, 13, 15, 17, no
  reversed items, total 11-44.
* **HADS**, Hospital Anxiety and Depression Scale (Zigmond & Snaith 1983): 14 items 0-3; anxiety =
  odd items, depression = even items, each 0-21.
* **CSI** part A, Central Sensitization Inventory (Mayer 2012): 25 items 0-4, total 0-100; severity
  bands (Neblett 2017, Pain Pract).
* **PSEQ**, Pain Self-Efficacy Questionnaire (Nicholas 2007): 10 items 0-6, total 0-60.

Keying is applied before summing. Missing items follow a :class:`ProrateRule` per scale and
subscale: when at most ``max_missing`` items are missing the score is prorated as
``mean(answered items) x n_items``; otherwise it is NaN. Never 0. The number of missing items is
always returned, and :meth:`QuestionnaireScoring.describe` records the rules applied.

**Prorated scores are not rounded**: a prorated PCS of 12 answered items with mean 2.5 is 32.5.
Rounding would move values across cut-offs (PCS > 30, CSI bands) in a direction chosen by the
rounding convention; keeping the exact value leaves that decision to the reader and keeps complete
vectors identical to the plain sum.

Everything is a pure per-row computation: nothing is learned from other participants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from eih_ml.data.contract import QUESTIONNAIRES
from eih_ml.errors import ConfigError, DataError
from eih_ml.features.columns import Columns, FrameColumns

__all__ = [
    "CSI_SEVERITY_BANDS",
    "CSI_ITEMS",
    "HADS_ANXIETY_ITEMS",
    "HADS_DEPRESSION_ITEMS",
    "HADS_FIRST_OPTION_SCORES_0",
    "HADS_FIRST_OPTION_SCORES_3",
    "OUTPUT_COLUMNS",
    "PCS_ITEMS",
    "PCS_SUBSCALES",
    "PSEQ_ITEMS",
    "SCORE_RANGES",
    "TSK11_FROM_TSK17",
    "TSK11_ITEMS",
    "TSK17_ITEMS",
    "TSK17_REVERSED",
    "ProrateRule",
    "QuestionnaireScoring",
    "csi_severity",
    "pcs_clinically_relevant",
    "score_questionnaires",
]

# --------------------------------------------------------------------------------------------
# Item lists and keying (read by metadata and reports)
# --------------------------------------------------------------------------------------------

#: PCS items (Sullivan 1995), each 0-4.
PCS_ITEMS: tuple[int, ...] = tuple(range(1, 14))
#: PCS subscales (Sullivan 1995): item numbers per subscale.
PCS_SUBSCALES: dict[str, tuple[int, ...]] = {
    "rumination": (8, 9, 10, 11),
    "magnification": (6, 7, 13),
    "helplessness": (1, 2, 3, 4, 5, 12),
}
#: TSK-17 items (Miller, Kori & Todd 1991), each 1-4.
TSK17_ITEMS: tuple[int, ...] = tuple(range(1, 18))
#: TSK-17 items scored in reverse, ``5 - x``.
TSK17_REVERSED: tuple[int, ...] = (4, 8, 12, 16)
#: The TSK-17 items kept in TSK-11 (Woby 2005), in TSK-11 order; none is reversed.
TSK11_FROM_TSK17: tuple[int, ...] = (1, 2, 3, 5, 6, 7, 10, 11, 13, 15, 17)
#: TSK-11 items as stored in the data (``tsk11_1..11``), each 1-4, none reversed.
TSK11_ITEMS: tuple[int, ...] = tuple(range(1, 12))
#: HADS anxiety items (odd), depression items (even); Zigmond & Snaith 1983.
HADS_ANXIETY_ITEMS: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 13)
HADS_DEPRESSION_ITEMS: tuple[int, ...] = (2, 4, 6, 8, 10, 12, 14)
#: HADS items whose first printed option scores 3 (score = 3 - position) ...
HADS_FIRST_OPTION_SCORES_3: tuple[int, ...] = (1, 3, 5, 6, 8, 10, 11, 13)
#: ... and items whose first printed option scores 0 (score = position).
HADS_FIRST_OPTION_SCORES_0: tuple[int, ...] = (2, 4, 7, 9, 12, 14)
#: CSI part A items (Mayer 2012), each 0-4. Part B is not scored.
CSI_ITEMS: tuple[int, ...] = tuple(range(1, 26))
#: CSI severity bands on the total (Neblett 2017): (lowest total, highest total, label).
CSI_SEVERITY_BANDS: tuple[tuple[int, int, str], ...] = (
    (0, 29, "subclinical"),
    (30, 39, "mild"),
    (40, 49, "moderate"),
    (50, 59, "severe"),
    (60, 100, "extreme"),
)
#: PSEQ items (Nicholas 2007), each 0-6.
PSEQ_ITEMS: tuple[int, ...] = tuple(range(1, 11))

#: Possible range of every numeric score (``tsk_total`` per form).
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "pcs_total": (0, 52),
    "pcs_rumination": (0, 16),
    "pcs_magnification": (0, 12),
    "pcs_helplessness": (0, 24),
    "tsk_total_tsk17": (17, 68),
    "tsk_total_tsk11": (11, 44),
    "hads_anxiety": (0, 21),
    "hads_depression": (0, 21),
    "csi_total": (0, 100),
    "pseq_total": (0, 60),
}

#: Every column :func:`score_questionnaires` can produce, in output order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "pcs_total",
    "pcs_rumination",
    "pcs_magnification",
    "pcs_helplessness",
    "pcs_n_missing",
    "tsk_total",
    "tsk_n_missing",
    "hads_anxiety",
    "hads_depression",
    "hads_anxiety_n_missing",
    "hads_depression_n_missing",
    "csi_total",
    "csi_severity",
    "csi_n_missing",
    "pseq_total",
    "pseq_n_missing",
)

TskForm = Literal["tsk17", "tsk11"]
HadsItems = Literal["scored", "positions"]


# --------------------------------------------------------------------------------------------
# Scoring configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProrateRule:
    """Prorate a sum when at most ``max_missing`` items are missing.

    ``score = mean(answered items) x n_items`` when ``n_missing <= max_missing`` (and at least one
    item is answered); otherwise NaN. ``ProrateRule(0)`` means complete cases only. For a complete
    item vector the prorated score equals the plain sum.

    Parameters
    ----------
    max_missing : int
        Largest number of missing items that is still prorated (>= 0).
    """

    max_missing: int

    def __post_init__(self) -> None:
        m = self.max_missing
        if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 0:
            raise ConfigError(f"ProrateRule.max_missing must be an integer >= 0; got {m!r}")

    def score(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prorated score and number of missing items per row.

        Parameters
        ----------
        items : ndarray of shape (n_rows, n_items)
            Keyed item scores, NaN for missing.

        Returns
        -------
        score : ndarray of float
        n_missing : ndarray of int64
        """
        answered = ~np.isnan(items)
        n_answered = answered.sum(axis=1)
        n_items = items.shape[1]
        n_missing = (n_items - n_answered).astype(np.int64)
        total = np.where(answered, items, 0.0).sum(axis=1)
        ok = (n_missing <= self.max_missing) & (n_answered > 0)
        mean = np.divide(total, n_answered, out=np.full(len(items), np.nan), where=ok)
        return mean * n_items, n_missing

    def describe(self, n_items: int | None = None) -> str:
        """Plain-language statement of the rule, for logs and reports.

        Examples
        --------
        >>> ProrateRule(1).describe(13)
        'prorate from the mean of answered items when <= 1 of 13 items are missing, else NaN'
        """
        of = f" of {n_items}" if n_items is not None else ""
        if self.max_missing == 0:
            return "complete cases only: NaN when any item is missing"
        return (
            f"prorate from the mean of answered items when <= {self.max_missing}{of} items "
            "are missing, else NaN"
        )


#: Default missing-item rule per score, its number of items and the source of the default.
_RULE_DEFAULTS: dict[str, tuple[int, int, str]] = {
    "pcs": (
        1,
        QUESTIONNAIRES["pcs"].n_items,
        "no official rule (check); EIH_REFERENCE.md section 4",
    ),
    "pcs_rumination": (1, 4, "PCS total rule applied to the subscale (check)"),
    "pcs_magnification": (1, 3, "PCS total rule applied to the subscale (check)"),
    "pcs_helplessness": (1, 6, "PCS total rule applied to the subscale (check)"),
    "tsk": (
        1,
        QUESTIONNAIRES["tsk"].n_items,
        "no official rule (check); 17 items for TSK-17, 11 for TSK-11",
    ),
    "hads_anxiety": (3, 7, "half rule: >= 4 of 7 answered (Bell 2016, BMC Res Notes 9:479)"),
    "hads_depression": (3, 7, "half rule: >= 4 of 7 answered (Bell 2016, BMC Res Notes 9:479)"),
    "csi": (2, QUESTIONNAIRES["csi"].n_items, "no official rule (check)"),
    "pseq": (1, QUESTIONNAIRES["pseq"].n_items, "no official rule (check)"),
}


@dataclass(frozen=True)
class QuestionnaireScoring:
    """How questionnaires are scored: missing-item rules, TSK form, HADS item coding, PCS cut-off.

    Parameters
    ----------
    pcs : ProrateRule, default ProrateRule(1)
        PCS total: prorate when <= 1 of 13 items is missing. No official rule exists (check).
    pcs_rumination, pcs_magnification, pcs_helplessness : ProrateRule, default ProrateRule(1)
        The same rule applied to each subscale's own items (check). Subscales are prorated
        independently of the total, so with a missing item the prorated subscales need not add
        up to the prorated total.
    tsk : ProrateRule, default ProrateRule(1)
        TSK (either form): <= 1 missing (check).
    hads_anxiety, hads_depression : ProrateRule, default ProrateRule(3)
        The half rule: a subscale is prorated when >= 4 of its 7 items are answered (Bell 2016,
        BMC Res Notes 9:479).
    csi : ProrateRule, default ProrateRule(2)
        CSI part A: <= 2 of 25 missing (check).
    pseq : ProrateRule, default ProrateRule(1)
        PSEQ: <= 1 of 10 missing (check).
    tsk_form : {"tsk17", "tsk11"}, default "tsk17"
        ``"tsk17"``: ``tsk_total`` is TSK-17 from ``tsk_1..17``. ``"tsk11"``: TSK-11 from
        ``tsk11_1..11`` when those columns are present, otherwise from the 11 kept TSK-17 items
        (:data:`TSK11_FROM_TSK17`).
    hads_items : {"scored", "positions"}, default "scored"
        ``"scored"``: HADS items hold item scores 0-3. ``"positions"``: they hold the printed
        answer position (0 = first option); converted with :data:`HADS_FIRST_OPTION_SCORES_3`
        (``3 - position``) and :data:`HADS_FIRST_OPTION_SCORES_0` (``position``).
    pcs_clinical_cutoff : float, default 30
        PCS total cut-off for clinically relevant catastrophizing.
    pcs_clinical_inclusive : bool, default False
        ``False``: relevant when total > cut-off; ``True``: when total >= cut-off (sources
        differ, EIH_REFERENCE.md section 4). Used by :func:`pcs_clinically_relevant`.
    """

    pcs: ProrateRule = ProrateRule(1)
    pcs_rumination: ProrateRule = ProrateRule(1)
    pcs_magnification: ProrateRule = ProrateRule(1)
    pcs_helplessness: ProrateRule = ProrateRule(1)
    tsk: ProrateRule = ProrateRule(1)
    hads_anxiety: ProrateRule = ProrateRule(3)
    hads_depression: ProrateRule = ProrateRule(3)
    csi: ProrateRule = ProrateRule(2)
    pseq: ProrateRule = ProrateRule(1)
    tsk_form: TskForm = "tsk17"
    hads_items: HadsItems = "scored"
    pcs_clinical_cutoff: float = 30.0
    pcs_clinical_inclusive: bool = False

    def __post_init__(self) -> None:
        for name in _RULE_DEFAULTS:
            value = getattr(self, name)
            if not isinstance(value, ProrateRule):
                raise ConfigError(
                    f"QuestionnaireScoring.{name} must be a ProrateRule, e.g. ProrateRule(1); "
                    f"got {value!r}"
                )
        if self.tsk_form not in ("tsk17", "tsk11"):
            raise ConfigError(f"tsk_form must be 'tsk17' or 'tsk11'; got {self.tsk_form!r}")
        if self.hads_items not in ("scored", "positions"):
            raise ConfigError(
                f"hads_items must be 'scored' or 'positions'; got {self.hads_items!r}"
            )
        cutoff = self.pcs_clinical_cutoff
        if (
            isinstance(cutoff, bool)
            or not isinstance(cutoff, int | float)
            or not math.isfinite(cutoff)
        ):
            raise ConfigError(f"pcs_clinical_cutoff must be a finite number; got {cutoff!r}")
        if not isinstance(self.pcs_clinical_inclusive, bool):
            raise ConfigError(
                f"pcs_clinical_inclusive must be True or False; got {self.pcs_clinical_inclusive!r}"
            )

    @classmethod
    def from_options(
        cls,
        tsk_form: TskForm = "tsk17",
        hads_items: HadsItems = "scored",
        max_missing: dict[str, int] | None = None,
    ) -> QuestionnaireScoring:
        """The scoring of an experiment config's ``features.questionnaires``.

        It is also stored in the model bundle, so a prediction scores questionnaires as training
        did.

        Raises
        ------
        ConfigError
            ``max_missing`` names a scale that is not one of the rules' names.
        """
        # scale name -> its rule; Any: mypy cannot match names chosen at run time to fields
        rules: dict[str, Any] = {}
        for key, value in (max_missing or {}).items():
            if key not in _RULE_DEFAULTS:
                raise ConfigError(
                    f"features.questionnaires.max_missing.{key}: unknown scale; allowed: "
                    + ", ".join(sorted(_RULE_DEFAULTS))
                )
            rules[key] = ProrateRule(value)
        return cls(tsk_form=tsk_form, hads_items=hads_items, **rules)

    def describe(self) -> dict[str, object]:
        """JSON-serialisable record of every rule applied, for logging with the experiment."""
        rules: dict[str, object] = {}
        for name, (default, n_items, source) in _RULE_DEFAULTS.items():
            rule: ProrateRule = getattr(self, name)
            if name == "tsk":
                n_items = 17 if self.tsk_form == "tsk17" else 11
            rules[name] = {
                "max_missing": int(rule.max_missing),
                "n_items": n_items,
                "rule": rule.describe(n_items),
                "default_max_missing": default,
                "source_of_default": source,
                "is_default": rule.max_missing == default,
            }
        return {
            "missing_item_rules": rules,
            "prorated_scores_rounded": False,
            "tsk_form": self.tsk_form,
            "hads_items": self.hads_items,
            "pcs_clinical": (
                f"pcs_total {'>=' if self.pcs_clinical_inclusive else '>'} "
                f"{self.pcs_clinical_cutoff:g}"
            ),
            "csi_severity_bands": [list(b) for b in CSI_SEVERITY_BANDS],
        }


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def _column(src: Columns, col: str) -> np.ndarray:
    try:
        return src.floats([col])[:, 0]
    except DataError as exc:
        raise DataError(
            f"expected numeric values in column {col!r}, found non-numeric values "
            f"({exc.__cause__ or exc}); load the study with load_study() so that values are "
            "typed, or fix the column"
        ) from exc


def _items(src: Columns, prefix: str, numbers: tuple[int, ...]) -> np.ndarray | None:
    """Item matrix (rows x items) for ``{prefix}_{i}``, i in ``numbers``.

    None when none of the scale's item columns is present; an absent column within a present scale
    is all-missing (counted in ``n_missing``).
    """
    cols = _item_columns(prefix, numbers)
    present = src.present(cols)
    if not present:
        return None
    try:  # one block read (fast for a single row too); absent items stay all-missing
        block = src.floats(present)
    except DataError:
        block = np.column_stack([_column(src, c) for c in present])  # names the bad column
    if len(present) == len(cols):
        return block  # scoring copies before it writes (TSK and HADS reversals)
    mat = np.full((src.n, len(cols)), np.nan)
    mat[:, [cols.index(c) for c in present]] = block
    return mat


@cache
def _item_columns(prefix: str, numbers: tuple[int, ...]) -> list[str]:
    return [f"{prefix}_{i}" for i in numbers]


def _pick(mat: np.ndarray, numbers: tuple[int, ...], subset: tuple[int, ...]) -> np.ndarray:
    return mat[:, _positions(numbers, subset)]


@cache
def _positions(numbers: tuple[int, ...], subset: tuple[int, ...]) -> list[int]:
    pos = {n: j for j, n in enumerate(numbers)}
    return [pos[i] for i in subset]


def csi_severity(csi_total: pd.Series) -> pd.Series:
    """CSI severity band from the CSI part A total (Neblett 2017, Pain Pract).

    subclinical 0-29, mild 30-39, moderate 40-49, severe 50-59, extreme 60-100. Bands are applied by
    their lower edges so that a non-integer prorated total falls in one band without rounding
    (29.5 is subclinical, 30 is mild).

    Parameters
    ----------
    csi_total : Series
        CSI total (0-100).

    Returns
    -------
    Series
        Ordered categorical named ``"csi_severity"``, NaN where the total is NaN or negative.

    Examples
    --------
    The band edges of Neblett 2017; a prorated 29.5 is still subclinical:

    >>> csi_severity(pd.Series([29.5, 30.0, 45.0, 60.0])).tolist()
    ['subclinical', 'mild', 'moderate', 'extreme']
    """
    values = csi_total if isinstance(csi_total, pd.Series) else pd.Series(csi_total)
    edges = [float(lo) for lo, _, _ in CSI_SEVERITY_BANDS] + [math.inf]
    labels = [label for _, _, label in CSI_SEVERITY_BANDS]
    x = pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=values.index)
    return pd.cut(x, bins=edges, right=False, labels=labels, ordered=True).rename("csi_severity")


def pcs_clinically_relevant(
    pcs_total: pd.Series, scoring: QuestionnaireScoring | None = None
) -> pd.Series:
    """Clinically relevant catastrophizing: PCS total > 30 by default.

    Sources differ on ``> 30`` versus ``>= 30`` (EIH_REFERENCE.md section 4); the comparison
    follows ``scoring.pcs_clinical_cutoff`` and ``scoring.pcs_clinical_inclusive``.

    Returns
    -------
    Series
        Nullable boolean named ``"pcs_clinical"``, <NA> where the total is NaN.

    Examples
    --------
    With the default strict cut-off a total of exactly 30 is not clinically relevant:

    >>> pcs_clinically_relevant(pd.Series([30.0, 31.0, np.nan])).tolist()
    [False, True, <NA>]
    """
    scoring = scoring or QuestionnaireScoring()
    values = pcs_total if isinstance(pcs_total, pd.Series) else pd.Series(pcs_total)
    x = values.to_numpy(dtype=float, na_value=np.nan)
    cutoff = scoring.pcs_clinical_cutoff
    flag = x >= cutoff if scoring.pcs_clinical_inclusive else x > cutoff
    result = pd.array(flag, dtype="boolean")
    result[np.isnan(x)] = pd.NA
    return pd.Series(result, index=values.index, name="pcs_clinical")


def score_questionnaires(
    df: pd.DataFrame, scoring: QuestionnaireScoring | None = None
) -> pd.DataFrame:
    """Score PCS, TSK, HADS, CSI and PSEQ from item columns (or pass precomputed totals through).

    Item columns are ``{prefix}_{i}`` as in :data:`eih_ml.data.contract.QUESTIONNAIRES`. A scale is
    scored when at least one of its item columns is present; an absent item column within a
    present scale counts as a missing item on every row (so the missing-item rule still decides).
    When none of a scale's item columns is present but the precomputed total is
    (``pcs_total``, ``tsk_total``, ``hads_anxiety``, ``hads_depression``, ``csi_total``,
    ``pseq_total``), it is passed through unchanged (and ``csi_severity`` is derived from
    ``csi_total``); no ``_n_missing`` or subscale columns are produced then. When item columns are
    present, a precomputed total in ``df`` is ignored. A scale with neither produces no columns.

    Parameters
    ----------
    df : DataFrame
        Canonical study table; item values already validated (out-of-range values are the
        validator's concern; they are summed as given here).
    scoring : QuestionnaireScoring, optional
        Rules; ``QuestionnaireScoring()`` by default (see its documentation for each default and
        its source). Log ``scoring.describe()`` with the results.

    Returns
    -------
    DataFrame
        Same index as ``df``; a subset, in this order, of :data:`OUTPUT_COLUMNS`:

        ``pcs_total`` (0-52), ``pcs_rumination`` (items 8-11, 0-16), ``pcs_magnification``
        (6, 7, 13; 0-12), ``pcs_helplessness`` (1-5, 12; 0-24), ``pcs_n_missing`` (of 13);
        ``tsk_total`` (TSK-17 17-68 with items 4, 8, 12, 16 reversed as ``5 - x``, or TSK-11
        11-44), ``tsk_n_missing``; ``hads_anxiety``, ``hads_depression`` (0-21 each),
        ``hads_anxiety_n_missing``, ``hads_depression_n_missing`` (of 7); ``csi_total`` (0-100),
        ``csi_severity`` (ordered categorical, see :func:`csi_severity`), ``csi_n_missing``;
        ``pseq_total`` (0-60), ``pseq_n_missing``. Scores are float (NaN when the rule fails;
        prorated values are not rounded), counts are int64.

    Raises
    ------
    ConfigError
        ``tsk_form="tsk17"`` but the data hold only TSK-11 items (``tsk11_{i}``).
    DataError
        An item column holds non-numeric values.

    Examples
    --------
    >>> df = pd.DataFrame({f"pcs_{i}": [2.0] for i in range(1, 14)})
    >>> score_questionnaires(df)[["pcs_total", "pcs_rumination", "pcs_n_missing"]]
       pcs_total  pcs_rumination  pcs_n_missing
    0       26.0             8.0              0
    """
    out = questionnaire_arrays(FrameColumns(df), scoring)
    if "csi_total" in out:
        total = pd.Series(out["csi_total"], index=df.index)
        out["csi_severity"] = csi_severity(total).array
    return pd.DataFrame({c: out[c] for c in OUTPUT_COLUMNS if c in out}, index=df.index)


def questionnaire_arrays(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    src: Columns, scoring: QuestionnaireScoring | None = None
) -> dict[str, object]:
    """:func:`score_questionnaires` as named arrays (the arithmetic; no ``csi_severity``)."""
    scoring = scoring or QuestionnaireScoring()
    if not isinstance(scoring, QuestionnaireScoring):
        raise ConfigError(f"scoring must be a QuestionnaireScoring; got {type(scoring).__name__}")
    out: dict[str, object] = {}

    def passthrough(col: str) -> None:
        if col in src:
            out[col] = _column(src, col)

    # PCS
    pcs = _items(src, "pcs", PCS_ITEMS)
    if pcs is None:
        passthrough("pcs_total")
    else:
        out["pcs_total"], n_missing = scoring.pcs.score(pcs)
        for name, items in PCS_SUBSCALES.items():
            rule: ProrateRule = getattr(scoring, f"pcs_{name}")
            out[f"pcs_{name}"], _ = rule.score(_pick(pcs, PCS_ITEMS, items))
        out["pcs_n_missing"] = n_missing

    # TSK
    tsk17 = _items(src, "tsk", TSK17_ITEMS)
    tsk11 = _items(src, "tsk11", TSK11_ITEMS)
    tsk: np.ndarray | None = None
    if scoring.tsk_form == "tsk17":
        if tsk17 is None and tsk11 is not None:
            raise ConfigError(
                "the data hold TSK-11 items (tsk11_1..11) but no TSK-17 items, and "
                "tsk_form='tsk17'; set QuestionnaireScoring(tsk_form='tsk11')"
            )
        if tsk17 is not None:
            tsk = tsk17.copy()
            rev = [TSK17_ITEMS.index(i) for i in TSK17_REVERSED]
            tsk[:, rev] = 5.0 - tsk[:, rev]
    elif tsk11 is not None:
        tsk = tsk11
    elif tsk17 is not None:
        tsk = _pick(tsk17, TSK17_ITEMS, TSK11_FROM_TSK17)
    if tsk is None:
        passthrough("tsk_total")
    else:
        out["tsk_total"], out["tsk_n_missing"] = scoring.tsk.score(tsk)

    # HADS
    hads_numbers = tuple(range(1, 15))
    hads = _items(src, "hads", hads_numbers)
    if hads is None:
        passthrough("hads_anxiety")
        passthrough("hads_depression")
    else:
        if scoring.hads_items == "positions":
            hads = hads.copy()
            flip = [i - 1 for i in HADS_FIRST_OPTION_SCORES_3]
            hads[:, flip] = 3.0 - hads[:, flip]
        anx, anx_missing = scoring.hads_anxiety.score(_pick(hads, hads_numbers, HADS_ANXIETY_ITEMS))
        dep, dep_missing = scoring.hads_depression.score(
            _pick(hads, hads_numbers, HADS_DEPRESSION_ITEMS)
        )
        out.update(
            hads_anxiety=anx,
            hads_depression=dep,
            hads_anxiety_n_missing=anx_missing,
            hads_depression_n_missing=dep_missing,
        )

    # CSI
    csi = _items(src, "csi", CSI_ITEMS)
    if csi is None:
        passthrough("csi_total")
    else:
        out["csi_total"], out["csi_n_missing"] = scoring.csi.score(csi)

    # PSEQ
    pseq = _items(src, "pseq", PSEQ_ITEMS)
    if pseq is None:
        passthrough("pseq_total")
    else:
        out["pseq_total"], out["pseq_n_missing"] = scoring.pseq.score(pseq)
    return out
