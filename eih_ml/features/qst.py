"""Quantitative sensory testing (QST) features: per-participant arithmetic only.

Every function here is a pure, vectorised, row-wise transformation of a canonical study table
(see :mod:`eih_ml.data.contract`): nothing is learned from other rows, so the functions may run
before cross-validation (the leakage rule in ``ARCHITECTURE.md``). Each returns a DataFrame with the
input's index. The arithmetic lives in the ``*_arrays`` functions, which read a
:class:`~eih_ml.features.columns.Columns` and return named arrays: the DataFrame functions and the
few-patient prediction path (:mod:`eih_ml.explain.fast_rows`) both call them.

Conventions shared by all functions
-----------------------------------
* **Positive = inhibition / hypoalgesia** (``EIH_REFERENCE.md``, preamble and section 2).
* **A value that cannot be computed is NaN, never 0.** Missing trials are skipped when averaging;
  a mean over zero available trials is NaN.
* **Absent input columns produce no output**: a function returns only the columns whose inputs are
  present in the table (an empty DataFrame with the input's index when there are none). A column
  that is present but empty on a row gives NaN on that row.

Functions
---------
ppt_means
    Pressure pain threshold (PPT) trial means per site and phase, with a trial count and a
    single-trial flag (Mailloux 2021).
cpm_features
    Conditioned pain modulation (CPM): test-stimulus means before and during conditioning, CPM in
    absolute and percent terms, optionally sham-corrected.
cpm_label
    "efficient" / "impaired" CPM labels under a named rule, with the threshold recorded.
ts_features
    Temporal summation (TS): difference, peak over nadir, wind-up ratio and slope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from eih_ml.data.contract import PPT_PHASES, SITES, indexed_columns, ppt_columns
from eih_ml.errors import ConfigError
from eih_ml.features.columns import Columns, FrameColumns

__all__ = [
    "CPM_RULES",
    "CpmLabel",
    "CpmRule",
    "cpm_features",
    "cpm_label",
    "ppt_means",
    "ts_features",
]

CpmRule = Literal["zero", "sem", "2sem", "reference"]

#: CPM labelling rules accepted by :func:`cpm_label`, with the source of each threshold.
CPM_RULES: dict[str, str] = {
    "zero": "efficient when cpm_abs > 0",
    "sem": "efficient when cpm_abs > 1 SEM; SEM = SD x sqrt(1 - ICC) (textbook psychometrics)",
    "2sem": "efficient when cpm_abs > 2 SEM (Kemp 2020, J Pain 21:708)",
    "reference": (
        "efficient when cpm_abs > a reference-percentile value given by the user "
        "(Schliessbach 2019, Scand J Pain)"
    ),
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _row_mean(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the available (non-NaN) values per row and their count; NaN where none."""
    ok = ~np.isnan(mat)
    n = ok.sum(axis=1)
    total = np.where(ok, mat, 0.0).sum(axis=1)
    mean = np.divide(total, n, out=np.full(len(mat), np.nan), where=n > 0)
    return mean, n


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with NaN (not inf, no warning) where ``den`` is 0 or NaN."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    ok = np.isfinite(den) & (den != 0)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=ok)


# --------------------------------------------------------------------------------------------
# PPT
# --------------------------------------------------------------------------------------------


