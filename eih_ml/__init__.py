"""eih_ml: predict an individual's exercise-induced hypoalgesia (EIH) response.

The workflow, in the order data flows through it; every name is importable from ``eih_ml``::

    from eih_ml import load_study, validate_cohort, load_config, run_experiment, load_model

1. ``load_study`` / ``load_frame``  study file or table + column dictionary -> canonical table
   (units converted, REDCap exports read as REDCap writes them)
2. ``validate_cohort``   -> :class:`CohortReport`: every violation, exclusions, participant flow
3. ``derive_features``   per-participant arithmetic that learns nothing from the cohort
4. ``define_outcome``    EIH magnitude and responder label with provenance (:class:`ResponderRule`)
5. ``make_pipeline``     everything learned from data lives inside the scikit-learn Pipeline
6. ``nested_cross_validate`` participant-grouped outer and inner folds (``outer_splits``)
7. ``evaluate_predictions``  discrimination, calibration, decision curve, CIs
8. ``explain_patient``   one patient's prediction, factors, uncertainty and what-if, in words
9. ``track_experiment``  MLflow runs, artifacts and the registered model

``run_experiment`` runs stages 1-9 from a config (``load_config``) and returns an
:class:`ExperimentResult`; ``load_model`` gives the :class:`ModelBundle` of a run or of the MLflow
registry. ``simulate_cohort`` makes a literature-calibrated cohort with its ground truth;
``external_validation`` scores a model on another cohort; ``find_phenotypes`` finds
pain-modulation phenotypes.

Every name is imported on first use (PEP 562), so ``import eih_ml`` and ``eih-ml --help`` stay
fast: heavy libraries (pandas, scikit-learn, mlflow, shap, xgboost) load only when a stage that
needs them is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it (the one place the public API is declared).
_EXPORTS: dict[str, str] = {
    # data
    "load_study": "eih_ml.data.load",
    "load_frame": "eih_ml.data.load",
    "StudyTable": "eih_ml.data.load",
    "load_dictionary": "eih_ml.data.dictionary",
    "ColumnDictionary": "eih_ml.data.dictionary",
    "validate_cohort": "eih_ml.data.validate",
    "CohortReport": "eih_ml.data.validate",
    "simulate_cohort": "eih_ml.data.simulate",
    "write_simulation": "eih_ml.data.simulate",
    # features and outcome
    "derive_features": "eih_ml.features.derive",
    "define_outcome": "eih_ml.outcomes",
    "ResponderRule": "eih_ml.outcomes",
    "Outcome": "eih_ml.outcomes",
    "reliability_ceiling": "eih_ml.outcomes",
    # models and validation
    "make_pipeline": "eih_ml.models",
    "outer_splits": "eih_ml.evaluation.nested_cv",
    "nested_cross_validate": "eih_ml.evaluation.nested_cv",
    "ModelCV": "eih_ml.evaluation.nested_cv",
    "evaluate_predictions": "eih_ml.evaluation.evaluate",
    "external_validation": "eih_ml.evaluation.external",
    # experiments
    "load_config": "eih_ml.config",
    "ExperimentConfig": "eih_ml.config",
    "run_experiment": "eih_ml.experiment",
    "ExperimentResult": "eih_ml.experiment",
    "RunSummary": "eih_ml.run_record",
    "outcome_in_words": "eih_ml.outcome_words",
    "metrics_table": "eih_ml.run_files",
    "added_value_text": "eih_ml.summary_table",
    # models in use
    "ModelBundle": "eih_ml.bundle",
    "load_model": "eih_ml.tracking",
    "explain_patient": "eih_ml.report.patient",
    "write_patient_report": "eih_ml.report.patient",
    "as_text": "eih_ml.explain.text",
    # tracking
    "track_experiment": "eih_ml.tracking",
    "compare_runs": "eih_ml.tracking",
    # phenotypes
    "find_phenotypes": "eih_ml.phenotypes.analysis",
    # errors: what bad input raises (each message says what was expected, found, and the fix)
    "EihMlError": "eih_ml.errors",
    "ConfigError": "eih_ml.errors",
    "DataError": "eih_ml.errors",
    "DictionaryError": "eih_ml.errors",
    "ModelError": "eih_ml.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    """Import a public name on first use (and keep it, so the import happens once)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eih_ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
