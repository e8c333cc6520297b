"""eih_ml: predict an individual's exercise-induced hypoalgesia (EIH) response.

The stages, in the order data flows through them (each is one function a reader can find):

1. ``load_study``        study file + column dictionary -> canonical raw table (units converted)
2. ``validate_cohort``   -> :class:`~eih_ml.data.validate.CohortReport`: every violation, exclusions
3. ``derive_features``   per-participant arithmetic that learns nothing from the cohort
4. ``define_outcome``    EIH magnitude and responder label with provenance
5. ``make_pipeline``     everything learned from data lives inside the scikit-learn Pipeline
6. ``nested_cross_validate`` participant-grouped outer and inner folds
7. ``evaluate``          discrimination, calibration, decision curve, subgroups, sample size
8. ``explain``           SHAP in clinical terms, domains, conformal uncertainty, plain language
9. ``track``             MLflow runs, artifacts and the registered model

Heavy libraries (mlflow, shap, xgboost) are imported only inside the functions that use them, so
``import eih_ml`` and ``eih-ml --help`` stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
