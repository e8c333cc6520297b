"""Simulate EIH study cohorts whose statistics match the published literature.

The simulator writes what a real multi-session EIH study exports, in the canonical columns of
:mod:`eih_ml.data.contract`, together with the ground truth that produced it. It exists so that the
toolkit can be developed, tested and benchmarked against data whose answer is known: how much of EIH
*can* be predicted, which participants are truly hyperalgesic, whether the biomarker panel carries
signal.

The generative model (all parameters live in :class:`Scenario` and :data:`CONDITION_PROFILES`)
----------------------------------------------------------------------------------------------------
1. **Participant.** Condition (scenario mixture), age, sex and BMI from a condition profile.
2. **Latent traits** (standard normal within a condition, shifted by condition): pain sensitivity
   ``S``, facilitated temporal summation ``F`` (correlated with S), CPM efficiency ``C``, general
   distress ``D`` with the specific traits catastrophizing, fear of movement, anxiety and
   depression loading on it, self-efficacy (loads negatively on D), and a "central sensitization
   symptoms" trait that loads on D (Hendriks 2024: CSI subgroups did not differ in EIH).
   **Latent pain-modulation classes** (only in a scenario with ``latent_classes``, e.g.
   ``phenotyped``): each participant belongs to one discrete class of :data:`LATENT_CLASSES`
   (anti-nociceptive, pro-nociceptive, psychologically driven) that shifts these traits, so that
   a clustering of QST and questionnaires can recover the class; the class is
   ``latent_phenotype`` in the ground truth (``"none"`` in every other scenario, where the traits
   are continuous and no classes exist).
3. **Baseline PPT** per site is log-normal (Rolke 2006, Eur J Pain 10:77): lower with higher S and
   in women.
4. **EIH.** For session ``s`` of participant ``i`` at site ``j``::

       expected_eih[i, s, j] = site_ratio[j] * dose[s] * mean_eih[modality[s]] * (1 + c * pi[i, s])

   ``dose`` in [0, 1] encodes the protocol (aerobic EIH needs roughly > 50 % VO2max and > 10 min,
   Hoffman 2004; vigorous > moderate, Naugle 2014, MSSE 46:817); ``mean_eih`` gives the healthy
   group effect per modality (Naugle, Fillingim & Riley 2012, J Pain 13:1139); the remote site gets
   a fraction of the local effect (Vaegter 2014, PAIN 155:158; Gomolka 2019, Pain Med 20:2272).
   ``pi`` is the participant's standardised propensity: lower with high sensitivity (with an
   extra penalty above a sensitization threshold) and facilitated TS (Vaegter, Handberg &
   Graven-Nielsen 2016, Clin J Pain 32:58; Kosek 1996, Pain 64:415; Van Oosterwijck 2012, J Pain),
   higher with efficient CPM (weakly; Vaegter 2015, Pain Med 16:923), lower with anxiety (Toomey
   2025, J Clin Med 14:8086), age direction by condition (Naugle 2016; Toomey 2025), women larger
   after aerobic exercise (Vaegter 2014), plus a participant random effect that no baseline
   variable measures. ``1 + c * pi < 0`` is a hyperalgesic response. Multiplying the propensity by
   the dose keeps a protocol that does not work (e.g. 40 % HRR) near zero for everybody.
5. **Observation.** A session-level deviation of the realised EIH from its expectation (day-to-day
   variation), a day factor on the baseline PPT, and log-normal trial noise on every PPT trial give
   a between-session ICC of EIH_abs near 0.5 (Gomolka 2019; Vaegter 2019, Eur J Appl Physiol
   119:91). Quiet rest has an expected change of zero (Vaegter 2019).
6. **Questionnaires** are item responses from a graded-response model on the latent traits; TSK
   items 4, 8, 12, 16 are reverse-keyed as answered (Miller 1991) and discriminate less well (the
   reason Woby 2005 dropped them).
7. **Biomarkers** are log-normal with limits of detection; they carry EIH signal only in the
   ``biomarker_signal`` scenario (EIH_REFERENCE.md section 5: biomarkers are weak).

Where each part lives
---------------------
This module runs the steps in order (:func:`simulate_cohort`), assembles the observed cohort and
its ground truth, and writes them (:func:`write_simulation`); the parts are sibling modules:

- :mod:`eih_ml.data.simulate_profiles`: condition profiles and latent pain-modulation classes;
- :mod:`eih_ml.data.simulate_scenarios`: :class:`Scenario`, the named :data:`SCENARIOS`, checks;
- :mod:`eih_ml.data.simulate_participants`: steps 1-3 (participants, latent traits, baseline PPT);
- :mod:`eih_ml.data.simulate_sessions`: sessions, exercise protocols and their dose;
- :mod:`eih_ml.data.simulate_eih`: step 4 and the EIH of step 5 (propensity, expected and
  realised EIH);
- :mod:`eih_ml.data.simulate_measurements`: steps 5-7 as measured (QST trials, questionnaire
  items, biomarkers);
- :mod:`eih_ml.data.simulate_arrays`: the working tables (``Arrays``) the steps pass on.

``docs/simulator_calibration.md`` compares the simulated statistics with the published ones; see
:func:`eih_ml.data.simulate_calibration.calibration_table`.

Examples
--------
>>> sim = simulate_cohort(20, seed=1)
>>> sim
<SimulatedCohort: 20 participants, 38 sessions, scenario 'chronic_mixed', seed 1>
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eih_ml.data.simulate_arrays import Arrays
from eih_ml.data.simulate_eih import draw_eih
from eih_ml.data.simulate_measurements import (
    BIOMARKER_PANEL,
    ITEM_MODELS,
    biomarkers,
    cpm_columns,
    ppt_columns,
    questionnaire_items,
    ts_columns,
)
from eih_ml.data.simulate_participants import (
    baseline_ppt,
    draw_latent,
    draw_latent_classes,
    draw_pain_history,
    draw_participants,
)
from eih_ml.data.simulate_profiles import (
    CONDITION_PROFILES,
    LATENT_CLASSES,
    NO_PHENOTYPE,
    ConditionProfile,
    LatentClass,
)
from eih_ml.data.simulate_scenarios import SCENARIOS, Scenario, resolve_scenario
from eih_ml.data.simulate_sessions import draw_sessions, session_clinical
from eih_ml.errors import DataError

__all__ = [
    "BIOMARKER_PANEL",
    "MAX_PARTICIPANTS",
    "CONDITION_PROFILES",
    "LATENT_CLASSES",
    "NO_PHENOTYPE",
    "SCENARIOS",
    "ConditionProfile",
    "LatentClass",
    "Scenario",
    "SimulatedCohort",
    "simulate_cohort",
    "write_simulation",
]

#: Largest cohort :func:`simulate_cohort` accepts (memory guard, about 2 GB of arrays).
MAX_PARTICIPANTS = 1_000_000

# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass
class SimulatedCohort:
    """A simulated study and the truth behind it.

    Attributes
    ----------
    cohort : pandas.DataFrame
        One row per participant x session in canonical raw columns (what a study exports).
        Numeric columns are float64 with NaN for a blank; biomarker columns hold floats, NaN (no
        sample) or a non-detect string (``"<LOD"`` or ``"<0.7"``).
    ground_truth : pandas.DataFrame
        Same rows, keyed by ``participant_id`` and ``session_id``: latent traits, protocol dose,
        ``expected_eih_local`` / ``expected_eih_remote`` (true expected EIH_abs in kPa for the
        session's protocol), realised EIH, true baseline PPT and uncensored biomarker values.
        ``latent_phenotype`` is the participant's latent class (:data:`LATENT_CLASSES`), or
        ``"none"`` in a scenario without latent classes.
    scenario : Scenario
        The parameters that produced the data.
    seed : int
        The seed of :func:`numpy.random.default_rng`.
    """

    cohort: pd.DataFrame
    ground_truth: pd.DataFrame
    scenario: Scenario
    seed: int

    def __repr__(self) -> str:
        n_people, n_rows = self.cohort["participant_id"].nunique(), len(self.cohort)
        return (
            f"<SimulatedCohort: {n_people} participant{'s' * (n_people != 1)}, "
            f"{n_rows} session{'s' * (n_rows != 1)}, scenario {self.scenario.name!r}, "
            f"seed {self.seed}>"
        )


# --------------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------------


def simulate_cohort(
    n_participants: int, scenario: str | Scenario = "chronic_mixed", seed: int = 0
) -> SimulatedCohort:
    """Simulate an EIH study of ``n_participants`` participants with 1-3 sessions each.

    Parameters
    ----------
    n_participants : int
        Number of participants, 1 to :data:`MAX_PARTICIPANTS`.
    scenario : str or Scenario
        A key of :data:`SCENARIOS` (default ``"chronic_mixed"``) or a :class:`Scenario`.
    seed : int
        Non-negative seed of :func:`numpy.random.default_rng`; the same seed gives the same data.

    Returns
    -------
    SimulatedCohort
        The observed cohort, its ground truth and the scenario.

    Raises
    ------
    ConfigError
        Unknown scenario name (the message lists the known ones).
    DataError
        ``n_participants`` or ``seed`` not a valid integer.

    Notes
    -----
    The model and its sources are described in the module docstring; calibration against the
    literature in ``docs/simulator_calibration.md``.
    """
    scen = resolve_scenario(scenario)
    n = check_int("n_participants", n_participants, 1, MAX_PARTICIPANTS)
    seed = check_int("seed", seed, 0, None)
    rng = np.random.default_rng(seed)

    people = draw_participants(n, scen, rng)
    people |= draw_latent(people, rng)
    people |= draw_latent_classes(people, scen, rng)
    people |= draw_pain_history(people, rng)
    people |= baseline_ppt(people, scen, rng)
    sessions = draw_sessions(people, scen, rng)
    sessions |= session_clinical(people, sessions, rng)
    eih = draw_eih(people, sessions, scen, rng)

    measured = ppt_columns(people, sessions, eih, scen, rng)
    cpm_cols, cpm_rel = cpm_columns(people, sessions, scen, rng)
    measured |= cpm_cols
    measured |= ts_columns(people, sessions, scen, rng)
    measured |= questionnaire_items(people, scen, rng)
    bio_observed, bio_true = biomarkers(people, scen, rng)
    measured |= bio_observed

    cohort = _assemble_cohort(people, sessions, measured)
    truth = _assemble_truth(people, sessions, eih, cpm_rel, bio_true)
    return SimulatedCohort(cohort=cohort, ground_truth=truth, scenario=scen, seed=seed)


def write_simulation(sim: SimulatedCohort, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``cohort.csv`` and ``ground_truth.csv`` into ``out_dir``, byte-reproducibly.

    Values are already rounded by :func:`simulate_cohort`; whole-number columns are written without
    a decimal point, blanks as empty fields, lines end in ``"\\n"``. Each file is written to a
    temporary file in ``out_dir`` and moved into place with :func:`os.replace`, so a reader never
    sees a half-written file.

    Parameters
    ----------
    sim : SimulatedCohort
        Result of :func:`simulate_cohort`.
    out_dir : str or path-like
        Directory; created if missing.

    Returns
    -------
    dict of str to Path
        ``{"cohort": .../cohort.csv, "ground_truth": .../ground_truth.csv}``.

    Raises
    ------
    DataError
        ``out_dir`` exists and is not a directory.
    """
    from eih_ml.atomic_io import output_folder

    out = output_folder(Path(out_dir), "write_simulation's out_dir")
    paths = {"cohort": out / "cohort.csv", "ground_truth": out / "ground_truth.csv"}
    _atomic_write_csv(sim.cohort, paths["cohort"])
    _atomic_write_csv(sim.ground_truth, paths["ground_truth"])
    return paths


# --------------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------------


def check_int(name: str, value: object, low: int, high: int | None) -> int:
    """``value`` as an int if an integer in ``[low, high]``, else a DataError naming ``name``."""
    if (
        isinstance(value, int | np.integer)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    ):
        return int(value)
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    raise DataError(f"{name} must be {allowed}, got {value!r}.")


# --------------------------------------------------------------------------------------------------
# Assembly and output
# --------------------------------------------------------------------------------------------------


def _id_columns(n: int, sessions: Arrays) -> dict[str, np.ndarray]:
    width = max(5, len(str(n)))
    pid = np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), width))
    sid = np.char.add("S", sessions["session_no"].astype(str))
    return {"participant_id": pid[sessions["person"]], "session_id": sid}


