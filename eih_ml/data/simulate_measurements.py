"""Measurement models: what a study observes of the simulated truth.

Steps 5-7 of the generative model described in :mod:`eih_ml.data.simulate`:

* **QST**: PPT trials with log-normal trial noise before and after the exercise and the quiet
  rest, CPM with a PPT test stimulus, and temporal summation ratings;
* **questionnaires**: item answers from graded-response models on the latent traits (PCS, TSK-17
  with its reverse-keyed items, HADS, CSI, PSEQ), with missing items and questionnaires;
* **biomarkers**: the log-normal panel of :data:`BIOMARKER_PANEL` with limits of detection,
  carrying EIH signal only in a scenario with ``biomarker_signal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from eih_ml.data.contract import PPT_RANGE, QUESTIONNAIRES
from eih_ml.data.simulate_arrays import Arrays, logistic
from eih_ml.data.simulate_scenarios import Scenario

__all__ = ["BIOMARKER_PANEL"]

# --------------------------------------------------------------------------------------------------
# Observed QST
# --------------------------------------------------------------------------------------------------


def _trials(
    level: np.ndarray, n_trials: np.ndarray, k: int, scen: Scenario, rng: np.random.Generator
) -> np.ndarray:
    """``k`` PPT trials (kPa, one decimal) around ``level``; trials beyond ``n_trials`` are NaN."""
    noise = np.exp(rng.normal(0.0, scen.ppt_trial_log_sd, (level.size, k)))
    values = np.round(np.clip(level[:, None] * noise, 20.0, PPT_RANGE[1] - 50.0), 1)
    values[np.arange(1, k + 1)[None, :] > n_trials[:, None]] = np.nan
    return values


def ppt_columns(
    people: Arrays, sessions: Arrays, eih: Arrays, scen: Scenario, rng: np.random.Generator
) -> Arrays:
    """PPT trials before and after the exercise and, in some sessions, before and after rest.

    Post = pre level + realised EIH (never below 30 % of pre); trials add log-normal noise.
    """
    p, n_trials, day = sessions["person"], sessions["n_trials"], sessions["ppt_day"]
    rest_trials = np.where(sessions["has_rest"], n_trials, 0)
    cols: Arrays = {}
    for j, site in enumerate(("local", "remote")):
        base = people[f"ppt_{site}_true"][p]
        pre, rest_pre = base * day[:, j], base * day[:, j + 2]
        levels = {
            "pre": (pre, n_trials),
            "post": (np.maximum(pre + eih[f"realised_{site}"], 0.3 * pre), n_trials),
            "rest_pre": (rest_pre, rest_trials),
            "rest_post": (np.maximum(rest_pre + eih[f"rest_{site}"], 0.3 * rest_pre), rest_trials),
        }
        for phase, (level, count) in levels.items():
            values = _trials(level, count, 3, scen, rng)
            cols |= {f"ppt_{site}_{phase}_{k + 1}": values[:, k] for k in range(3)}
    return cols


def cpm_columns(
    people: Arrays, sessions: Arrays, scen: Scenario, rng: np.random.Generator
) -> tuple[Arrays, np.ndarray]:
    """CPM with a PPT test stimulus, in every session before the exercise.

    Two trials before and two during conditioning (parallel design; Reezigt 2021). Returns the
    columns and the true relative CPM effect of each session.
    """
    p = sessions["person"]
    m = p.size
    rel = (
        scen.cpm_mean
        + scen.cpm_efficiency_sd * people["latent_cpm_efficiency"][p]
        + rng.normal(0.0, scen.cpm_session_sd, m)
    )
    before = people["ppt_cpm_true"][p] * sessions["ppt_day"][:, 1]
    two = np.full(m, 2)
    b = _trials(before, two, 2, scen, rng)
    d = _trials(before * np.maximum(1.0 + rel, 0.5), two, 2, scen, rng)
    cols = {f"cpm_test_before_{k + 1}": b[:, k] for k in range(2)}
    cols |= {f"cpm_test_during_{k + 1}": d[:, k] for k in range(2)}
    return cols, rel


def ts_columns(
    people: Arrays, sessions: Arrays, scen: Scenario, rng: np.random.Generator
) -> Arrays:
    """Temporal summation: a train of 10 ratings and, for part of the participants, 5 single ones.

    The train's ratings (0-100) rise from ``first`` towards ``first + increase``; the five
    single-stimulus ratings give the wind-up ratio (DFNS). First rating and increase are
    log-normal in S and F.
    """
    p = sessions["person"]
    m = p.size
    first = scen.ts_first_mean * np.exp(
        0.3 * people["latent_sensitivity"][p] + rng.normal(0.0, 0.3, m)
    )
    increase = scen.ts_increase_mean * np.exp(
        0.45 * people["latent_ts_facilitation"][p] + rng.normal(0.0, 0.35, m)
    )
    shape = 1.0 - np.exp(-np.arange(10) / 3.0)
    shape /= shape[-1]
    train = first[:, None] + increase[:, None] * shape[None, :] + rng.normal(0.0, 4.0, (m, 10))
    train = np.clip(np.round(train), 0, 100)
    single = np.clip(np.round(first[:, None] + rng.normal(0.0, 5.0, (m, 5))), 0, 100)
    has_single = rng.random(people["age"].size) < scen.ts_single_fraction
    single[~has_single[p]] = np.nan
    cols = {f"ts_rating_{k + 1}": train[:, k] for k in range(10)}
    cols |= {f"ts_single_{k + 1}": single[:, k] for k in range(5)}
    return cols


# --------------------------------------------------------------------------------------------------
# Questionnaires: graded-response item models
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemModel:
    """Graded-response model of one questionnaire (Samejima): P(Y >= k) = logistic(a(theta - b_k)).

    ``b_k = location + offset_j + spread * linspace(-1, 1, K)``, item offsets follow a fixed
    deterministic pattern. Reverse-keyed items (TSK 4, 8, 12, 16 as answered) see ``-theta`` and
    discriminate ``reverse_discrimination`` times as well. ``location``, ``discrimination`` and
    ``spread`` were tuned (Nelder-Mead on a 12,000-participant ``chronic_mixed`` sample) so that the
    total of participants with a pain condition has the target mean and SD and a typical published
    Cronbach's alpha (PCS 0.92, TSK-17 0.78, HADS subscales 0.82, CSI 0.88, PSEQ 0.92); see
    ``docs/simulator_calibration.md``.
    """

    prefix: str
    trait: str | tuple[str, ...]
    item_min: int
    item_max: int
    location: float
    discrimination: float
    spread: float
    reverse_items: tuple[int, ...] = ()
    reverse_discrimination: float = 0.6


ITEM_MODELS: tuple[_ItemModel, ...] = (
    _ItemModel("pcs", "catastrophizing", 0, 4, location=0.61, discrimination=1.77, spread=1.59),
    _ItemModel(
        "tsk", "fear", 1, 4, location=0.79, discrimination=0.99, spread=2.44,
        reverse_items=(4, 8, 12, 16),
    ),
    _ItemModel(
        "hads", ("anxiety", "depression"), 0, 3, location=1.04, discrimination=1.61, spread=1.70,
    ),
    _ItemModel("csi", "csi", 0, 4, location=0.90, discrimination=0.93, spread=2.44),
    _ItemModel("pseq", "self_efficacy", 0, 6, location=-0.50, discrimination=1.94, spread=1.81),
)  # fmt: skip


def _graded_response(
    theta: np.ndarray, model: _ItemModel, n_items: int, rng: np.random.Generator
) -> np.ndarray:
    """Item answers (n, n_items) of a graded-response model.

    ``theta`` (n, n_items) holds the latent trait each item measures.
    """
    k = model.item_max - model.item_min
    j = np.arange(1, n_items + 1)
    offsets = 0.35 * np.sin(1.7 * j)  # fixed, varied item difficulties
    tau = model.spread * np.linspace(-1.0, 1.0, k)
    b = model.location + offsets[:, None] + tau[None, :]
    a = np.full(n_items, model.discrimination)
    reverse = np.isin(j, model.reverse_items)
    a[reverse] *= model.reverse_discrimination
    # A reverse-keyed item as answered: P(answer >= k) = logistic(a(-theta - b'_k)), with
    # b' = -b in reverse order, so that 5 - answer follows the ordinary item model.
    b[reverse] = -b[reverse][:, ::-1]
    eff = np.where(reverse, -1.0, 1.0)[None, :] * theta
    prob = logistic(a[None, :, None] * (eff[:, :, None] - b[None, :, :]))
    u = rng.random((theta.shape[0], n_items, 1))
    return (u < prob).sum(axis=2) + model.item_min


def questionnaire_items(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """All questionnaire item columns (float, NaN = missing) from the latent traits."""
    n = people["age"].size
    cols: Arrays = {}
    for model in ITEM_MODELS:
        q = QUESTIONNAIRES[model.prefix].n_items
        if isinstance(model.trait, tuple):  # HADS: odd items anxiety, even items depression
            first, second = (people[f"latent_{t}"] for t in model.trait)
            theta = np.where(np.arange(1, q + 1)[None, :] % 2 == 1, first[:, None], second[:, None])
        else:
            theta = np.repeat(people[f"latent_{model.trait}"][:, None], q, axis=1)
        answers = _graded_response(theta, model, q, rng).astype(float)
        answers[rng.random((n, q)) < scen.item_missing_rate] = np.nan
        answers[rng.random(n) < scen.questionnaire_missing_rate] = np.nan
        cols |= {f"{model.prefix}_{i + 1}": answers[:, i] for i in range(q)}
    return cols


# --------------------------------------------------------------------------------------------------
# Biomarkers
# --------------------------------------------------------------------------------------------------

#: The simulated biomarker panel: marker -> (unit, matrix, limit of detection in that unit).
#: Units and matrices follow EIH_REFERENCE.md section 5 (BDNF: serum, never mixed with plasma;
#: cortisol: saliva, strong diurnal rhythm); units, matrices and LODs equal the declarations of
#: ``eih_ml/data/default_dictionary.yaml``, so that a ``"<LOD"`` written here loads with the right LOD.
BIOMARKER_PANEL: Mapping[str, tuple[str, str, float]] = MappingProxyType(
    {
        "il6": ("pg/mL", "plasma", 0.7),
        "beta_endorphin": ("pg/mL", "plasma", 5.0),
        "aea": ("pmol/mL", "plasma", 0.1),
        "bdnf": ("ng/mL", "serum", 0.2),
        "cortisol": ("nmol/L", "saliva", 0.5),
    }
)

# Per marker: geometric mean, log SD, decimals written, non-detect written as "<LOD" (True) or as
# "<{lod}" (False). About 20 % of IL-6 and 16 % of beta-endorphin values fall below the LOD (common
# with standard immunoassays), about 2 % of AEA values, almost no cortisol or BDNF values
# (overall about 8 %). IL-6 is right-skewed (log SD 0.85, EIH_REFERENCE.md section 5).
_BIOMARKER_DISTRIBUTION: dict[str, tuple[float, float, int, bool]] = {
    "il6": (1.2, 0.85, 2, False),
    "beta_endorphin": (9.0, 0.60, 1, True),
    "aea": (0.45, 0.70, 3, False),
    "bdnf": (22.0, 0.40, 1, True),
    "cortisol": (6.0, 0.80, 2, False),
}

# Loading of each log-biomarker on the EIH random effect in a scenario with biomarker signal 1.0
# (scaled by Scenario.biomarker_signal). IL-6 inversely: inflammation, less inhibition.
_BIOMARKER_LOADINGS: dict[str, float] = {
    "il6": -0.2,
    "beta_endorphin": 0.25,
    "aea": 0.35,
    "bdnf": 0.1,
    "cortisol": 0.0,
}


def biomarkers(people: Arrays, scen: Scenario, rng: np.random.Generator) -> tuple[Arrays, Arrays]:
    """Observed biomarker columns and their truth.

    Observed columns are object arrays (float, NaN or a non-detect string); the truth holds the
    uncensored values (NaN without the panel) and ``has_biomarkers``.
    """
    n = people["age"].size
    has_panel = rng.random(n) < scen.biomarker_coverage
    observed: Arrays = {}
    true: Arrays = {"has_biomarkers": has_panel}
    for marker, (_unit, _matrix, lod) in BIOMARKER_PANEL.items():
        gmean, log_sd, decimals, lod_word = _BIOMARKER_DISTRIBUTION[marker]
        loading = float(np.clip(scen.biomarker_signal * _BIOMARKER_LOADINGS[marker], -0.9, 0.9))
        z = loading * people["random_effect"] + np.sqrt(1.0 - loading**2) * rng.standard_normal(n)
        log_value = np.log(gmean) + log_sd * z
        if marker == "il6":  # low-grade inflammation with adiposity and some conditions
            log_value += people["profile_il6_log_shift"] + 0.04 * (people["bmi"] - 25.0)
        value = np.exp(log_value)
        column = np.round(value, decimals).astype(object)
        column[value < lod] = "<LOD" if lod_word else f"<{lod:g}"
        column[~has_panel] = np.nan
        observed[f"bio_{marker}"] = column
        true[f"bio_{marker}_true"] = np.where(has_panel, value, np.nan)
    return observed, true
