"""Cluster stability under participant bootstrap resampling (Hennig 2007)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from eih_ml.phenotypes.transformer import PhenotypeClusters


def fit_recording(model: PhenotypeClusters, X: np.ndarray) -> tuple[bool, str | None]:
    """Fit ``model`` on one thread; return (converged, error message or None).

    A convergence warning is not raised but read from ``model.converged_`` and reported by the
    caller; a fit that fails (e.g. an ill-defined covariance) returns its message. BLAS and
    OpenMP run on one thread: on these small matrices (participants x ~10 features) threads only
    add overhead, 6 to 50 times slower on a loaded 2-core machine (measured for this module).
    """
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # read from model.converged_ below
        try:
            model.fit(X)
        except (ValueError, np.linalg.LinAlgError) as exc:
            return False, str(exc).splitlines()[0]
    return model.converged_, None


def _refit_labels(
    model: PhenotypeClusters, X: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray | None, bool]:
    """Refit a clone of ``model`` on the resample ``X[idx]`` and label every row of ``X``.

    Returns the clone's labels of every row of ``X`` (None when the fit failed) and whether EM
    converged.
    """
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    refit = clone(model)
    converged, error = fit_recording(refit, X[idx])
    if error:
        return None, False
    with threadpool_limits(limits=1):
        return refit.predict(X), converged


def bootstrap_stability(
    model: PhenotypeClusters,
    X: np.ndarray,
    labels: np.ndarray,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
    n_jobs: int | None = 1,
) -> dict:
    """Stability of the clusters under participant bootstrap resampling.

    Each resample draws ``n`` participants with replacement, refits the whole procedure (medians,
    standardization, mixture at the same k and settings) on it, and labels the *original*
    participants; the adjusted Rand index with the full fit's labels measures agreement (1 =
    identical partitions, 0 = chance, negative = worse than chance). Cluster-wise, the Jaccard
    coefficient of each original cluster with its best-matching bootstrap cluster (Hennig 2007:
    mean > 0.75 stable, < 0.5 dissolved).

    Parameters
    ----------
    model : PhenotypeClusters
        The fitted full model (its parameters are reused).
    X : numpy.ndarray
        The participants' clustering features (as given to ``model.fit``).
    labels : numpy.ndarray
        Cluster of each participant in the full fit (0-based).
    n_bootstrap : int, default 200
        Resamples; 0 skips the analysis.
    seed : int, default 0
        Seed of the resampling.
    n_jobs : int or None, default 1
        Processes for the refits (joblib; -1 = every core). All resamples are drawn before any
        refit, so the result does not depend on ``n_jobs``.

    Returns
    -------
    dict
        ``n_resamples``, ``n_failed``, ``n_not_converged``, ``ari_mean``, ``ari_median``,
        ``ari_p2_5``, ``ari_p97_5``, ``cluster_jaccard`` (cluster -> mean Jaccard), ``method``;
        ARI entries are None with a ``reason`` when k = 1 or no resample was drawn.

    Notes
    -----
    Hubert & Arabie 1985, J Classif 2:193 (adjusted Rand index); Hennig 2007, Comput Stat Data
    Anal 52:258 (bootstrap stability, cluster-wise Jaccard).
    """
    from joblib import Parallel, delayed
    from sklearn.metrics import adjusted_rand_score

    k = model.n_components
    base: dict[str, object] = {
        "n_resamples": int(n_bootstrap),
        "n_failed": 0,
        "n_not_converged": 0,
        "method": "participant bootstrap (with replacement), procedure refitted at the chosen k, "
        "adjusted Rand index with the full fit on the original participants",
    }
    empty = {"ari_mean": None, "ari_median": None, "ari_p2_5": None, "ari_p97_5": None}
    if k == 1:
        return base | empty | {"cluster_jaccard": None, "reason": "k = 1: a single cluster "
                               "has no partition whose stability could be assessed"}  # fmt: skip
    if n_bootstrap == 0:
        return base | empty | {"cluster_jaccard": None, "reason": "no bootstrap requested"}
    rng = np.random.default_rng(seed)
    n = len(X)
    draws = [rng.integers(0, n, n) for _ in range(n_bootstrap)]
    fits = Parallel(n_jobs=n_jobs)(delayed(_refit_labels)(model, X, idx) for idx in draws)
    aris: list[float] = []
    jaccard: list[np.ndarray] = []
    n_failed = n_not_converged = 0
    for boot, converged in fits:
        if boot is None:
            n_failed += 1
            continue
        n_not_converged += int(not converged)
        aris.append(float(adjusted_rand_score(labels, boot)))
        jaccard.append(_best_jaccard(labels, boot, k))
    base["n_failed"], base["n_not_converged"] = n_failed, n_not_converged
    if not aris:
        return base | empty | {"cluster_jaccard": None, "reason": "every refit failed"}
    values = np.asarray(aris)
    per_cluster = np.vstack(jaccard).mean(axis=0)
    return base | {
        "ari_mean": float(values.mean()),
        "ari_median": float(np.median(values)),
        "ari_p2_5": float(np.percentile(values, 2.5)),
        "ari_p97_5": float(np.percentile(values, 97.5)),
        "cluster_jaccard": {str(c + 1): float(per_cluster[c]) for c in range(k)},
    }


def _best_jaccard(labels: np.ndarray, boot: np.ndarray, k: int) -> np.ndarray:
    """Per original cluster, the largest Jaccard coefficient with any bootstrap cluster."""
    k_boot = int(boot.max()) + 1
    both = np.zeros((k, k_boot))
    np.add.at(both, (labels, boot), 1)  # contingency table
    union = both.sum(axis=1)[:, None] + both.sum(axis=0)[None, :] - both
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, both / np.where(union > 0, union, 1), 0.0)
    return jac.max(axis=1)
