"""``PhenotypeClusters``: cluster membership probabilities as a leakage-free model feature.

Everything the clustering learns from the cohort (imputation medians, standardization, the
Gaussian mixture) is estimated in :meth:`PhenotypeClusters.fit`, so inside a scikit-learn
Pipeline each cross-validation training fold refits it and test rows never shape it
(ARCHITECTURE.md, the leakage rule). scikit-learn is imported here at module level because the
class derives from its base classes; :mod:`eih_ml.phenotypes` loads this module only when the
class is asked for.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Self

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from sklearn.utils import Tags

#: Covariance structures of :class:`sklearn.mixture.GaussianMixture`.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: Prefix of the output columns: ``phenotype_1`` ... ``phenotype_k``.
OUTPUT_PREFIX = "phenotype_"


class PhenotypeClusters(TransformerMixin, BaseEstimator):
    """Standardize, fit a Gaussian mixture and return cluster membership probabilities.

    Parameters
    ----------
    n_components : int, default 3
        Number of clusters (mixture components).
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Covariance of each component (:class:`sklearn.mixture.GaussianMixture`).
    n_init : int, default 3
        EM restarts from different k-means initialisations; the best likelihood is kept.
    max_iter : int, default 200
        EM iterations per restart.
    max_missing_share : float, default 0.5
        A training row with more than this share of its features missing is left out of
        ``fit`` (too little is measured to place it; counted in ``n_rows_dropped_``). ``transform``
        still returns probabilities for every row, its missing values imputed as below.
    random_state : int, default 0
        Seed of the k-means initialisations: the same data give the same clusters.

    Attributes
    ----------
    medians_ : numpy.ndarray
        Column medians of the training rows used; a missing value is replaced by its column's
        median before standardization (in ``fit`` and in ``transform``).
    mean_, scale_ : numpy.ndarray
        Mean and standard deviation (ddof 0; 1 for a constant column) of the imputed training
        rows: the standardization.
    gmm_ : sklearn.mixture.GaussianMixture
        The fitted mixture on the standardized training rows.
    order_ : numpy.ndarray
        Mixture components in output order: by mixing weight, largest first, so that
        ``phenotype_1`` is the largest cluster whatever order EM found them in.
    weights_ : numpy.ndarray
        Mixing weights in output order.
    means_original_ : numpy.ndarray
        Component means in the features' original units, output order (n_components, n_features).
    bic_ : float
        Bayesian information criterion of the fit on its training rows (Schwarz 1978).
    converged_ : bool
        Whether the best EM restart converged.
    n_iter_ : int
        EM iterations of the best restart.
    n_rows_fitted_, n_rows_dropped_ : int
        Training rows used and left out (more than ``max_missing_share`` missing).
    n_features_in_, feature_names_in_
        As every scikit-learn estimator.

    Notes
    -----
    Median imputation and z-scores are cohort statistics, hence learned here and not before the
    split. The mixture is scikit-learn's (Dempster, Laird & Rubin 1977 EM); BIC as Schwarz 1978,
    Ann Stat 6:461.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.full((20, 2), 5.0)] + np.random.default_rng(0).normal(
    ...     size=(40, 2))
    >>> PhenotypeClusters(n_components=2).fit(X).transform(X).shape
    (40, 2)
    """

    def __init__(
        self,
        n_components: int = 3,
        covariance_type: str = "full",
        n_init: int = 3,
        max_iter: int = 200,
        max_missing_share: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.max_missing_share = max_missing_share
        self.random_state = random_state

    # ------------------------------------------------------------------------------------- fit

    def _check_params(self) -> None:
        for name, low in (("n_components", 1), ("n_init", 1), ("max_iter", 1)):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}; "
                f"got {self.covariance_type!r}"
            )
        share = self.max_missing_share
        if not isinstance(share, numbers.Real) or not 0.0 <= share < 1.0:
            raise ValueError(f"max_missing_share must lie in [0, 1); got {share!r}")

    def fit(self, X: ArrayLike, y: object = None) -> Self:
        """Learn medians, standardization and the mixture from the training rows ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Clustering features; NaN = missing.
        y : None
            Ignored (unsupervised).

        Returns
        -------
        self
        """
        from sklearn.mixture import GaussianMixture

        self._check_params()
        arr = validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype=np.float64)
        missing = np.isnan(arr)
        keep = missing.mean(axis=1) <= self.max_missing_share
        train = arr[keep]
        if train.shape[0] == 0:
            raise ValueError(
                f"no training row has at most {self.max_missing_share:.0%} of its features "
                "missing; nothing to cluster."
            )
        empty = np.flatnonzero(np.isnan(train).all(axis=0))
        if empty.size:
            names = getattr(self, "feature_names_in_", None)
            which = [str(names[j]) if names is not None else f"x{j}" for j in empty]
            raise ValueError(
                f"feature(s) {', '.join(which)} have no observed value in the training rows; "
                "leave them out of the clustering."
            )
        self.medians_ = np.nanmedian(train, axis=0)
        filled = np.where(np.isnan(train), self.medians_, train)
        self.mean_ = filled.mean(axis=0)
        scale = filled.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        z = (filled - self.mean_) / self.scale_
        gmm = GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        self.gmm_ = gmm.fit(z)
        self.order_ = np.argsort(-gmm.weights_, kind="stable")
        self.weights_ = gmm.weights_[self.order_]
        self.means_original_ = self.mean_ + gmm.means_[self.order_] * self.scale_
        self.bic_ = float(gmm.bic(z))
        self.converged_ = bool(gmm.converged_)
        self.n_iter_ = int(gmm.n_iter_)
        self.n_rows_fitted_ = int(keep.sum())
        self.n_rows_dropped_ = int((~keep).sum())
        return self

    # ------------------------------------------------------------------------------- transform

    def standardize(self, X: ArrayLike) -> np.ndarray:
        """``X`` imputed with the training medians and standardized with the training mean/SD.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "gmm_")
        arr = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        filled = np.where(np.isnan(arr), self.medians_, arr)
        return (filled - self.mean_) / self.scale_

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Membership probability of each row in each cluster (rows sum to 1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_components)
            Columns in the order of :meth:`get_feature_names_out`.
        """
        z = self.standardize(X)  # checks that the transformer is fitted
        return self.gmm_.predict_proba(z)[:, self.order_]

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable cluster of each row: 0 = ``phenotype_1`` (the largest), 1, ...

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray of int
        """
        return np.argmax(self.transform(X), axis=1)

    def bic(self, X: ArrayLike) -> float:
        """BIC of the fitted mixture on ``X`` (imputed and standardized as in training).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        z = self.standardize(X)
        return float(self.gmm_.bic(z))

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Output column names ``phenotype_1`` ... ``phenotype_k``.

        Parameters
        ----------
        input_features : array-like of str, optional
            Checked against ``feature_names_in_``; the output names do not depend on it.

        Returns
        -------
        numpy.ndarray of str
        """
        check_is_fitted(self, "gmm_")
        _check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray(
            [f"{OUTPUT_PREFIX}{j + 1}" for j in range(self.n_components)], dtype=object
        )

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
