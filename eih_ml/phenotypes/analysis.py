"""Find pain-modulation phenotypes: one row per participant, k by BIC, then stability and profiles.

:func:`find_phenotypes` is the whole analysis; its steps live in :mod:`.stability` and
:mod:`.profiles`, each usable alone. scikit-learn and scipy are imported inside the functions
that need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from eih_ml.errors import ConfigError, DataError
from eih_ml.features.derive import BLOCKS
from eih_ml.phenotypes.profiles import (
    DESCRIBE_SD,
    OUTCOME_COLUMNS,
    cluster_profiles,
    describe_clusters,
)
from eih_ml.phenotypes.result import PhenotypeResult
from eih_ml.phenotypes.stability import bootstrap_stability, fit_recording

if TYPE_CHECKING:
    from eih_ml.phenotypes.transformer import PhenotypeClusters

#: Clustering features by default: the QST and psychological blocks of
#: :data:`eih_ml.features.derive.BLOCKS` (the wind-up ratio is left out: most studies lack it).
DEFAULT_FEATURES: tuple[str, ...] = (
    *(f for f in BLOCKS["qst"] if f != "ts_ratio"),
    *BLOCKS["psychological"],
)

#: Candidate numbers of clusters for ``k="auto"`` and the allowed fixed k.
K_AUTO: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
K_FIXED: tuple[int, ...] = (2, 3, 4, 5, 6)

#: Fewest participants the analysis accepts.
MIN_PARTICIPANTS = 20

#: Cohort sizes outside which the BIC's choice of k is known to mislead (measured on the
#: simulator's ``phenotyped`` scenario, 3 separable classes, full covariance, 10 features): it
#: chose 1 cluster at 150 participants, 3 at 300-1,000, and 5-6 at 3,000-10,000.
BIC_SMALL_N, BIC_LARGE_N = 200, 2000


# ------------------------------------------------------------------------------ participant table


def participant_table(
    table: pd.DataFrame, features: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """One row per participant: the mean of each clustering feature and outcome over sessions.

    Averaging is per-participant arithmetic (it learns nothing from other participants). A
    participant's mean ignores sessions where the feature is missing; it is missing when every
    session is.

    Parameters
    ----------
    table : pandas.DataFrame
        Participant x session features from :func:`eih_ml.features.derive.derive_features`.
    features : sequence of str, optional
        Clustering features. Default: those of :data:`DEFAULT_FEATURES` present with at least one
        observed value. Named features must all be present and numeric.

    Returns
    -------
    (pandas.DataFrame, list of str)
        The table (index ``participant_id``, sorted; the features, the outcome columns of
        :data:`OUTCOME_COLUMNS` present, ``n_sessions``) and the features used.

    Raises
    ------
    DataError
        No ``participant_id``; a named feature missing or not numeric; fewer than 2 features.
    """
    if "participant_id" not in table.columns:
        raise DataError(
            "The feature table has no participant_id column; phenotyping needs one row per "
            "participant x session from derive_features()."
        )
    if features is None:
        used = [f for f in DEFAULT_FEATURES if f in table.columns and table[f].notna().any()]
    else:
        used = list(dict.fromkeys(features))
        absent = [f for f in used if f not in table.columns]
        if absent:
            present = [c for c in DEFAULT_FEATURES if c in table.columns]
            raise DataError(
                f"Clustering feature(s) not in the feature table: {', '.join(absent)}. "
                f"Default features present: {', '.join(present) or 'none'}."
            )
    not_numeric = [f for f in used if not pd.api.types.is_numeric_dtype(table[f])]
    if not_numeric:
        raise DataError(
            f"Clustering features must be numeric; {', '.join(not_numeric)} are not. Cluster "
            "on QST and questionnaire scores (e.g. the defaults)."
        )
    if len(used) < 2:
        raise DataError(
            f"Phenotyping needs at least 2 clustering features with data; found {len(used)} "
            f"({', '.join(used) or 'none'}) of {', '.join(DEFAULT_FEATURES)}. Check that the "
            "study file has QST (PPT, CPM, temporal summation) and questionnaire columns."
        )
    outcomes = [c for c in OUTCOME_COLUMNS if c in table.columns and table[c].notna().any()]
    cols = used + [c for c in outcomes if c not in used]
    ids = table["participant_id"].astype("string")
    if ids.isna().any():
        raise DataError("participant_id has missing values; every row needs a participant.")
    numeric = table[cols].astype("float64")
    grouped = numeric.groupby(ids.to_numpy(dtype=object), sort=True)
    people = grouped.mean()
    people["n_sessions"] = grouped.size()
    people.index.name = "participant_id"
    return people, used


# ------------------------------------------------------------------------------------- analysis


def find_phenotypes(
    table: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    k: int | Literal["auto"] = "auto",
    n_bootstrap: int = 200,
    seed: int = 0,
    covariance_type: str = "full",
    n_init: int = 3,
    max_missing_share: float = 0.5,
    describe_sd: float = DESCRIBE_SD,
    n_jobs: int | None = 1,
) -> PhenotypeResult:
    """Cluster participants into pain-modulation phenotypes and describe the clusters.

    Parameters
    ----------
    table : pandas.DataFrame
        Participant x session features (:func:`eih_ml.features.derive.derive_features`).
    features : sequence of str, optional
        Clustering features (default: :data:`DEFAULT_FEATURES` present).
    k : int or "auto", default "auto"
        ``"auto"``: the k of :data:`K_AUTO` with the lowest BIC; or a fixed k of
        :data:`K_FIXED`. The BIC of every candidate is computed either way.
    n_bootstrap : int, default 200
        Participant bootstrap resamples for the stability; 0 skips it.
    seed : int, default 0
        Seed of the mixture initialisations and of the bootstrap.
    covariance_type : str, default "full"
        Mixture covariance (:class:`~eih_ml.phenotypes.transformer.PhenotypeClusters`).
    n_init : int, default 3
        EM restarts per fit (at least 3).
    max_missing_share : float, default 0.5
        A participant with more than this share of the clustering features missing is dropped
        (listed in ``PhenotypeResult.dropped``, never silently).
    describe_sd : float, default 0.5
        Threshold (cohort SDs) for a feature to enter a cluster's description.
    n_jobs : int or None, default 1
        Processes for the bootstrap refits (joblib; -1 = every core); the result is the same
        for any value.

    Returns
    -------
    PhenotypeResult

    Raises
    ------
    ConfigError
        ``k``, ``n_bootstrap``, ``seed``, ``n_init``, ``covariance_type`` or a share out of range.
    DataError
        Too few features or participants (after the drop rule).

    Notes
    -----
    Sessions are averaged per participant first (one row per participant), then
    :class:`~eih_ml.phenotypes.transformer.PhenotypeClusters` imputes missing values with the
    column median, standardizes and fits a Gaussian mixture, all learned from the analysed
    participants. The number of clusters minimises the BIC (Schwarz 1978); stability is the
    adjusted Rand index (Hubert & Arabie 1985) between the clusters of the full fit and those of
    the same procedure refitted on participant bootstrap resamples, both labelling the original
    participants (Hennig 2007 uses Jaccard per cluster, reported too). Phenotypes are
    descriptive: EIH is not a clustering input, and a difference in EIH between clusters is a
    finding to replicate, not a validated prediction.

    The BIC depends on the cohort size. With few participants a full covariance costs many
    parameters (65 per cluster for 10 features) and the BIC prefers few clusters; with thousands
    it also rewards components that only model non-Gaussian shape (log-normal thresholds, bounded
    questionnaire scores). On simulated data with 3 separable classes it chose 1 cluster at 150
    participants, 3 at 300-1,000 and 5-6 at 3,000-10,000 (:data:`BIC_SMALL_N`,
    :data:`BIC_LARGE_N`); the result then carries a note. Read the BIC differences, the
    stability and the profiles together, and fix k when they disagree.

    Examples
    --------
    >>> from eih_ml.data.load import load_frame
    >>> from eih_ml.data.simulate import simulate_cohort
    >>> from eih_ml.data.validate import validate_cohort
    >>> from eih_ml.features.derive import derive_features
    >>> sim = simulate_cohort(300, "phenotyped", seed=1)
    >>> table = derive_features(validate_cohort(load_frame(sim.cohort)).data)
    >>> find_phenotypes(table, n_bootstrap=20).k  # doctest: +SKIP
    3
    """
    _check_args(k, n_bootstrap, seed, covariance_type, n_init, max_missing_share, describe_sd)
    people, used = participant_table(table, features)
    share_missing = people[used].isna().mean(axis=1)
    drop = share_missing > max_missing_share
    dropped = [str(p) for p in people.index[drop]]
    people = people.loc[~drop].copy()
    if len(people) < MIN_PARTICIPANTS:
        raise DataError(
            f"Phenotyping needs at least {MIN_PARTICIPANTS} participants with at most "
            f"{max_missing_share:.0%} of the {len(used)} clustering features missing; found "
            f"{len(people)} ({len(dropped)} dropped for missing features)."
        )
    X = people[used].to_numpy(dtype=float)
    notes: list[str] = []
    if dropped:
        notes.append(
            f"{len(dropped)} participant(s) dropped: more than {max_missing_share:.0%} of the "
            f"{len(used)} clustering features missing."
        )
    n_imputed = {f: int(people[f].isna().sum()) for f in used}
    if any(n_imputed.values()):
        notes.append(
            "Missing feature values imputed with the column median (inside the fitted model): "
            + ", ".join(f"{f} {n}" for f, n in n_imputed.items() if n)
            + "."
        )

    settings = {
        "k": k,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "covariance_type": covariance_type,
        "n_init": n_init,
        "max_missing_share": max_missing_share,
        "describe_sd": describe_sd,
    }
    candidates = [c for c in K_AUTO if c <= len(people)]
    models, bic = _fit_candidates(X, used, candidates, settings, notes)
    if k == "auto":
        finite = {c: v for c, v in bic.items() if v is not None}
        if not finite:
            raise DataError(
                "No Gaussian mixture could be fitted to these data (every k failed); see the "
                "notes: " + " ".join(notes)
            )
        chosen = min(finite, key=finite.__getitem__)
        selection: Literal["bic", "fixed"] = "bic"
    else:
        chosen = int(k)
        selection = "fixed"
    model = models.get(chosen)
    if model is None:  # only a fixed k: the k chosen by BIC has a BIC, so a fitted model
        raise DataError(
            f"The Gaussian mixture with k = {chosen} could not be fitted to these data: "
            + " ".join(notes)
        )
    proba = model.transform(X)
    labels = np.argmax(proba, axis=1)
    people["cluster"] = labels + 1
    people["probability"] = proba[np.arange(len(labels)), labels]
    probabilities = pd.DataFrame(
        proba, index=people.index, columns=list(model.get_feature_names_out())
    )
    stability = bootstrap_stability(
        model, X, labels, n_bootstrap=n_bootstrap, seed=seed, n_jobs=n_jobs
    )
    if stability.get("n_failed"):
        notes.append(f"{stability['n_failed']} bootstrap refit(s) failed and were not counted.")
    if stability.get("n_not_converged"):
        notes.append(
            f"{stability['n_not_converged']} bootstrap refit(s) stopped before EM converged."
        )
    if selection == "bic" and len(people) < BIC_SMALL_N and covariance_type == "full":
        notes.append(
            f"With {len(people)} participants and full covariance the BIC favours few clusters "
            f"(simulated 3 separable classes: k = 1 at 150 participants); compare the BIC "
            f"differences, or fix k."
        )
    if selection == "bic" and len(people) >= BIC_LARGE_N:
        notes.append(
            f"With {len(people)} participants the BIC also rewards clusters that only model "
            "non-Gaussian shape (simulated 3 classes: k = 5-6 at 3,000-10,000 participants); "
            "check the stability and the profiles, or fix k."
        )
    small = [c for c in range(1, chosen + 1) if (people["cluster"] == c).sum() < 10]
    if small and chosen > 1:
        notes.append(
            f"Cluster(s) {', '.join(map(str, small))} have fewer than 10 participants: their "
            "profiles are imprecise."
        )
    outcomes = [c for c in OUTCOME_COLUMNS if c in people.columns]
    profiles = cluster_profiles(people, used, outcomes, chosen)
    descriptions = describe_clusters(profiles, chosen, threshold=describe_sd)
    return PhenotypeResult(
        k=chosen,
        k_selection=selection,
        bic=bic,
        features=used,
        participants=people,
        probabilities=probabilities,
        profiles=profiles,
        descriptions=descriptions,
        stability=stability,
        dropped=dropped,
        n_imputed=n_imputed,
        model=model,
        settings=settings,
        notes=notes,
    )


def _check_args(
    k: int | Literal["auto"],
    n_bootstrap: int,
    seed: int,
    covariance_type: str,
    n_init: int,
    max_missing_share: float,
    describe_sd: float,
) -> None:
    from eih_ml.phenotypes.transformer import COVARIANCE_TYPES

    def is_int(v: object) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool)

    if not (k == "auto" or (is_int(k) and int(k) in K_FIXED)):
        raise ConfigError(
            f"k must be 'auto' (choose by BIC over k = {K_AUTO[0]}-{K_AUTO[-1]}) or an integer "
            f"from {K_FIXED[0]} to {K_FIXED[-1]}; got {k!r}."
        )
    if not is_int(n_bootstrap) or n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be an integer >= 0; got {n_bootstrap!r}.")
    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}.")
    if not is_int(n_init) or n_init < 3:
        raise ConfigError(f"n_init must be an integer >= 3 (EM restarts); got {n_init!r}.")
    if covariance_type not in COVARIANCE_TYPES:
        raise ConfigError(
            f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}; "
            f"got {covariance_type!r}."
        )
    if not isinstance(max_missing_share, float | int) or not 0 <= max_missing_share < 1:
        raise ConfigError(f"max_missing_share must lie in [0, 1); got {max_missing_share!r}.")
    if not isinstance(describe_sd, float | int) or describe_sd <= 0:
        raise ConfigError(f"describe_sd must be > 0; got {describe_sd!r}.")


def _new_model(n_components: int, settings: dict) -> PhenotypeClusters:
    from eih_ml.phenotypes.transformer import PhenotypeClusters

    return PhenotypeClusters(
        n_components=n_components,
        covariance_type=settings["covariance_type"],
        n_init=settings["n_init"],
        max_missing_share=settings["max_missing_share"],
        random_state=settings["seed"],
    )


def _fit_candidates(
    X: np.ndarray, used: list[str], candidates: list[int], settings: dict, notes: list[str]
) -> tuple[dict[int, PhenotypeClusters | None], dict[int, float | None]]:
    models: dict[int, PhenotypeClusters | None] = {}
    bic: dict[int, float | None] = {}
    for c in candidates:
        model = _new_model(c, settings)
        converged, error = fit_recording(model, X)
        if error:
            notes.append(f"k = {c}: the mixture could not be fitted ({error}).")
            models[c], bic[c] = None, None
            continue
        if not converged:
            notes.append(f"k = {c}: EM stopped before converging; its BIC may be too high.")
        models[c], bic[c] = model, model.bic_
    return models, bic