def ppt_means(df: pd.DataFrame) -> pd.DataFrame:
    """Pressure pain threshold (PPT) trial means per site and phase.

    For every (site, phase) that has trial columns ``ppt_{site}_{phase}_{k}`` in ``df`` (site
    ``local``/``remote``; phase ``pre``/``post``/``rest_pre``/``rest_post``), three columns:

    ``ppt_{site}_{phase}``
        Mean of the available trials (kPa); NaN when no trial is available.
    ``ppt_{site}_{phase}_n_trials``
        Number of available trials (int, 0 when none).
    ``ppt_{site}_{phase}_single_trial``
        True when the mean rests on exactly one trial. Mailloux 2021 (PLOS ONE e0245278) found
        that averaging two or more trials reduces measurement error, so a single-trial value is
        flagged, not discarded (``EIH_REFERENCE.md`` section 1).

    Parameters
    ----------
    df : DataFrame
        Canonical study table (one row per participant x session), PPT trials in kPa.

    Returns
    -------
    DataFrame
        Same index as ``df``. Groups are ordered by site then phase as in
        :data:`eih_ml.data.contract.SITES` and :data:`~eih_ml.data.contract.PPT_PHASES`. Sites and
        phases without trial columns produce no columns.

    Examples
    --------
    >>> df = pd.DataFrame({"ppt_local_pre_1": [300.0, 250.0], "ppt_local_pre_2": [320.0, None]})
    >>> ppt_means(df)
       ppt_local_pre  ppt_local_pre_n_trials  ppt_local_pre_single_trial
    0          310.0                       2                       False
    1          250.0                       1                        True
    """
    return pd.DataFrame(ppt_mean_arrays(FrameColumns(df)), index=df.index)


def ppt_mean_arrays(src: Columns) -> dict[str, np.ndarray]:
    """:func:`ppt_means` as named arrays (the arithmetic)."""
    groups = ppt_columns(src.names)
    out: dict[str, np.ndarray] = {}
    for site in SITES:
        for phase in PPT_PHASES:
            cols = groups.get((site, phase))
            if not cols:
                continue
            mean, n = _row_mean(src.floats(cols))
            name = f"ppt_{site}_{phase}"
            out[name] = mean
            out[f"{name}_n_trials"] = n.astype(np.int64)
            out[f"{name}_single_trial"] = n == 1
    return out


# --------------------------------------------------------------------------------------------
# CPM
# --------------------------------------------------------------------------------------------


