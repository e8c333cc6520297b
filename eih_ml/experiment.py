"""``run_experiment(config)``: the whole flow, top to bottom, in the order data moves through it.

load -> validate -> derive features -> define outcome -> choose features -> sample size ->
nested CV per model -> evaluate -> added value of feature blocks -> final model -> track -> write.

Outputs go to a temporary folder beside the output folder and are moved into place only when the
run has succeeded, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml import __version__
from eih_ml.config import ExperimentConfig
from eih_ml.data.validate import CohortReport
from eih_ml.errors import ConfigError, DataError, close_names
from eih_ml.outcomes import Outcome, ResponderRule, define_outcome, reliability_ceiling
from eih_ml.run_files import write_run_files
from eih_ml.run_record import ModelChoice, RunSummary

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

    from eih_ml.bundle import ModelBundle
    from eih_ml.data.visits import VisitsTable
    from eih_ml.evaluation.nested_cv import CVRun, ModelCV
    from eih_ml.evaluation.sample_size import SampleSizeResult
    from eih_ml.explain.eih_interval import IntervalCalibration, QuantileBand
    from eih_ml.explain.global_explain import GlobalExplanation


class Progress:
    """Receives progress events; the CLI passes a rich progress bar, tests pass nothing."""

    def stage(self, text: str) -> None:
        """A new stage starts."""

    def start_model(self, name: str, total_folds: int) -> None:
        """A model's nested CV starts."""

    def fold_done(self, name: str) -> None:
        """One outer fold of a model finished."""


@dataclass
class ExperimentResult:
    """Everything an experiment produced (in memory), and where its files are."""

    config: ExperimentConfig
    cohort: CohortReport
    table: pd.DataFrame
    outcome: Outcome
    features: list[str]
    X: pd.DataFrame
    groups: np.ndarray
    cvs: dict[str, ModelCV] = field(default_factory=dict)
    evaluations: dict[str, dict] = field(default_factory=dict)
    added_value: dict[str, dict] = field(default_factory=dict)
    #: Distributional vs direct models on identical folds (paired differences with CIs).
    model_comparisons: dict[str, dict] = field(default_factory=dict)
    sample_size: dict = field(default_factory=dict)
    best_model: str = ""
    final_model: BaseEstimator | None = None
    final_params: dict = field(default_factory=dict)
    #: The run record (:class:`~eih_ml.run_record.RunSummary`), set once the models are evaluated.
    summary: RunSummary | None = None
    rows: np.ndarray | None = None
    explanations: GlobalExplanation | None = None
    bundle: ModelBundle | None = None
    output_dir: Path | None = None
    run_id: str | None = None
    #: Extra MLflow tags of the experiment run (a sweep's grid id, cell and key).
    tags: dict[str, str] = field(default_factory=dict)
    #: (QuantileBand, IntervalCalibration) of the EIH prediction interval, or None.
    eih_interval: tuple[QuantileBand, IntervalCalibration] | None = None

    def require_summary(self) -> RunSummary:
        """The run record; a ``ValueError`` if the experiment has not been evaluated yet."""
        if self.summary is None:
            raise ValueError(
                f"The experiment {self.config.name!r} has no run summary yet: it is set once "
                "run_experiment has evaluated the models."
            )
        return self.summary

    def __repr__(self) -> str:
        pm = self.config.primary_metric

        def score(model: str, ci: bool = False) -> str:
            m = self.evaluations.get(model, {}).get("metrics", {})
            text = f"{m.get(pm, float('nan')):.3f}"
            lo, hi = m.get(f"{pm}_ci_low"), m.get(f"{pm}_ci_high")
            return text + (
                f" ({lo:.2f}-{hi:.2f})" if ci and lo is not None and hi is not None else ""
            )

        others = ", ".join(f"{m} {score(m)}" for m in self.evaluations if m != self.best_model)
        best = (
            f"best {self.best_model} {pm} {score(self.best_model, ci=True)}"
            if self.best_model
            else "not evaluated"
        )
        return (
            f"<ExperimentResult {self.config.name!r}: {len(np.unique(self.groups))} participants, "
            f"{len(self.groups)} sessions, {self.outcome.name}; {best}"
            + (f"; {others}" if others else "")
            + ">"
        )


# ---------------------------------------------------------------------------------------- stages
def load_cohort(config: ExperimentConfig) -> tuple[CohortReport, dict]:
    """Load and validate the study file, or simulate the built-in default cohort."""
    report, source, _ = load_data(config)
    return report, source


