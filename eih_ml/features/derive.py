"""``derive_features()``: the participant x session feature table with its outcome columns.

Only per-participant arithmetic runs here (nothing learned from the cohort; ARCHITECTURE.md, the
leakage rule): PPT trial means, CPM, temporal summation, questionnaire scores, protocol dose and
the EIH outcomes. Biomarker values pass through raw (value, non-detect flag, LOD): their LOD
substitution and transforms use cohort statistics and live in the model pipeline
(:class:`eih_ml.features.biomarkers.BiomarkerTransformer`).

Model feature blocks (what :func:`model_features` offers a model):

=============== ===============================================================================
block           features
=============== ===============================================================================
demographic     age, sex, bmi
clinical        condition, pain_nrs, pain_duration_months, expected_exercise_pain
qst             ppt_local_pre, ppt_remote_pre, cpm_abs, ts_diff (+ ts_ratio when singles exist)
psychological   pcs_total, tsk_total, hads_anxiety, hads_depression, csi_total, pseq_total
biomarker       every bio_{marker} (with its _nd and _lod helper columns)
protocol        exercise_modality, exercise_intensity_rel, exercise_duration_min
profile         pain_modulation_profile (CPM x TS, :mod:`eih_ml.features.profile`; off by
                default: it re-reads two QST features through fixed cut-offs)
programme       programme_modality, programme_intensity_rel, session_duration_min,
                sessions_per_week, programme_weeks, programme_minutes_per_week
                (:mod:`eih_ml.features.programme`; present when the data prescribe a programme)
acute_eih       baseline_eih_local / _remote: the acute EIH of the baseline session, a predictor
                of a programme's outcome (:mod:`eih_ml.programme`; off by default)
=============== ===============================================================================

The pain-modulation profile is always derived (it is shown with every prediction and is a
subgroup axis); it is a model feature only when its block is switched on.

Post-exercise PPTs and every outcome column are never features.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from eih_ml.data import contract
from eih_ml.features.columns import ArrayColumns
from eih_ml.features.profile import (
    COLUMN as PROFILE,
)
from eih_ml.features.profile import (
    ProfileRule,
    pain_modulation_profile,
    profile_array,
)
from eih_ml.features.programme import PROGRAMME_FEATURES, programme_arrays
from eih_ml.features.protocol import RpeScale, protocol_arrays, protocol_features
from eih_ml.features.qst import (
    cpm_arrays,
    cpm_features,
    ppt_mean_arrays,
    ppt_means,
    ts_arrays,
    ts_features,
)
from eih_ml.features.questionnaires import (
    QuestionnaireScoring,
    questionnaire_arrays,
    score_questionnaires,
)
from eih_ml.outcomes import eih_outcomes

#: The feature block fitted inside the pipeline rather than read from the derived table.
LEARNED_BLOCK = "phenotype"

BLOCKS: dict[str, tuple[str, ...]] = {
    "demographic": ("age", "sex", "bmi"),
    "clinical": ("condition", "pain_nrs", "pain_duration_months", "expected_exercise_pain"),
    "qst": ("ppt_local_pre", "ppt_remote_pre", "cpm_abs", "ts_diff", "ts_ratio"),
    "psychological": (
        "pcs_total",
        "tsk_total",
        "hads_anxiety",
        "hads_depression",
        "csi_total",
        "pseq_total",
    ),
    "biomarker": (),  # every bio_{marker} present
    "protocol": ("exercise_modality", "exercise_intensity_rel", "exercise_duration_min"),
    "profile": (PROFILE,),
    "programme": PROGRAMME_FEATURES,
    # The acute EIH of the baseline session as a predictor of a programme's outcome (only for
    # programme outcomes: eih_ml.programme); never a feature of an acute-EIH model.
    "acute_eih": ("baseline_eih_local", "baseline_eih_remote"),
}
CATEGORICAL = ("sex", "condition", "exercise_modality", PROFILE, "programme_modality")
_PASS_THROUGH = (
    "age",
    "sex",
    "bmi",
    "condition",
    "pain_nrs",
    "pain_duration_months",
    "expected_exercise_pain",
)


def derive_features(
    data: pd.DataFrame,
    *,
    scoring: QuestionnaireScoring | None = None,
    ts_last_index: int | None = None,
    rpe_scale: RpeScale = "borg_6_20",
    profile: ProfileRule | None = None,
) -> pd.DataFrame:
    """Turn a validated canonical table into features and outcomes.

    Parameters
    ----------
    data : pandas.DataFrame
        ``CohortReport.data`` (typed canonical columns; index = source row).
    scoring : QuestionnaireScoring, optional
        Missing-item rules and questionnaire forms (defaults documented there).
    ts_last_index : int, optional
        Last stimulus used by temporal-summation metrics (default: the last of the train).
    rpe_scale : {"borg_6_20", "cr10"}
        How RPE intensities are normalised.
    profile : ProfileRule, optional
        Cut-offs of the pain-modulation profile (defaults documented there).

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``session_id``, demographic and clinical fields, PPT trial means
        (with trial counts and single-trial flags), CPM, TS, questionnaire scores (with missing
        item counts), protocol features, raw biomarker columns and the EIH outcome columns.
    """
    ids = data[
        [*contract.ID_COLUMNS, *(c for c in contract.LABEL_COLUMNS if c in data.columns)]
    ].astype("string")
    base = data[[c for c in _PASS_THROUGH if c in data.columns]]
    ppt = ppt_means(data)
    parts = [
        ids,
        base,
        ppt,
        cpm_features(data),
        ts_features(data, last_index=ts_last_index) if _has(data.columns, "ts_rating_") else None,
        score_questionnaires(_without_passed_totals(data), scoring),
        protocol_features(data, rpe_scale),
        _programme_frame(data, rpe_scale),
        data[_biomarker_inputs(list(data.columns))],
        eih_outcomes(ppt),
    ]
    table = pd.concat([p for p in parts if p is not None and p.shape[1]], axis=1)
    table = table.loc[:, ~table.columns.duplicated()]
    table[PROFILE] = pain_modulation_profile(table, profile)
    return table


def feature_arrays(
    src: ArrayColumns,
    *,
    scoring: QuestionnaireScoring | None = None,
    ts_last_index: int | None = None,
    rpe_scale: RpeScale = "borg_6_20",
    profile: ProfileRule | None = None,
) -> dict[str, np.ndarray]:
    """The features of :func:`derive_features` from typed arrays, without ids or outcomes.

    For the few patients of one prediction (the short way of :meth:`eih_ml.bundle.ModelBundle.predict`):
    the same formulas (the ``*_arrays`` functions behind each DataFrame function), the same
    parts in the same order, and as there the first part to name a column keeps it; no
    DataFrame is built. Categories stay object arrays (NaN for missing).
    """
    arrays = src.arrays
    parts: list[dict] = [
        {c: arrays[c] for c in _PASS_THROUGH if c in src},
        ppt_mean_arrays(src),
        cpm_arrays(src),
        ts_arrays(src, last_index=ts_last_index) if _has(src.names, "ts_rating_") else {},
        questionnaire_arrays(src, scoring),
        protocol_arrays(src, rpe_scale),
        programme_arrays(src, rpe_scale),
        {c: arrays[c] for c in _biomarker_inputs(src.names)},
    ]
    out: dict[str, np.ndarray] = {}
    for part in parts:
        for name, values in part.items():
            out.setdefault(name, values)
    for col in ("exercise_modality", "programme_modality"):  # the values, not comparison labels
        if col in src:
            out[col] = arrays[col]
    out[PROFILE] = profile_array(out.get("cpm_abs"), out.get("ts_diff"), profile)
    if len(out[PROFILE]) != src.n:  # neither measure: every row not assessable
        out[PROFILE] = np.full(src.n, "not_assessable", dtype=object)
    return out


def _programme_frame(data: pd.DataFrame, rpe_scale: RpeScale) -> pd.DataFrame | None:
    """The programme features as a frame (None when the table has no programme columns)."""
    from eih_ml.features.columns import FrameColumns

    out = programme_arrays(FrameColumns(data), rpe_scale)
    if not out:
        return None
    if "programme_modality" in out:
        out["programme_modality"] = data["programme_modality"].astype("string")
    return pd.DataFrame(out, index=data.index)


def _has(columns: Iterable[str], prefix: str) -> bool:
    return any(c.startswith(prefix) for c in columns)


def _without_passed_totals(data: pd.DataFrame) -> pd.DataFrame:
    """Scoring reads items, or passes precomputed totals through: give it only those columns."""
    keep = [
        c
        for c in data.columns
        if (s := contract.spec_for(c)) is not None
        and s.block in ("questionnaire", "questionnaire_total")
    ]
    return data[keep]


def _biomarker_inputs(columns: list[str]) -> list[str]:
    present = set(columns)
    cols = []
    for m in contract.biomarker_columns(columns):
        cols += [
            c
            for c in (m, m + contract.BIOMARKER_ND_SUFFIX, m + contract.BIOMARKER_LOD_SUFFIX)
            if c in present
        ]
    return cols


def model_features(
    table: pd.DataFrame,
    blocks: dict[str, bool] | None = None,
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """Feature columns offered to a model: the enabled blocks' features present in ``table``.

    A column with no observed value is left out. Outcome columns and post-exercise PPTs are
    never returned, whatever ``include`` says. A biomarker's helper columns (``bio_{m}_nd``,
    ``bio_{m}_lod``, read by :class:`~eih_ml.features.biomarkers.BiomarkerTransformer`) travel
    with its value column: they follow it when it is included and go when it is left out.
    """
    if not blocks:  # the config's defaults: the one declaration of which blocks are on
        from eih_ml.config import BlocksConfig

        blocks = BlocksConfig().model_dump()
    # features.blocks.phenotype is learned inside the pipeline (eih_ml.phenotypes), not read
    # from the table: it adds no column here.
    blocks = {b: on for b, on in blocks.items() if b != LEARNED_BLOCK}
    unknown = set(blocks) - set(BLOCKS)
    if unknown:
        from eih_ml.errors import ConfigError

        raise ConfigError(
            f"Unknown feature block(s) {', '.join(sorted(unknown))}; blocks: {', '.join(BLOCKS)}."
        )
    chosen: list[str] = []
    for block, on in blocks.items():
        if not on:
            continue
        if block == "biomarker":
            chosen += _biomarker_inputs(list(table.columns))
        else:
            chosen += [c for c in BLOCKS[block] if c in table.columns]
    chosen += [c for c in include if c in table.columns]
    chosen = list(dict.fromkeys(chosen))  # each feature once, in first-seen order
    forbidden = {
        c for c in table.columns if c.startswith(("eih_", "rest_change_", "followup_"))
    } | {c for c in table.columns if c.startswith("ppt_") and "_post" in c}
    forbidden |= set(contract.ID_COLUMNS) | set(contract.LABEL_COLUMNS)
    out = [c for c in chosen if c not in exclude and c not in forbidden]
    out = [c for c in out if table[c].notna().any()]
    helpers = (contract.BIOMARKER_ND_SUFFIX, contract.BIOMARKER_LOD_SUFFIX)
    markers = set(contract.biomarker_columns(out))
    result: list[str] = []
    for c in out:
        if c.startswith("bio_") and c.endswith(helpers):
            continue  # added right after its marker, below
        result.append(c)
        if c in markers:
            result += [
                h
                for h in (c + helpers[0], c + helpers[1])
                if h in table.columns and h not in exclude and table[h].notna().any()
            ]
    return result


def block_of(feature: str) -> str | None:
    """The block a model feature belongs to (biomarker helper columns: biomarker)."""
    if feature.startswith("bio_"):
        return "biomarker"
    for block, cols in BLOCKS.items():
        if feature in cols:
            return block
    return None