_PPT_ORDER = [
    f"ppt_{site}_{phase}_{k}"
    for phase in ("pre", "post")
    for site in ("local", "remote")
    for k in (1, 2, 3)
] + [
    f"ppt_{site}_{phase}_{k}"
    for site in ("local", "remote")
    for phase in ("rest_pre", "rest_post")
    for k in (1, 2, 3)
]


_ITEM_PREFIXES = tuple(f"{m.prefix}_" for m in ITEM_MODELS)


def _assemble_cohort(people: Arrays, sessions: Arrays, measured: Arrays) -> pd.DataFrame:
    """The observed cohort as one frame in a stable column order.

    The order: ids, demographics, clinical, exercise, PPT, CPM, TS, questionnaire items,
    biomarkers. Participant-level arrays are repeated per row.
    """
    p = sessions["person"]
    cols: dict[str, np.ndarray] = {
        **_id_columns(people["age"].size, sessions),
        "age": people["age"][p],
        "sex": people["sex"][p],
        "bmi": people["bmi"][p],
        "condition": people["condition"][p],
        "pain_nrs": sessions["pain_nrs"],
        "pain_duration_months": people["pain_duration_months"][p],
        "expected_exercise_pain": sessions["expected_exercise_pain"],
        "exercise_modality": sessions["modality"],
        "exercise_intensity": sessions["intensity"],
        "exercise_intensity_unit": sessions["unit"],
        "exercise_duration_min": sessions["duration"],
        **{c: measured[c] for c in _PPT_ORDER},
        **{c: measured[c] for c in measured if c.startswith("cpm_")},
        "cpm_test_type": np.full(p.size, "threshold"),
        **{c: measured[c] for c in measured if c.startswith("ts_")},
        **{c: measured[c][p] for c in measured if c.startswith(_ITEM_PREFIXES)},
        **{c: measured[c][p] for c in measured if c.startswith("bio_")},
    }
    return pd.DataFrame(cols)