def load_data(config: ExperimentConfig) -> tuple[CohortReport, dict, VisitsTable | None]:
    """:func:`load_cohort` and, for a programme outcome, the validated visits table."""
    from eih_ml.data.load import load_frame, load_study
    from eih_ml.data.validate import validate_cohort
    from eih_ml.data.visits import load_visits, validate_visits

    d = config.data
    simulated_visits: pd.DataFrame | None = None
    visits: VisitsTable | None = None
    if d.path:
        study = load_study(d.path, d.dictionary)
        source = {"kind": "file", "path": str(Path(d.path).name)}
    else:
        from eih_ml.data.simulate import simulate_cohort

        sim = simulate_cohort(
            d.simulate.n_participants, scenario=d.simulate.scenario, seed=d.simulate.seed
        )
        frame = sim.cohort
        if d.simulate.programme:
            from eih_ml.data.simulate_programme import simulate_programme

            prog = simulate_programme(sim)
            frame, simulated_visits = prog.cohort, prog.visits
        study = load_frame(frame, d.dictionary, source=f"simulated:{d.simulate.scenario}")
        source = {"kind": "simulated", **d.simulate.model_dump()}
    report = validate_cohort(study, lenient=d.lenient)
    if config.outcome.source == "programme":
        ids = set(report.data["participant_id"].astype(str))
        if d.visits:
            visits = load_visits(d.visits, d.dictionary, ids)
            source["visits"] = str(Path(d.visits).name)
        elif simulated_visits is not None:
            visits = validate_visits(simulated_visits, "simulated visits", ids)
    return report, source, visits