def _cpm_change(
    before: np.ndarray, during: np.ndarray, is_threshold: np.ndarray, is_rating: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """CPM absolute and percent change with positive = inhibition, by test-stimulus type."""
    change = np.full(len(before), np.nan)
    change = np.where(is_threshold, during - before, change)
    change = np.where(is_rating, before - during, change)
    return change, 100.0 * _safe_divide(change, before)


def cpm_features(df: pd.DataFrame, sham: bool | None = None) -> pd.DataFrame:
    """Conditioned pain modulation (CPM) with positive = inhibition.

    The test stimulus is measured before and during (parallel design) or after (sequential design)
    a conditioning stimulus; the contract stores both as ``cpm_test_before_{k}`` and
    ``cpm_test_during_{k}`` (trials ``k``), and the type of test stimulus per row in
    ``cpm_test_type`` (``"threshold"`` or ``"rating"``). Parallel and sequential designs give
    similar effects (Reezigt 2021, PeerJ 9:e12330).

    Formulas (``EIH_REFERENCE.md`` section 2), positive = inhibition:

    ============================ ======================== ======================================
    test stimulus                ``cpm_abs``              ``cpm_pct``
    ============================ ======================== ======================================
    threshold (PPT, kPa)         ``during - before``      ``100 x (during - before) / before``
    rating of a fixed stimulus   ``before - during``      ``100 x (before - during) / before``
    ============================ ======================== ======================================

    **Sign conversion.** Yarnitsky 2015 (as cited in the reference) reports rating-based CPM as
    ``during - before``, where a *negative* value means inhibition. This toolkit stores every CPM
    with positive = inhibition, so values computed in that convention must be negated on import
    (this function does it for raw trials: a rating that falls from 60 to 45 gives
    ``cpm_abs = +15``).

    Parameters
    ----------
    df : DataFrame
        Canonical study table.
    sham : bool or None, default None
        Sham-corrected CPM (real minus sham conditioning, e.g. a lukewarm water bath; Hau et al.)
        from ``cpm_sham_before_{k}`` / ``cpm_sham_during_{k}``, with the same test-stimulus type as
        the real test. ``None``: computed when those columns are present. ``True``: required;
        :class:`~eih_ml.errors.ConfigError` if the columns are absent. ``False``: never computed.

    Returns
    -------
    DataFrame
        Same index as ``df``; each column only when its inputs are present:

        ``cpm_test_before``, ``cpm_test_during``
            Mean of the available trials (NaN when none).
        ``cpm_abs``, ``cpm_pct``
            Need both means and the ``cpm_test_type`` column. NaN where a mean is missing, where
            ``cpm_test_type`` is missing or not one of ``"threshold"``/``"rating"``, and (for
            ``cpm_pct``) where ``before`` is 0.
        ``cpm_sham_before``, ``cpm_sham_during``, ``cpm_sham_abs``, ``cpm_sham_corrected_abs``
            Sham means, sham CPM with the same sign rule, and
            ``cpm_sham_corrected_abs = cpm_abs - cpm_sham_abs``.

    Raises
    ------
    ConfigError
        ``sham=True`` but the sham columns are absent.

    Notes
    -----
    ``cpm_abs`` is in the unit of the test stimulus: kPa on threshold rows, rating points on rating
    rows. A cohort that mixes test types therefore mixes units in ``cpm_abs``; ``cpm_pct`` is
    unitless.

    Examples
    --------
    >>> df = pd.DataFrame({
    ...     "cpm_test_before_1": [300.0, 60.0], "cpm_test_during_1": [360.0, 45.0],
    ...     "cpm_test_type": ["threshold", "rating"]})
    >>> cpm_features(df)[["cpm_abs", "cpm_pct"]]
       cpm_abs  cpm_pct
    0     60.0     20.0
    1     15.0     25.0
    """
    return pd.DataFrame(cpm_arrays(FrameColumns(df), sham), index=df.index)


def cpm_arrays(src: Columns, sham: bool | None = None) -> dict[str, np.ndarray]:
    """:func:`cpm_features` as named arrays (the arithmetic)."""
    columns = src.names
    out: dict[str, np.ndarray] = {}

    has_type = "cpm_test_type" in src
    if has_type:
        type_col = src.labels("cpm_test_type")
        is_threshold = type_col == "threshold"
        is_rating = type_col == "rating"

    def means(kind: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        res: list[np.ndarray | None] = []
        for when in ("before", "during"):
            cols = indexed_columns(columns, f"cpm_{kind}_{when}")
            if cols:
                mean, _ = _row_mean(src.floats(cols))
                out[f"cpm_{kind}_{when}"] = mean
                res.append(mean)
            else:
                res.append(None)
        return res[0], res[1]

    before, during = means("test")
    cpm_abs = None
    if before is not None and during is not None and has_type:
        cpm_abs, cpm_pct = _cpm_change(before, during, is_threshold, is_rating)
        out["cpm_abs"] = cpm_abs
        out["cpm_pct"] = cpm_pct

    has_sham = bool(
        indexed_columns(columns, "cpm_sham_before") or indexed_columns(columns, "cpm_sham_during")
    )
    if sham is True and not has_sham:
        raise ConfigError(
            "sham=True needs sham CPM columns cpm_sham_before_{k} and cpm_sham_during_{k}; "
            "found none. Add the columns or use sham=None (compute when present) or sham=False"
        )
    if sham is not False and has_sham:
        sham_before, sham_during = means("sham")
        if sham_before is not None and sham_during is not None and has_type:
            sham_abs, _ = _cpm_change(sham_before, sham_during, is_threshold, is_rating)
            out["cpm_sham_abs"] = sham_abs
            if cpm_abs is not None:
                out["cpm_sham_corrected_abs"] = cpm_abs - sham_abs
    return out


@dataclass(frozen=True, eq=False)
class CpmLabel:
    """CPM labels with the rule and the threshold actually used.

    Attributes
    ----------
    labels : Series
        ``"efficient"`` where ``cpm_abs > threshold``, ``"impaired"`` otherwise (a value equal to
        the threshold is impaired), NaN where ``cpm_abs`` is NaN. Object dtype.
    rule : str
        One of :data:`CPM_RULES`.
    threshold : float
        The cut-off in the unit of ``cpm_abs`` (positive = inhibition).
    sem : float or None
        The standard error of measurement used by the ``sem`` / ``2sem`` rules.
    """

    labels: pd.Series
    rule: str
    threshold: float
    sem: float | None = None

    def describe(self) -> dict[str, object]:
        """Loggable record of the rule, threshold and counts."""
        counts = self.labels.value_counts()
        return {
            "rule": self.rule,
            "rule_definition": CPM_RULES[self.rule],
            "threshold": self.threshold,
            "sem": self.sem,
            "n_efficient": int(counts.get("efficient", 0)),
            "n_impaired": int(counts.get("impaired", 0)),
            "n_missing": int(self.labels.isna().sum()),
        }

    def __repr__(self) -> str:
        d = self.describe()
        return (
            f"<CpmLabel: rule={self.rule!r}, threshold={self.threshold:g}, "
            f"{d['n_efficient']} efficient, {d['n_impaired']} impaired, {d['n_missing']} missing>"
        )


def _finite_param(name: str, value: object, *, lo: float, hi: float = math.inf) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and lo <= v <= hi):
        bound = f"between {lo:g} and {hi:g}" if math.isfinite(hi) else f">= {lo:g}"
        raise ConfigError(f"{name} must be a finite number {bound}; got {value!r}")
    return v


def cpm_label(
    cpm_abs: pd.Series,
    rule: CpmRule,
    *,
    sem: float | None = None,
    sd: float | None = None,
    icc: float | None = None,
    reference_cutoff: float | None = None,
) -> CpmLabel:
    """Label CPM "efficient" or "impaired" under a named rule.

    A participant is *efficient* when ``cpm_abs > threshold`` (positive = inhibition), otherwise
    *impaired*; NaN stays NaN. Rules (``EIH_REFERENCE.md`` section 2):

    ``"zero"``
        threshold 0. Schliessbach 2019 (Scand J Pain) found most pain-free reference percentiles
        negative, so this rule over-labels "impaired".
    ``"sem"``
        threshold = 1 SEM, ``SEM = SD x sqrt(1 - ICC)`` (textbook psychometrics).
    ``"2sem"``
        threshold = 2 SEM, as Kemp 2020 (J Pain 21:708) for CPM.
    ``"reference"``
        threshold = ``reference_cutoff``, a reference-percentile value chosen by the user
        (Schliessbach 2019), in the unit and sign convention of ``cpm_abs``: a cut-off published
        as ``during - before`` for ratings must be negated first.

    Parameters
    ----------
    cpm_abs : Series
        CPM, positive = inhibition (``cpm_features(...)["cpm_abs"]``). Array-likes are accepted.
    rule : {"zero", "sem", "2sem", "reference"}
        Labelling rule.
    sem : float, optional
        Standard error of measurement, for ``"sem"`` / ``"2sem"``. Give either ``sem`` or both
        ``sd`` and ``icc``.
    sd, icc : float, optional
        Between-subject SD of CPM and its test-retest ICC (0-1); ``SEM = sd x sqrt(1 - icc)``.
        Take them from a reliability study, not from the cohort being modelled: a threshold
        estimated from the cohort must be learned inside the cross-validation pipeline.
    reference_cutoff : float, optional
        Threshold for ``"reference"``.

    Returns
    -------
    CpmLabel
        Labels (Series named ``"cpm_label"``, same index) plus ``rule``, ``threshold`` and ``sem``.

    Raises
    ------
    ConfigError
        Unknown rule, a required parameter missing (named in the message), a parameter the rule
        does not use, or a parameter out of range.

    Examples
    --------
    >>> cpm_label(pd.Series([5.0, 12.0, None]), "2sem", sem=5.0)
    <CpmLabel: rule='2sem', threshold=10, 1 efficient, 1 impaired, 1 missing>
    """
    if rule not in CPM_RULES:
        raise ConfigError(f"unknown CPM rule {rule!r}; expected one of {sorted(CPM_RULES)}")
    given = {
        name: value
        for name, value in (
            ("sem", sem),
            ("sd", sd),
            ("icc", icc),
            ("reference_cutoff", reference_cutoff),
        )
        if value is not None
    }
    allowed = {"zero": set(), "sem": {"sem", "sd", "icc"}, "2sem": {"sem", "sd", "icc"}}.get(
        rule, {"reference_cutoff"}
    )
    unused = sorted(set(given) - allowed)
    if unused:
        raise ConfigError(
            f"rule {rule!r} does not use {', '.join(unused)}; remove them "
            f"(rule {rule!r} takes {', '.join(sorted(allowed)) or 'no parameters'})"
        )

    used_sem: float | None = None
    if rule == "zero":
        threshold = 0.0
    elif rule == "reference":
        if reference_cutoff is None:
            raise ConfigError("rule 'reference' needs reference_cutoff (a reference percentile)")
        threshold = _finite_param("reference_cutoff", reference_cutoff, lo=-math.inf)
    else:
        if sem is not None:
            if sd is not None or icc is not None:
                raise ConfigError(f"rule {rule!r}: give either sem or both sd and icc, not both")
            used_sem = _finite_param("sem", sem, lo=0.0)
        else:
            missing = [n for n, v in (("sd", sd), ("icc", icc)) if v is None]
            if missing:
                raise ConfigError(
                    f"rule {rule!r} needs sem, or sd and icc (SEM = sd x sqrt(1 - icc)); "
                    f"missing: {', '.join(['sem', *missing])}"
                )
            sd_v = _finite_param("sd", sd, lo=0.0)
            icc_v = _finite_param("icc", icc, lo=0.0, hi=1.0)
            used_sem = sd_v * math.sqrt(1.0 - icc_v)
        threshold = (2.0 if rule == "2sem" else 1.0) * used_sem

    values = cpm_abs if isinstance(cpm_abs, pd.Series) else pd.Series(cpm_abs)
    x = values.to_numpy(dtype=float, na_value=np.nan)
    lab = np.where(x > threshold, "efficient", "impaired").astype(object)
    lab[np.isnan(x)] = np.nan
    labels = pd.Series(lab, index=values.index, dtype=object, name="cpm_label")
    return CpmLabel(labels=labels, rule=rule, threshold=float(threshold), sem=used_sem)


# --------------------------------------------------------------------------------------------
# Temporal summation
# --------------------------------------------------------------------------------------------


def ts_features(df: pd.DataFrame, last_index: int | None = None) -> pd.DataFrame:
    """Temporal summation (TS) of a train of ratings ``ts_rating_1..N``.

    Ratings are ordered by their stimulus index ``k`` (``contract.indexed_columns``). The train
    runs from the lowest index present ("first", normally 1) to ``last_index`` (default: the
    highest index present). Metrics (``EIH_REFERENCE.md`` section 3):

    ``ts_diff`` (default metric)
        ``last - first``, e.g. 10th - 1st. Staud 2014 uses 5th - 1st: pass ``last_index=5``.
    ``ts_peak_nadir``
        ``last - min(ratings first..last)``.
    ``ts_ratio``
        ``mean(train ratings) / mean(ts_single_{k})``: the DFNS wind-up ratio, **(check)** -- the
        DFNS protocol rates 5 trains of 10 pinpricks against 5 single stimuli; here the train
        mean is the mean of the per-stimulus ratings ``first..last``. NaN where no single rating
        is available or their mean is 0.
    ``ts_slope``
        OLS slope of rating on stimulus index ``k``, using the available ratings ``first..last``
        (rating units per stimulus); NaN with fewer than 2 ratings.

    **Missing ratings.** ``ts_diff`` and ``ts_peak_nadir`` are NaN when the first or the last rating
    of the train is missing: substituting a neighbouring stimulus would silently change the metric.
    Missing middle ratings are skipped (by the minimum, the mean and the slope, which regresses on
    the true indices of the available ratings).

    Parameters
    ----------
    df : DataFrame
        Canonical study table with ``ts_rating_{k}`` and optionally ``ts_single_{k}`` columns.
    last_index : int, optional
        Index of the last rating of the train; ratings after it are ignored by every metric. Must
        be one of the ``ts_rating_{k}`` indices present and greater than the first.

    Returns
    -------
    DataFrame
        Same index as ``df``: ``ts_diff``, ``ts_peak_nadir``, ``ts_slope`` when rating columns are
        present, and ``ts_ratio`` when single-stimulus columns are present too. No columns without
        ``ts_rating_{k}``.

    Raises
    ------
    ConfigError
        ``last_index`` is not an index present in the data, or not after the first.

    Examples
    --------
    >>> df = pd.DataFrame({"ts_rating_1": [1.0], "ts_rating_2": [2.0], "ts_rating_3": [3.0]})
    >>> ts_features(df)
       ts_diff  ts_peak_nadir  ts_slope
    0      2.0            2.0       1.0
    """
    return pd.DataFrame(ts_arrays(FrameColumns(df), last_index), index=df.index)


def ts_arrays(src: Columns, last_index: int | None = None) -> dict[str, np.ndarray]:
    """:func:`ts_features` as named arrays (the arithmetic)."""
    columns = src.names
    rating_cols = indexed_columns(columns, "ts_rating")
    if not rating_cols:
        return {}
    ks = [int(c.rsplit("_", 1)[1]) for c in rating_cols]
    if last_index is not None:
        if isinstance(last_index, bool) or not isinstance(last_index, int | np.integer):
            raise ConfigError(f"last_index must be an integer; got {last_index!r}")
        if last_index not in ks or last_index <= ks[0]:
            raise ConfigError(
                f"last_index={last_index} must be one of the ts_rating indices present after the "
                f"first ({ks[0]}); found indices {ks}"
            )
        keep = [i for i, k in enumerate(ks) if k <= last_index]
        rating_cols = [rating_cols[i] for i in keep]
        ks = [ks[i] for i in keep]

    ratings = src.floats(rating_cols)
    n_rows = src.n
    first = ratings[:, 0]
    last = ratings[:, -1]
    ends_ok = ~np.isnan(first) & ~np.isnan(last) & (len(ks) > 1)
    ok = ~np.isnan(ratings)

    nadir = np.where(ok, ratings, np.inf).min(axis=1)
    nan = np.full(n_rows, np.nan)
    out: dict[str, np.ndarray] = {
        "ts_diff": np.where(ends_ok, last - first, nan),
        "ts_peak_nadir": np.where(ends_ok, last - nadir, nan),
    }

    # Vectorised OLS slope over the available points of each row.
    x = np.asarray(ks, dtype=float)
    n = ok.sum(axis=1)
    y = np.where(ok, ratings, 0.0)
    x_mean = np.divide(np.where(ok, x, 0.0).sum(axis=1), n, out=nan.copy(), where=n > 0)
    y_mean = np.divide(y.sum(axis=1), n, out=nan.copy(), where=n > 0)
    # rows without ratings have NaN means, but no available point to read them: 0 there
    dx = np.where(ok, x - x_mean[:, None], 0.0)
    dy = np.where(ok, y - y_mean[:, None], 0.0)
    sxx = (dx * dx).sum(axis=1)
    out["ts_slope"] = np.divide((dx * dy).sum(axis=1), sxx, out=nan.copy(), where=n >= 2)

    single_cols = indexed_columns(columns, "ts_single")
    if single_cols:
        single_mean, _ = _row_mean(src.floats(single_cols))
        out["ts_ratio"] = _safe_divide(y_mean, single_mean)
    order = ["ts_diff", "ts_peak_nadir", "ts_ratio", "ts_slope"]
    return {k: out[k] for k in order if k in out}