def _assemble_truth(
    people: Arrays, sessions: Arrays, eih: Arrays, cpm_rel: np.ndarray, bio_true: Arrays
) -> pd.DataFrame:
    """Ground truth per row (same keys as the cohort), floats rounded to 4 decimals."""
    p = sessions["person"]
    has_rest = sessions["has_rest"]
    cols: dict[str, np.ndarray] = {
        **_id_columns(people["age"].size, sessions),
        "condition": people["condition"][p],
        "exercise_modality": sessions["modality"],
        "dose": sessions["dose"],
        "latent_phenotype": people["phenotype"][p],
        **{k: v[p] for k, v in people.items() if k.startswith("latent_")},
        "random_effect": people["random_effect"][p],
        "eih_propensity": eih["propensity"],
        "eih_multiplier": eih["multiplier"],
        "expected_eih_local": eih["expected_local"],
        "expected_eih_remote": eih["expected_remote"],
        "realised_eih_local": eih["realised_local"],
        "realised_eih_remote": eih["realised_remote"],
        "realised_rest_local": np.where(has_rest, eih["rest_local"], np.nan),
        "realised_rest_remote": np.where(has_rest, eih["rest_remote"], np.nan),
        "hyperalgesic": eih["expected_local"] < 0,
        "ppt_local_true": people["ppt_local_true"][p],
        "ppt_remote_true": people["ppt_remote_true"][p],
        "cpm_true_rel": cpm_rel,
        **{k: v[p] for k, v in bio_true.items()},
    }
    frame = pd.DataFrame(cols)
    floats = frame.select_dtypes("float").columns
    frame[floats] = frame[floats].round(4)
    return frame


def _atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` atomically, whole numbers without ``.0``.

    Through a temporary file in the same directory and :func:`os.replace`; float columns holding
    only whole numbers are written without ``.0``.
    """
    whole = {}
    for col in frame.select_dtypes("float").columns:
        values = frame[col].to_numpy()
        finite = values[~np.isnan(values)]
        if finite.size and np.all(finite == np.round(finite)):
            whole[col] = "Int64"
    out = frame.astype(whole)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            out.to_csv(fh, index=False, lineterminator="\n", na_rep="")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
