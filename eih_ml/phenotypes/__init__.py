"""Data-driven pain-modulation phenotypes: cluster participants on QST and questionnaires.

For researchers (issue 14): do the participants of a study fall into subgroups of pain
modulation, how stable are they, what characterises each one, and does EIH differ between them?

The analysis, in the order :func:`find_phenotypes` runs it:

1. :func:`participant_table` averages each participant's sessions (one row per participant) on
   the clustering features, by default :data:`DEFAULT_FEATURES` (PPT at both sites, CPM,
   temporal summation, PCS, TSK, HADS-A, HADS-D, CSI, PSEQ) as derived by
   :func:`eih_ml.features.derive.derive_features`.
2. Participants with more than half of the features missing are dropped and counted; other
   missing values are imputed with the column median inside the fitted model.
3. :class:`PhenotypeClusters` (a scikit-learn transformer) standardizes and fits a Gaussian
   mixture (full covariance, 3 EM restarts, fixed seed) for every k = 1..6; the BIC (Schwarz 1978,
   Ann Stat 6:461) chooses k unless it is fixed, and every k's BIC is kept. The BIC's choice
   depends on the cohort size (few clusters below ~200 participants, extra ones above ~2,000 on
   simulated data); the result says so in its notes.
4. :func:`bootstrap_stability`: participant bootstrap, refit, adjusted Rand index with the full
   fit (Hubert & Arabie 1985, J Classif 2:193; Hennig 2007, Comput Stat Data Anal 52:258).
5. :func:`cluster_profiles` and :func:`describe_clusters`: per cluster n, means with 95 % CIs in
   original units, EIH and responder share; a plain description from the features more than
   0.5 SD from the cohort mean, in the labels of :mod:`eih_ml.features.metadata`.
6. :func:`write_phenotypes`: ``phenotypes.json``, ``clusters.csv``, ``profiles.csv`` and PNG
   figures (:mod:`eih_ml.phenotypes.plots`).

The profiles echo Yarnitsky, Granot & Granovsky 2014 (Pain 155:663: pro- vs anti-nociceptive
modulation), but the clusters are found, not defined by cut-offs as in
:mod:`eih_ml.features.profile`. As a model feature, :class:`PhenotypeClusters` returns
membership probabilities learned inside the training folds only (ARCHITECTURE.md, the leakage
rule). Nothing is imported from scikit-learn, scipy or matplotlib until a function needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eih_ml.phenotypes.analysis import (
    DEFAULT_FEATURES,
    K_AUTO,
    K_FIXED,
    find_phenotypes,
    participant_table,
)
from eih_ml.phenotypes.profiles import OUTCOME_COLUMNS, cluster_profiles, describe_clusters
from eih_ml.phenotypes.result import PhenotypeResult
from eih_ml.phenotypes.stability import bootstrap_stability
from eih_ml.phenotypes.write import FILES, write_phenotypes

if TYPE_CHECKING:
    from eih_ml.phenotypes.transformer import PhenotypeClusters

__all__ = [
    "DEFAULT_FEATURES",
    "FILES",
    "K_AUTO",
    "K_FIXED",
    "OUTCOME_COLUMNS",
    "PhenotypeClusters",
    "PhenotypeResult",
    "bootstrap_stability",
    "cluster_profiles",
    "describe_clusters",
    "find_phenotypes",
    "participant_table",
    "write_phenotypes",
]


def __getattr__(name: str) -> Any:
    # The transformer derives from scikit-learn's base classes: load it (and sklearn) on demand.
    if name == "PhenotypeClusters":
        from eih_ml.phenotypes.transformer import PhenotypeClusters

        return PhenotypeClusters
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