def programme_table(
    config: ExperimentConfig, table: pd.DataFrame, visits: VisitsTable | pd.DataFrame | None
) -> tuple[pd.DataFrame, Outcome]:
    """The baseline session of each participant with its programme outcome (an Outcome).

    ``outcome.source: programme`` (:mod:`eih_ml.programme`): one row per participant; the
    outcome is the improvement (regression) or the IMMPACT responder label (classification,
    stored as 1/0 values read with the ``gt0`` rule) at the follow-up week.
    """
    from eih_ml.programme import ProgrammeSpec, baseline_sessions, flow_notes, programme_outcome

    if visits is None:
        raise ConfigError(
            "outcome.source: programme reads a visits table: set data.visits to its file, or "
            "data.simulate.programme: true on simulated data."
        )
    o = config.outcome
    spec = ProgrammeSpec(**o.programme.model_dump())
    base = baseline_sessions(table)
    po = programme_outcome(base, visits, spec)
    values = po.values.reindex(base["participant_id"].astype(str)).to_numpy(float)
    base[spec.column] = values
    v = pd.Series(values, index=base.index, name=spec.column)
    notes = flow_notes(po.flow)
    excluded = int(v.isna().sum())
    programme = {**o.programme.model_dump(), "flow": po.flow, "description": spec.describe()}
    if o.task == "classification":
        rule = ResponderRule(rule="gt0")
        outcome = Outcome(spec.column, v, o.task, rule, 0.0, v, excluded, notes, programme)
    else:
        outcome = Outcome(spec.column, v, o.task, None, None, v, excluded, notes, programme)
    return base, outcome


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A digest of the analysed table (values and column names): provenance without the data."""
    import hashlib

    h = hashlib.sha256()
    h.update("|".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def responder_rule(config: ExperimentConfig) -> ResponderRule:
    """The responder rule of the config."""
    o = config.outcome
    return ResponderRule(
        rule=o.rule,
        pct=o.pct_threshold,
        sem=o.reliability.sem,
        sd=o.reliability.sd,
        icc=o.reliability.icc,
        sem_source=o.sem_source,
        target=o.target,
    )


def count_parameters(X: pd.DataFrame) -> int:
    """Candidate predictor parameters (Riley): numeric features + (categories - 1) per category."""
    from eih_ml.models import FeatureLayout

    layout = FeatureLayout.of(list(X.columns))
    p = len(layout.numeric)
    p += sum(max(X[c].nunique() - 1, 1) for c in layout.categorical)
    markers = [c for c in layout.biomarker if not c.endswith(("_nd", "_lod"))]
    p += len(markers) + (1 if markers else 0)
    return int(p)


def sample_size(
    config: ExperimentConfig, outcome: Outcome, X: pd.DataFrame, groups: np.ndarray
) -> dict:
    """Riley et al. minimum sample size against the participants available."""
    from eih_ml.evaluation.sample_size import sample_size_binary, sample_size_continuous

    p = count_parameters(X)
    n_avail = int(len(np.unique(groups)))
    res: SampleSizeResult
    extra: dict[str, object]
    if config.outcome.task == "multiclass":
        return _sample_size_multiclass(config, outcome, p, n_avail)
    if config.outcome.task == "classification":
        phi = float(np.nanmean(outcome.y))
        if not 0 < phi < 1:
            raise DataError("The outcome has a single class; see the responder rule.")
        max_r2 = 1.0 - math.exp(2.0 * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi)))
        r2_cs = config.evaluation.anticipated_r2_cs or 0.15 * max_r2
        res = sample_size_binary(p, phi, r2_cs=r2_cs, available_n=n_avail)
        events = int(round(phi * n_avail))
        verdict = res.verdict(n_avail, events)
        extra = {"prevalence": phi, "anticipated_r2_cs": r2_cs, "events_available": events}
    else:
        import dataclasses

        v = outcome.values.dropna()
        r2 = config.evaluation.anticipated_r2
        # EIH is a change score whose mean can lie near 0, where Riley's criterion 4 (precise
        # intercept, relative margin) explodes; it is reported as advisory, not required.
        mean = float(v.mean())
        intercept = (
            mean
            if abs(mean) >= 0.5 * float(v.std())
            else float(np.sign(mean) or 1) * 0.5 * float(v.std())
        )
        res = sample_size_continuous(
            p, r2, intercept=intercept, sd=float(v.std()), available_n=n_avail
        )
        criteria = dict(res.criteria)
        advisory = criteria.pop("intercept", None)
        res = dataclasses.replace(res, n_required=max(criteria.values()))
        verdict = res.verdict(n_avail)
        extra = {
            "anticipated_r2": r2,
            "intercept_criterion_advisory": advisory,
            "note": "Criterion 4 (precise intercept) is advisory for a change score whose mean "
            "can be near 0; it is computed with |intercept| floored at half the outcome's SD "
            f"(observed mean {mean:.3g}).",
        }
    return {
        "n_parameters": p,
        "n_required": int(res.n_required),
        "n_available": n_avail,
        "criteria": {k: int(v) for k, v in res.criteria.items()},
        "adequate": bool(n_avail >= res.n_required),
        "verdict": verdict,
        **extra,
    }


def _sample_size_multiclass(
    config: ExperimentConfig, outcome: Outcome, p: int, n_avail: int
) -> dict:
    """Riley's binary criteria for each class against the others; the largest n is required.

    Pate et al. (2023, Stat Methods Med Res 32:555) derive multinomial criteria from the binary
    ones applied to each outcome category; this one-vs-rest version is their simplest form (each
    class with its own prevalence and an anticipated Cox-Snell R2 of 15 % of its maximum).
    """
    from eih_ml.evaluation.sample_size import sample_size_binary
    from eih_ml.outcomes import CLASS_NAMES

    y = outcome.y.dropna().to_numpy(int)
    per_class: dict[str, dict[str, float | int]] = {}
    required: dict[str, SampleSizeResult] = {}
    events: dict[str, int] = {}
    for j, name in enumerate(CLASS_NAMES):
        phi = float(np.mean(y == j))
        if not 0 < phi < 1:
            raise DataError(f"No analysed participant is {name}; see the responder rule.")
        max_r2 = 1.0 - math.exp(2.0 * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi)))
        r2_cs = config.evaluation.anticipated_r2_cs or 0.15 * max_r2
        res = sample_size_binary(p, phi, r2_cs=r2_cs, available_n=n_avail)
        required[name] = res
        events[name] = int(round(phi * n_avail))
        per_class[name] = {
            "prevalence": phi,
            "anticipated_r2_cs": r2_cs,
            "n_required": int(res.n_required),
            "events_available": events[name],
        }
    limiting = max(required, key=lambda c: required[c].n_required)
    res = required[limiting]
    return {
        "n_parameters": p,
        "n_required": int(res.n_required),
        "n_available": n_avail,
        "criteria": {k: int(v) for k, v in res.criteria.items()},
        "adequate": bool(n_avail >= res.n_required),
        "verdict": res.verdict(n_avail, events[limiting]),
        "limiting_class": limiting,
        "per_class": per_class,
        "note": "Riley's binary criteria applied to each class against the other two (Pate et "
        "al. 2023); the class needing the most participants sets the requirement.",
    }


def phenotype_settings(config: ExperimentConfig) -> dict | None:
    """``features.phenotype`` when phenotype membership is a model feature, else None."""
    if not config.features.blocks.phenotype:
        return None
    return config.features.phenotype.model_dump()


def fit_final_model(
    config: ExperimentConfig, model: str, X: pd.DataFrame, values: np.ndarray, groups: np.ndarray
) -> tuple[object, dict, float | None]:
    """Tune on grouped folds of all participants, then refit on all of them."""
    from eih_ml.evaluation.nested_cv import best_params, inner_cv, tune_model
    from eih_ml.models import CLASSIFIER_TASKS
    from eih_ml.outcomes import label

    task = config.outcome.task
    threshold = None
    if task in CLASSIFIER_TASKS:
        threshold = responder_rule(config).threshold(values, groups)
        y = label(values, threshold, task, config.outcome.target).astype(int)
    else:
        y = values
    inner = inner_cv(y, groups, task, config.cv.inner_folds, config.seed)
    fitted, search = tune_model(
        model,
        X,
        y,
        values,
        groups,
        inner,
        task=task,
        threshold=threshold,
        target=config.outcome.target,
        n_iter=config.search.n_iter,
        seed=config.seed,
        search_seed=config.seed,
        biomarkers=config.features.biomarkers.model_dump(),
        phenotypes=phenotype_settings(config),
        calibration=config.cv.calibration,
        scoring=config.search.scoring,
        distributional=config.distributional,
        n_jobs=config.cv.n_jobs,
    )
    return fitted, best_params(search), threshold


def added_value_runs(
    config: ExperimentConfig, features: list[str]
) -> tuple[list[tuple[str, CVRun]], dict[str, dict]]:
    """The base-model CVs the added-value comparisons need, and notes for blocks that have none.

    Returns
    -------
    (runs, notes)
        ``runs``: (block, :class:`~eih_ml.evaluation.nested_cv.CVRun`) pairs, the model without
        the block's features; ``notes``: block -> why there is nothing to compare.
    """
    from eih_ml.evaluation.nested_cv import CVRun
    from eih_ml.features.derive import block_of

    model = config.evaluation.added_value_model or config.models[0]
    if model not in config.models:
        raise ConfigError(
            f"evaluation.added_value_model {model!r} is not among the models {config.models}."
        )
    runs: list[tuple[str, CVRun]] = []
    notes: dict[str, dict] = {}
    for block in config.evaluation.added_value:
        cols = [f for f in features if block_of(f) == block]
        if not cols:
            notes[block] = {"note": f"no {block} features in these data: nothing to compare"}
            continue
        base_features = [f for f in features if f not in cols]
        if not base_features:
            notes[block] = {"note": f"the model has only {block} features: no base model"}
            continue
        runs.append((block, CVRun(f"{model} without {block}", model, base_features, False)))
    return runs, notes


def added_value(
    config: ExperimentConfig,
    result: ExperimentResult,
    base_cvs: dict[str, ModelCV],
    notes: dict[str, dict],
) -> dict[str, dict]:
    """Base vs extended model on identical folds, for each configured feature block.

    ``base_cvs``: block -> the nested CV of the model without that block; ``notes``: block ->
    why there is nothing to compare (both from :func:`added_value_runs`). The extended model is
    the experiment's own CV of that model.
    """
    from eih_ml.evaluation.evaluate import clean_dict, paired_oof_comparison

    out: dict[str, dict] = {}
    for block in config.evaluation.added_value:
        if block in notes:
            out[block] = notes[block]
            continue
        base = base_cvs[block]
        diff = paired_oof_comparison(
            base.oof,
            result.cvs[base.model].oof,
            config.outcome.task,
            n_boot=config.bootstrap.n_resamples,
            alpha=config.bootstrap.alpha,
            seed=config.seed,
        )
        out[block] = {
            "model": base.model,
            "features_added": [f for f in result.features if f not in base.features],
            "n_base_features": len(base.features),
            **clean_dict(diff.as_dict()),
        }
    return out


def model_comparisons(config: ExperimentConfig, result: ExperimentResult) -> dict[str, dict]:
    """Each distributional model against its direct counterpart, paired on identical folds.

    ``xgboost_dist`` is compared with ``xgboost`` when both were trained, else with the best
    direct model by the primary metric. Differences are distributional minus direct, with a
    paired participant-bootstrap CI: does modelling the continuous EIH carry more of the
    signal than modelling its dichotomy?).
    """
    from eih_ml.distributional import base_family, is_distributional
    from eih_ml.evaluation.evaluate import clean_dict, paired_oof_comparison

    direct = [m for m in result.cvs if m in config.models and not is_distributional(m)]
    if not direct:
        return {}
    best_direct = _best_model(config, {m: result.evaluations[m] for m in direct})
    out: dict[str, dict] = {}
    for model in config.models:
        if not is_distributional(model):
            continue
        other = base_family(model) if base_family(model) in direct else best_direct
        diff = paired_oof_comparison(
            result.cvs[other].oof,
            result.cvs[model].oof,
            config.outcome.task,
            n_boot=config.bootstrap.n_resamples,
            alpha=config.bootstrap.alpha,
            seed=config.seed,
        )
        out[f"{model} vs {other}"] = {
            "model": model,
            "compared_with": other,
            **clean_dict(diff.as_dict()),
        }
    return out


# ------------------------------------------------------------------------------------- the flow
def run_experiment(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    config: ExperimentConfig,
    *,
    output_dir: str | Path | None = None,
    progress: Progress | None = None,
    track: bool | None = None,
) -> ExperimentResult:
    """Run an experiment end to end and write ``summary.json`` and ``metrics.csv``.

    Parameters
    ----------
    config : ExperimentConfig
        From :func:`eih_ml.config.load_config`.
    output_dir : path, optional
        Where results go (default ``runs/<config.name>``). Replaced only when the run succeeds.
    progress : Progress, optional
        Progress receiver (the CLI's progress bar).
    track : bool, optional
        Log to MLflow; default ``config.tracking.enabled``.
    """
    from eih_ml.evaluation.evaluate import (
        curves,
        evaluate_predictions,
        evaluate_subgroups,
        subgroup_labels,
    )
    from eih_ml.evaluation.nested_cv import (
        CVRun,
        check_cv_feasible,
        nested_cross_validate_many,
        outer_splits,
        strat_labels,
    )
    from eih_ml.features.derive import derive_features, model_features
    from eih_ml.features.profile import ProfileRule
    from eih_ml.features.questionnaires import QuestionnaireScoring
    from eih_ml.models import CLASSIFIER_TASKS, model_matrix

    progress = progress or Progress()
    started = time.perf_counter()
    task = config.outcome.task

    progress.stage("Loading and validating the cohort")
    cohort, source, visits = load_data(config)

    progress.stage("Deriving features and outcomes")
    scoring = QuestionnaireScoring.from_options(**config.features.questionnaires.model_dump())
    table = derive_features(
        cohort.data,
        scoring=scoring,
        ts_last_index=config.features.ts_last_index,
        rpe_scale=config.features.rpe_scale,
        profile=ProfileRule(**config.features.profile.model_dump()),
    )
    rule = responder_rule(config)
    if config.outcome.source == "programme":
        table, outcome = programme_table(config, table, visits)
        rule = outcome.rule or rule
    else:
        outcome = define_outcome(
            table,
            site=config.outcome.site,
            measure=config.outcome.measure,
            task=task,
            rule=rule,
            against_rest=config.outcome.against_rest,
        )
    rows = outcome.values.notna().to_numpy()
    analysed = table.loc[rows]
    _check_feature_names(config, analysed)
    features = model_features(
        analysed,
        config.features.blocks.model_dump(),
        config.features.include,
        config.features.exclude,
    )
    if not features:
        raise ConfigError(
            "No feature is left: every enabled block is empty in these data. Turn on more "
            "blocks under features.blocks."
        )
    X = model_matrix(analysed, features)
    groups = analysed["participant_id"].to_numpy(dtype=object)
    values = outcome.values.to_numpy(float)[rows]
    y_strat = strat_labels(values, task, rule)
    sites = None
    if config.cv.scheme == "leave_site_out":
        if "site" not in analysed.columns:
            raise ConfigError(
                "cv.scheme leave_site_out needs a site column (the study, clinic or cohort of "
                "each participant); the data have none. Add it, map it in the column "
                "dictionary, or use cv.scheme: grouped."
            )
        sites = analysed["site"].astype("string").to_numpy(dtype=object)
    else:
        check_cv_feasible(
            y_strat if task in CLASSIFIER_TASKS else None,
            groups,
            config.cv.outer_folds,
            config.cv.inner_folds,
            task,
        )
    result = ExperimentResult(config, cohort, table, outcome, features, X, groups, rows=rows)
    result.sample_size = sample_size(config, outcome, X, groups)

    if sites is not None:
        from eih_ml.evaluation.sites import site_splits

        splits = site_splits(sites, groups)
    else:
        splits = outer_splits(
            y_strat,
            groups,
            n_splits=config.cv.outer_folds,
            repeats=config.cv.repeats,
            seed=config.seed,
        )
    labels = subgroup_labels(
        analysed.reset_index(drop=True), config.evaluation.subgroups, config.evaluation.age_bands
    )
    # Every nested CV (each model, and each base model of the added-value comparisons) shares one
    # pool of workers; a model is evaluated here while the workers fit the next one's folds.
    value_runs, value_notes = (
        added_value_runs(config, features) if config.evaluation.added_value else ([], {})
    )
    runs = [CVRun(m, m, features) for m in config.models] + [run for _, run in value_runs]
    tracking = config.tracking.enabled if track is None else track
    if tracking:
        from eih_ml.tracking import preload_in_background

        mlflow_imports = preload_in_background()
    for run in runs:
        progress.start_model(run.name, len(splits))
    cvs = nested_cross_validate_many(
        X,
        values,
        groups,
        splits,
        runs,
        task=task,
        rule=rule if task in CLASSIFIER_TASKS else None,
        inner_folds=config.cv.inner_folds,
        n_iter=config.search.n_iter,
        seed=config.seed,
        biomarkers=config.features.biomarkers.model_dump(),
        phenotypes=phenotype_settings(config),
        calibration=config.cv.calibration,
        n_jobs=config.cv.n_jobs,
        on_fold=lambda name, _fit: progress.fold_done(name),
        scoring=config.search.scoring,
        distributional=config.distributional,
    )
    for model, cv in zip(config.models, cvs, strict=False):
        result.cvs[model] = cv
        progress.stage(f"Evaluating {model}")
        ev = evaluate_predictions(
            cv.oof,
            task,
            n_boot=config.bootstrap.n_resamples,
            alpha=config.bootstrap.alpha,
            seed=config.seed,
        )
        ev["curves"] = curves(cv.oof, task, config.evaluation.decision_thresholds, config.seed)
        if task == "classification":
            from eih_ml.report.sections_figures import roc_points

            ev["curves"]["roc"] = roc_points(cv.oof)
        ev["subgroups"] = evaluate_subgroups(
            cv.oof,
            labels,
            task,
            min_participants=config.evaluation.min_subgroup_participants,
            n_boot=min(200, config.bootstrap.n_resamples),
            alpha=config.bootstrap.alpha,
            seed=config.seed,
        )
        if sites is not None:
            from eih_ml.evaluation.sites import site_results

            ev["sites"] = site_results(
                cv.oof,
                sites,
                task,
                n_boot=min(200, config.bootstrap.n_resamples),
                alpha=config.bootstrap.alpha,
                seed=config.seed,
            )
        ev["folds"] = [
            {
                "repeat": f.repeat,
                "fold": f.fold,
                "best_params": f.best_params,
                "inner_score": f.inner_score,
                "threshold": f.threshold,
                "n_train_participants": f.n_train_participants,
                "n_test_participants": f.n_test_participants,
            }
            for f in cv.folds
        ]
        ev["seconds"] = cv.seconds
        result.evaluations[model] = ev

    if config.evaluation.added_value:
        progress.stage("Added value of feature blocks")
        base_cvs = {block: cv for (block, _), cv in zip(value_runs, cvs, strict=True)}
        result.added_value = added_value(config, result, base_cvs, value_notes)

    result.model_comparisons = model_comparisons(config, result)
    choice = model_choice(config, result.evaluations)
    result.best_model = choice["chosen"]
    progress.stage(f"Refitting {result.best_model} on all participants")
    result.final_model, result.final_params, final_threshold = fit_final_model(
        config, result.best_model, X, values, groups
    )
    optimism = None
    if config.bootstrap.optimism:
        progress.stage(
            f"Harrell optimism correction ({config.bootstrap.optimism_resamples} resamples)"
        )
        from eih_ml.evaluation.optimism import harrell_optimism
        from eih_ml.outcomes import label

        y_all = (
            label(values, final_threshold, task, config.outcome.target).astype(int)
            if task == "classification" and final_threshold is not None
            else values
        )
        optimism = harrell_optimism(
            result.final_model,
            X,
            y_all,
            groups,
            task,
            n_boot=config.bootstrap.optimism_resamples,
            seed=config.seed,
        )
    if config.prediction.eih_interval and config.outcome.source == "acute":
        progress.stage("EIH prediction intervals (conformalized quantile regression)")
        from eih_ml.explain.eih_interval import fit_eih_interval

        result.eih_interval = fit_eih_interval(
            X,
            values,
            splits,
            unit="%" if outcome.name.startswith("eih_rel") else "kPa",
            levels=config.prediction.all_levels(),
            min_condition_rows=config.prediction.min_condition_rows,
            by_condition=config.prediction.interval_by_condition,
            seed=config.seed,
        )
    progress.stage(f"Explaining {result.best_model} (out-of-fold SHAP)")
    from eih_ml.bundle import ModelBundle
    from eih_ml.data.dictionary import load_dictionary
    from eih_ml.explain.global_explain import explain_model_cv

    result.explanations = explain_model_cv(
        result.cvs[result.best_model], X, task, load_dictionary(config.data.dictionary).biomarkers
    )
    result.summary = _summary(
        config, result, source, final_threshold, time.perf_counter() - started
    )
    summary = result.summary
    summary.explanations = result.explanations.summary()
    summary.model_choice = ModelChoice.model_validate(choice)
    if optimism is not None:
        summary.optimism_corrected = {"model": result.best_model, **optimism}
    progress.stage("Bundling the final model with its uncertainty (grouped conformal)")
    result.bundle = ModelBundle.build(result)
    summary.abstain = abstention_counts(result.bundle, result.X, result.groups)
    summary.uncertainty = uncertainty_summary(result.bundle)
    # the out-of-distribution flag's stated and measured false-alarm rate on training sessions
    summary.ood_flag = dict(result.bundle.reference.false_alarm)

    out = Path(output_dir) if output_dir else Path("runs") / config.name
    progress.stage(f"Writing results to {out}")
    _write_outputs(result, out)
    result.output_dir = out
    if tracking:
        progress.stage("Tracking in MLflow")
        from eih_ml.tracking import track_experiment

        mlflow_imports.join()
        result.run_id = track_experiment(result)
    return result


def abstention_counts(bundle: ModelBundle, X: pd.DataFrame, groups: np.ndarray) -> dict:
    """How many training sessions and participants the bundle's minimum-information rule abstains.

    Aggregates only (no participant is named): the experiment report and MLflow show them, so a
    rule that would turn away a large part of the cohort the model was built on is seen before
    the model reaches a clinic.
    """
    from eih_ml.bundle import columns_of

    rule = bundle.abstain_rule
    assessment = rule.assess(columns_of(X, list(X.columns)), len(X))
    abstained = assessment.abstained
    groups = np.asarray(groups)
    return {
        "description": rule.describe(),
        "enabled": rule.enabled,
        "required": [r.label for r in rule.required],
        "dropped": list(rule.dropped),
        "min_measured_share": rule.min_measured_share,
        "n_core": rule.n_core,
        "n_needed": rule.n_needed,
        "n_sessions": int(len(X)),
        "n_sessions_abstained": int(abstained.sum()),
        "n_participants": int(len(pd.unique(groups))),
        "n_participants_abstained": int(len(pd.unique(groups[abstained]))),
    }


def uncertainty_summary(bundle: ModelBundle) -> dict:
    """What the final model's uncertainty is made of, as aggregates (no participant rows).

    The levels a clinician can choose, the conformal set's method, the Venn-Abers calibration
    size and the EIH interval's out-of-fold coverage (overall and per condition) and widths
    at each level.
    """
    meta = bundle.meta
    out: dict = {
        "levels": list(bundle.offered_levels),
        "confidence_level": meta.confidence_level,
        "prediction_set": (meta.conformal or {}).get("method"),
    }
    if meta.venn_abers:
        out["venn_abers"] = {
            "method": meta.venn_abers["method"],
            "n_calibration": meta.venn_abers["n_calibration"],
        }
    if meta.eih_interval:
        e = meta.eih_interval
        out["eih_interval"] = {
            "method": e["method"],
            "unit": e["unit"],
            "by_condition": e["by_condition_rule"],
            "n_calibration": e["n_calibration"],
            "oof": e["oof_coverage"],
        }
    return out


def _check_feature_names(config: ExperimentConfig, table: pd.DataFrame) -> None:
    """features.include / exclude must name columns of the feature table."""
    for key in ("include", "exclude"):
        for name in getattr(config.features, key):
            if name not in table.columns:
                close = close_names(name, table.columns, n=3, cutoff=0.6)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise ConfigError(
                    f"features.{key} names {name!r}, which is not a column of the feature table."
                    f"{hint} 'eih-ml features DATA --out FILE' lists every column."
                )


def _best_model(config: ExperimentConfig, evaluations: dict[str, dict]) -> str:
    return model_choice(config, evaluations)["chosen"]


def model_choice(config: ExperimentConfig, evaluations: dict[str, dict]) -> dict:
    """The final model by the stated rule, with the rule and the numbers it read.

    The rule: the best out-of-fold primary metric wins; models within
    ``evaluation.choice_tolerance`` of it are tied (a difference that small is within the noise
    of a few hundred participants), and the tie goes to the lowest Brier score (classification
    and multiclass: calibration counts as well as ranking) or the lowest RMSE (regression).
    A primary metric best at a target value (a calibration slope) is compared by its distance
    from that target.
    """
    from eih_ml.evaluation.metrics import goodness

    pm = config.primary_metric
    scores = {m: e["metrics"].get(pm) for m, e in evaluations.items()}
    if any(v is None for v in scores.values()):
        raise ConfigError(
            f"evaluation.primary_metric {pm!r} is not a metric of this task; metrics: "
            + ", ".join(k for k in next(iter(evaluations.values()))["metrics"] if "_ci_" not in k)
        )
    good = {m: float(goodness(pm, v)) for m, v in scores.items()}
    top = max(good.values())
    tol = config.evaluation.choice_tolerance
    tied = [m for m, g in good.items() if g >= top - tol - 1e-12]
    tie_metric = "rmse" if config.outcome.task == "regression" else "brier"
    tie_scores = {m: evaluations[m]["metrics"].get(tie_metric) for m in tied}
    if len(tied) > 1 and all(v is not None for v in tie_scores.values()):
        chosen = min(tied, key=lambda m: tie_scores[m])
    else:
        chosen = max(good, key=lambda m: good[m])
    return {
        "chosen": chosen,
        "rule": (
            f"the best out-of-fold {pm}; models within {tol:g} of it are tied, and the tie goes "
            f"to the lowest {'RMSE' if tie_metric == 'rmse' else 'Brier score'}"
        ),
        "primary_metric": pm,
        "scores": scores,
        "tied": tied,
        "tie_break": tie_metric,
        "tie_scores": tie_scores if len(tied) > 1 else {},
    }


def _summary(
    config: ExperimentConfig,
    result: ExperimentResult,
    source: dict,
    final_threshold: float | None,
    seconds: float,
) -> RunSummary:
    from eih_ml.evaluation.evaluate import clean_dict
    from eih_ml.outcomes import CLASS_NAMES

    y = result.outcome.y.to_numpy(float)[result.rows]
    task = config.outcome.task
    prevalence = float(np.mean(y)) if task == "classification" else None
    class_prevalence = (
        {c: float(np.mean(y == j)) for j, c in enumerate(CLASS_NAMES)}
        if task == "multiclass"
        else None
    )
    icc = config.outcome.reliability.icc
    # the ceiling of a binary label; a three-class model's is that of its hyperalgesic class
    ceiling_prevalence = class_prevalence["hyperalgesic"] if class_prevalence else prevalence
    ceiling = (
        {}  # the ICC is acute EIH's: a programme outcome's reliability is not known here
        if result.outcome.programme
        else reliability_ceiling(
            icc, ceiling_prevalence if ceiling_prevalence and 0 < ceiling_prevalence < 1 else 0.5
        )
    )
    summary = {
        "name": config.name,
        "toolkit_version": __version__,
        "git_commit": _git_commit(),
        "config_digest": config.digest(),
        "primary_metric": config.primary_metric,
        "best_model": result.best_model,
        "data": {
            "source": source,
            "fingerprint": data_fingerprint(result.X),
            "n_participants": int(len(np.unique(result.groups))),
            "n_sessions": len(result.groups),
            "flow": result.cohort.flow,
            "validation": result.cohort.summary() | {"source": source.get("path", source["kind"])},
        },
        "outcome": result.outcome.provenance()
        | {
            "prevalence": prevalence,
            "class_prevalence": class_prevalence,
            "final_threshold": final_threshold,
            "risk_threshold": config.outcome.risk_threshold,
            "notes": result.outcome.notes,
        },
        "reliability_ceiling": ceiling,
        "features": result.features,
        "missing_data": missing_data(result.X),
        "model_specification": model_specification(config),
        "sample_size": result.sample_size,
        "models": {m: dict(e) for m, e in result.evaluations.items()},
        "added_value": result.added_value,
        "model_comparisons": result.model_comparisons,
        "final_model": {"model": result.best_model, "params": clean_dict(result.final_params)},
        "seconds": seconds,
    }
    return RunSummary.model_validate(summary)


HANDLING = {
    "elastic_net": "median imputation inside each training fold, with a missing-value indicator "
    "per feature; standardised",
    "random_forest": "median imputation inside each training fold, with missing-value indicators",
    "xgboost": "native missing-value handling (learned default split directions)",
}


def missing_data(X: pd.DataFrame) -> dict:
    """Share of analysed rows missing each model feature (aggregates only), and its handling."""
    inputs = [c for c in X.columns if not c.endswith(("_nd", "_lod"))]
    share = X[inputs].isna().mean().round(4)
    return {
        "per_feature": {c: float(v) for c, v in share.items()},
        "rows": len(X),
        "handling": HANDLING,
        "biomarkers": "values below the limit of detection substituted (LOD/sqrt 2 or LOD/2 by the "
        "training fold's GSD, Hornung & Reed 1990); a missing panel is flagged",
    }


def model_specification(config: ExperimentConfig) -> dict:
    """Each model family's preprocessing, estimator and search space (TRIPOD+AI item 12)."""
    from eih_ml.distributional import base_family, is_distributional
    from eih_ml.models import make_pipeline, search_space

    out: dict[str, dict[str, object]] = {}
    for model in config.models:
        base, task = base_family(model), config.outcome.task
        dist = is_distributional(model)
        pipe = make_pipeline(base, ["age"], "regression" if dist else task, seed=config.seed)
        space = search_space(base, "regression" if dist else task)
        estimator = type(pipe.named_steps["model"]).__name__
        search = (
            f"random search, {config.search.n_iter} candidates, "
            f"{config.cv.inner_folds} participant-grouped inner folds"
        )
        if task != "regression" and not dist:
            search += (
                ", scored by the log loss"
                if config.search.scoring == "log_loss"
                else ", scored by the AUROC"
            )
        elif not dist:
            search += ", scored by the mean squared error"
        else:
            search += ", scored by the mean squared error of EIH"
        out[model] = {
            "estimator": f"ExceedanceClassifier({estimator})" if dist else estimator,
            "missing_values": HANDLING[base],
            "search_space": {k.removeprefix("model__"): _describe(v) for k, v in space.items()},
            "search": search,
        }
        if dist:
            out[model]["distribution"] = (
                f"EIH ~ Normal(mu(x), sigma^2) with mu from the {estimator} of EIH and sigma the "
                "RMSE of its cross-validated predictions on the inner folds; the responder "
                "probability is P(EIH > threshold) = Phi((mu - threshold) / sigma)"
            )
        if config.features.blocks.phenotype:
            ph = config.features.phenotype
            out[model]["phenotype"] = (
                f"membership probabilities of {ph.n_components} Gaussian-mixture clusters "
                f"({ph.covariance_type} covariance) of the standardized QST and questionnaire "
                "features, fitted inside each training fold (eih_ml.phenotypes.PhenotypeClusters)"
            )
    return out


def _describe(dist: object) -> str:
    if isinstance(dist, list):
        return "one of " + ", ".join(map(str, dist))
    name = getattr(getattr(dist, "dist", None), "name", type(dist).__name__)
    args = ", ".join(f"{a:g}" for a in getattr(dist, "args", ()))
    return f"{name}({args})"


def _git_commit() -> str:
    from eih_ml.provenance import git_commit

    return git_commit()


def _write_outputs(result: ExperimentResult, out: Path) -> None:
    """Write the run folder next to ``out`` and move it into place only when complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_run_files(result, tmp)
        if result.bundle is not None:
            result.bundle.save(tmp / "model")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
