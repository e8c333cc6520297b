"""Typed experiment configs: ``load_config(path, overrides)``.

A config is a YAML file in ``configs/`` validated by pydantic models with ``extra="forbid"``: an
unknown key is an error naming its key path and the allowed keys. ``--set key.path=value``
overrides any leaf (the value is read as YAML: ``--set cv.outer_folds=10``,
``--set models=[xgboost]``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eih_ml.errors import ConfigError
from eih_ml.features.blocks import AddedValueBlock

#: The registry of model families: the direct ones (a classifier or regressor each, built by
#: eih_ml.models) ...
DIRECT_MODELS: tuple[str, ...] = ("elastic_net", "random_forest", "xgboost")
#: ... and each one's distributional variant (``{family}_dist``: a regression of the continuous
#: EIH turned into the responder probability, eih_ml.distributional).
DIST_SUFFIX = "_dist"
if TYPE_CHECKING:
    # A Literal built from the registry at run time is not a type mypy can read; to it a model
    # name is text (pydantic, at run time, validates the Literal below).
    ModelName = str
else:
    ModelName = Literal[(*DIRECT_MODELS, *(f"{m}{DIST_SUFFIX}" for m in DIRECT_MODELS))]
MODEL_NAMES: tuple[str, ...] = get_args(ModelName)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SimulateConfig(_Section):
    """Simulated cohort used when ``data.path`` is empty (the built-in default)."""

    n_participants: int = Field(300, ge=20)
    scenario: str = "chronic_mixed"
    seed: int = 0
    #: Also prescribe each participant an exercise programme and simulate its visits
    #: (eih_ml.data.simulate_programme): what outcome.source: programme reads.
    programme: bool = False


class DataConfig(_Section):
    """Where the cohort comes from."""

    path: str | None = None
    dictionary: str | None = None
    lenient: bool = False
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)
    #: The visits table of an exercise programme (eih_ml.data.visits): pain and function at
    #: follow-up weeks; needed by outcome.source: programme with a study file.
    visits: str | None = None
    #: True when the data's exercise protocol / programme was assigned at random: the
    #: protocol and prescription comparisons may then be read as effects, not associations.
    protocol_randomized: bool = False


class QuestionnaireConfig(_Section):
    """Questionnaire scoring options (see eih_ml.features.questionnaires for defaults/sources)."""

    tsk_form: Literal["tsk17", "tsk11"] = "tsk17"
    hads_items: Literal["scored", "positions"] = "scored"
    max_missing: dict[str, int] = Field(
        default_factory=dict,
        description="Per scale or subscale, e.g. {pcs: 1, hads_anxiety: 3, csi: 2}",
    )


class BiomarkerConfig(_Section):
    """Biomarker preprocessing inside the pipeline."""

    lod_method: Literal["auto", "sqrt2", "half", "censored"] = "auto"
    value_transform: Literal["auto", "log", "sqrt", "none"] = "auto"
    missing_indicator: bool = True


class BlocksConfig(_Section):
    """Feature blocks on/off (a block left out stays on)."""

    demographic: bool = True
    clinical: bool = True
    qst: bool = True
    psychological: bool = True
    biomarker: bool = True
    protocol: bool = True
    #: The pain-modulation profile as a model feature (always derived and reported; off by
    #: default because it re-reads cpm_abs and ts_diff through fixed cut-offs).
    profile: bool = False
    #: Data-driven phenotype membership (Gaussian-mixture probabilities on QST and
    #: questionnaires, ``features.phenotype``) as model features, fitted inside each training
    #: fold (eih_ml.phenotypes.PhenotypeClusters). Off by default.
    phenotype: bool = False
    #: The prescribed programme (modality, intensity, session duration, sessions per week,
    #: weeks): features when the data have programme columns.
    programme: bool = True
    #: The baseline session's acute EIH as a predictor of a programme outcome (only with
    #: outcome.source: programme).
    acute_eih: bool = False


class ProfileConfig(_Section):
    """Cut-offs of the pain-modulation profile (eih_ml/features/profile.py; Yarnitsky 2014).

    CPM efficient when cpm_abs > cpm_cutoff (positive = inhibition); TS facilitated when
    ts_diff > ts_cutoff (0-100 ratings; 5.7 = upper MDC of mechanical TS, Mailloux 2021).
    """

    cpm_cutoff: float = 0.0
    ts_cutoff: float = Field(5.7, ge=-100, le=100)


class PhenotypeFeatureConfig(_Section):
    """The clustering behind ``features.blocks.phenotype`` (eih_ml/phenotypes/transformer.py).

    ``features`` empty = the QST and questionnaire features of eih_ml.phenotypes.DEFAULT_FEATURES
    that the model has. Choose k with ``eih-ml phenotypes`` (BIC and stability) first.
    """

    n_components: int = Field(3, ge=2, le=6)
    covariance_type: Literal["full", "tied", "diag", "spherical"] = "diag"
    features: list[str] = Field(default_factory=list)


class FeatureConfig(_Section):
    """Feature blocks on/off, and single features added or removed."""

    blocks: BlocksConfig = Field(default_factory=BlocksConfig)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    questionnaires: QuestionnaireConfig = Field(default_factory=QuestionnaireConfig)
    biomarkers: BiomarkerConfig = Field(default_factory=BiomarkerConfig)
    profile: ProfileConfig = Field(default_factory=ProfileConfig)
    phenotype: PhenotypeFeatureConfig = Field(default_factory=PhenotypeFeatureConfig)
    ts_last_index: int | None = None
    rpe_scale: Literal["borg_6_20", "cr10"] = "borg_6_20"


class ReliabilityConfig(_Section):
    """Reliability of the outcome, for SEM-based responder rules and the reliability ceiling.

    Default ICC 0.5: between-session ICC of EIH_abs 0.40-0.54 (Gomolka 2019) and 0.45-0.57
    (Vaegter 2019).
    """

    icc: float = Field(0.5, gt=0, lt=1)
    sd: float | None = Field(None, gt=0)
    sem: float | None = Field(None, gt=0)
    source: str = "Gomolka 2019 (Pain Med 20:2272); Vaegter 2019 (Eur J Appl Physiol 119:91)"


class ProgrammeOutcomeConfig(_Section):
    """A programme outcome (eih_ml.programme): change from baseline at a follow-up week."""

    measure: Literal["pain_nrs", "odi_total", "ndi_total", "womac_total", "fiqr_total"] = "pain_nrs"
    week: float = Field(12.0, gt=0, le=520)
    window_weeks: float = Field(2.0, ge=0, le=52)
    #: abs / pct: the improvement (regression); immpact: a responder (classification).
    change: Literal["abs", "pct", "immpact"] = "abs"
    #: IMMPACT responder: >= 30 % (pct30, Dworkin 2008), >= 2 NRS points (points2, Farrar
    #: 2001), either or both.
    immpact_rule: Literal["pct30", "points2", "either", "both"] = "pct30"


class OutcomeConfig(_Section):
    """Which EIH outcome, and how a responder is defined."""

    site: Literal["local", "remote", "global"] = "local"
    measure: Literal["abs", "rel", "adj"] = "abs"
    #: classification: a binary label (see target); multiclass: hyperalgesic / non-responder /
    #: hypoalgesic by the same rule's threshold, mirrored; regression: the change in kPa or %.
    task: Literal["classification", "multiclass", "regression"] = "classification"
    rule: Literal["gt0", "sem", "2sem", "mdc95", "pct"] = "gt0"
    #: hypoalgesia: 1 = a responder (change > +threshold); hyperalgesia: 1 = pain sensitivity
    #: rising after exercise (change < -threshold), for the risk of more pain.
    target: Literal["hypoalgesia", "hyperalgesia"] = "hypoalgesia"
    #: Hyperalgesia and multiclass models: the (hyperalgesic) probability from which the patient text and the web app flag
    #: "risk of more pain after this exercise".
    risk_threshold: float = Field(0.5, gt=0, lt=1)
    pct_threshold: float = 10.0
    against_rest: bool = False

    @model_validator(mode="after")
    def _target_needs_a_label(self) -> OutcomeConfig:
        if self.target == "hyperalgesia" and self.task != "classification":
            raise ValueError(
                "target 'hyperalgesia' is a binary label: set outcome.task: classification "
                "(a multiclass model already has a hyperalgesic class, and a regression model "
                "predicts the signed change in kPa)"
            )
        return self

    sem_source: Literal["published", "training"] = "training"
    reliability: ReliabilityConfig = Field(default_factory=ReliabilityConfig)
    #: acute: the EIH of a lab session (the default); programme: pain or function after an
    #: exercise programme, read from the visits table (outcome.programme).
    source: Literal["acute", "programme"] = "acute"
    programme: ProgrammeOutcomeConfig = Field(default_factory=ProgrammeOutcomeConfig)


class CVConfig(_Section):
    """Participant-grouped nested cross-validation."""

    outer_folds: int = Field(5, ge=2)
    inner_folds: int = Field(3, ge=2)
    repeats: int = Field(1, ge=1)
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    #: grouped: participant-grouped folds; leave_site_out: internal-external cross-validation,
    #: each outer fold one site left out (needs the site column, at least 3 sites).
    scheme: Literal["grouped", "leave_site_out"] = "grouped"
    n_jobs: int = Field(2, ge=1, description="Parallel outer folds (processes)")


class SearchConfig(_Section):
    """Hyperparameter search inside the inner folds."""

    n_iter: int = Field(6, ge=1, description="Random-search candidates per model and outer fold")
    #: What the inner folds maximise for a classifier. log_loss (the default) rewards
    #: probabilities that are calibrated as well as discriminating: a setting that ranks well
    #: but is over-confident loses (a strictly proper score; Gneiting & Raftery 2007, J Am Stat
    #: Assoc 102:359). auroc looks at ranking only. Regression always minimises the MSE.
    scoring: Literal["log_loss", "auroc"] = "log_loss"


class DistributionalConfig(_Section):
    """How the distributional families (``*_dist``) use a participant's several sessions."""

    #: independent (the default) fits every session on its own (folds stay grouped by
    #: participant). random_intercept fits the regressor of EIH as the fixed part of a
    #: random-intercept model of sessions (the mixed-effects random forest algorithm; Hajjem,
    #: Bellavance & Larocque 2014, J Stat Comput Simul 84:1313), so a participant's own
    #: propensity, shared by all of their sessions, is not learnt as a feature effect. On the
    #: simulated cohorts of bench/bench_signal.py it did not raise the AUROC (see
    #: eih_ml.distributional), hence not the default.
    participant_effect: Literal["random_intercept", "independent"] = "independent"
    #: Alternating fits of the random-intercept model (1 = the ordinary fit).
    iterations: int = Field(3, ge=1, le=20)
    #: constant (the default): one predictive SD sigma for every patient, the RMSE of the
    #: cross-validated predictions. heteroscedastic: a per-patient sigma(x) from a Gamma GLM
    #: (log link) of the cross-validated squared residuals on the predicted EIH and the
    #: features (eih_ml.distributional.fit_scale_model), kept within 0.25-4 times the constant
    #: sigma. An option until it is measured better on a cohort (see eih_ml.distributional).
    scale: Literal["constant", "heteroscedastic"] = "constant"


class BootstrapConfig(_Section):
    """Participant-level bootstrap for CIs and optional Harrell optimism correction."""

    n_resamples: int = Field(500, ge=50)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    optimism: bool = False
    optimism_resamples: int = Field(50, ge=10)


Subgroup = Literal["sex", "condition", "age_band", "pain_modulation_profile"]
#: The subgroups and added-value blocks an experiment reports by default.
DEFAULT_SUBGROUPS: tuple[Subgroup, ...] = ("sex", "condition", "age_band")
DEFAULT_ADDED_VALUE: tuple[AddedValueBlock, ...] = ("biomarker",)


class EvaluationConfig(_Section):
    """Subgroups, decision-curve thresholds and added-value comparisons."""

    subgroups: list[Subgroup] = Field(default_factory=lambda: list(DEFAULT_SUBGROUPS))
    age_bands: list[float] = Field(default_factory=lambda: [40.0, 60.0])
    min_subgroup_participants: int = Field(20, ge=5)
    decision_thresholds: list[float] = Field(
        default_factory=lambda: [round(0.05 * i, 2) for i in range(2, 19)]
    )
    added_value: list[AddedValueBlock] = Field(default_factory=lambda: list(DEFAULT_ADDED_VALUE))
    added_value_model: ModelName | None = Field(
        None, description="Model used for added-value comparisons (default: the first model)"
    )
    primary_metric: str | None = Field(
        None, description="Default: auroc for classification, r2 for regression"
    )
    choice_tolerance: float = Field(
        0.01,
        ge=0,
        description=(
            "Models whose primary metric is within this of the best are tied; the tie goes to "
            "the lowest Brier score (RMSE for regression)"
        ),
    )
    anticipated_r2: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="Anticipated R2 for the continuous sample size (EIH: about 0.05-0.25)",
    )
    anticipated_r2_cs: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Anticipated Cox-Snell R2 (binary); default 15 % of its maximum (Riley 2020)",
    )

    @model_validator(mode="after")
    def _thresholds_in_range(self) -> EvaluationConfig:
        bad = [t for t in self.decision_thresholds if not 0 < t < 1]
        if bad:
            raise ValueError(f"decision_thresholds must lie strictly between 0 and 1; got {bad}")
        return self


class RegistryConfig(_Section):
    """The registered model and its champion alias."""

    enabled: bool = True
    name: str = "eih_ml_responder"
    force_champion: bool = False


class TrackingConfig(_Section):
    """MLflow tracking. ``tracking_uri`` empty: a SQLite store in the project folder."""

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = "eih_ml"
    log_participant_data: bool = Field(
        False,
        description="Opt in to logging participant-level rows (out-of-fold predictions with ids)",
    )
    registry: RegistryConfig = Field(default_factory=RegistryConfig)


class KeyMeasurementConfig(_Section):
    """A measurement a prediction needs: any one of ``any_of`` (model feature names) measured."""

    label: str = Field(min_length=1)
    any_of: list[str] = Field(min_length=1)


def _default_key_measurements() -> list[KeyMeasurementConfig]:
    return [
        KeyMeasurementConfig(label="the exercise type", any_of=["exercise_modality"]),
        KeyMeasurementConfig(
            label="a pressure pain threshold (PPT at the exercising muscle or a remote site)",
            any_of=["ppt_local_pre", "ppt_remote_pre"],
        ),
    ]


class AbstainConfig(_Section):
    """The minimum-information rule (eih_ml.explain.abstain): abstain when too little is measured.

    ``required``: key measurements, each satisfied by any of its features (dropped from the rule
    when the model does not use them or fewer than ``training_share`` of the training sessions
    had them). ``min_measured_share``: the share of the core measurements (those at least
    ``training_share`` of the training sessions had) below which the model abstains.
    """

    enabled: bool = True
    required: list[KeyMeasurementConfig] = Field(default_factory=_default_key_measurements)
    min_measured_share: float = Field(0.5, ge=0, le=1)
    training_share: float = Field(0.5, gt=0, le=1)


class PredictionConfig(_Section):
    """How the final model answers for new patients, and with which uncertainty.

    ``confidence_level`` is the level a prediction is given at unless the clinician picks another
    of ``levels`` (every level is calibrated at training time). ``venn_abers``: an interval for a
    responder probability (eih_ml.explain.venn_abers). ``eih_interval``: a prediction interval
    for the patient's EIH whose width adapts to the patient (conformalized quantile regression,
    eih_ml.explain.eih_interval); ``interval_by_condition``: mondrian (the default: each
    condition with at least ``min_condition_rows`` sessions gets its own correction, the others
    the pooled one), floor (a condition's own correction as a floor under the pooled one) or
    pooled (one correction for everyone).
    """

    abstain: AbstainConfig = Field(default_factory=AbstainConfig)
    confidence_level: float = Field(0.9, gt=0.5, lt=1)
    levels: list[float] = Field(default_factory=lambda: [0.8, 0.9, 0.95])
    venn_abers: bool = True
    eih_interval: bool = True
    interval_by_condition: Literal["pooled", "floor", "mondrian"] = "mondrian"
    min_condition_rows: int = Field(40, ge=10)

    @model_validator(mode="after")
    def _levels(self) -> PredictionConfig:
        bad = [v for v in self.levels if not 0.5 < v < 1]
        if bad:
            raise ValueError(f"prediction.levels must lie between 0.5 and 1; got {bad}")
        return self

    def all_levels(self) -> tuple[float, ...]:
        """``levels`` with ``confidence_level`` among them, sorted."""
        return tuple(sorted({*(float(v) for v in self.levels), float(self.confidence_level)}))


#: The direct model families every task gets by default.
DIRECT_DEFAULT: tuple[str, ...] = DIRECT_MODELS


def default_models(raw: Mapping[str, object]) -> list[str]:
    """The default ``models`` for a (raw, not yet validated) config mapping.

    The direct families for every task; ``xgboost_dist`` as well for an acute responder
    classification without ``cv.calibration`` or ``bootstrap.optimism`` (which a distributional
    model cannot take, see :class:`ExperimentConfig`).

    >>> default_models({})
    ['elastic_net', 'random_forest', 'xgboost', 'xgboost_dist']
    >>> default_models({"outcome": {"task": "regression"}})
    ['elastic_net', 'random_forest', 'xgboost']
    """

    def read(section: str, key: str, default: object) -> object:
        value = raw.get(section) or {}
        return value.get(key, default) if isinstance(value, dict) else getattr(value, key, default)

    models = list(DIRECT_DEFAULT)
    if (
        read("outcome", "task", "classification") == "classification"
        and read("outcome", "source", "acute") != "programme"
        and read("cv", "calibration", "none") == "none"
        and not read("bootstrap", "optimism", False)
    ):
        models.append("xgboost_dist")
    return models


class ExperimentConfig(_Section):
    """A whole experiment, top to bottom in the order ``run_experiment`` runs it."""

    name: str = "default"
    description: str = ""
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    outcome: OutcomeConfig = Field(default_factory=OutcomeConfig)
    #: The model families compared in the nested CV. Left out (or null), it is the task's
    #: default (:func:`default_models`): the three direct families, and for an acute responder
    #: classification also ``xgboost_dist``, the distributional model of EIH (the best in
    #: bench/bench_signal.py, whose label-level checks it does not need: it is left out where
    #: cv.calibration or bootstrap.optimism is set).
    models: list[ModelName] = Field(min_length=1)
    cv: CVConfig = Field(default_factory=CVConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    distributional: DistributionalConfig = Field(default_factory=DistributionalConfig)
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    prediction: PredictionConfig = Field(default_factory=PredictionConfig)

    @model_validator(mode="before")
    @classmethod
    def _task_default_models(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("models") is None:
            data = {**data, "models": default_models(data)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models lists a model twice: {self.models}")
        o = self.outcome
        if o.source == "programme":
            want = "classification" if o.programme.change == "immpact" else "regression"
            if o.task != want:
                raise ValueError(
                    f"outcome.programme.change {o.programme.change!r} needs outcome.task: "
                    f"{want} (immpact is a responder label; abs and pct are improvements)"
                )
            if o.target != "hypoalgesia" or o.against_rest:
                raise ValueError(
                    "outcome.target and outcome.against_rest describe an acute EIH outcome; "
                    "leave them at their defaults with outcome.source: programme"
                )
            if self.data.path and not self.data.visits:
                raise ValueError(
                    "outcome.source: programme reads the visits table: set data.visits to its "
                    "file (participant_id, weeks_from_baseline, pain_nrs, ...)"
                )
            if not self.data.path and not self.data.simulate.programme:
                raise ValueError(
                    "outcome.source: programme on simulated data needs "
                    "data.simulate.programme: true (the simulator then writes the visits)"
                )
        elif self.features.blocks.acute_eih:
            raise ValueError(
                "features.blocks.acute_eih uses the baseline session's EIH as a predictor, which "
                "is the outcome of an acute experiment: only with outcome.source: programme"
            )
        dist = [m for m in self.models if m.endswith(DIST_SUFFIX)]
        if dist:
            if self.outcome.task != "classification":
                raise ValueError(
                    f"{', '.join(dist)}: a distributional model gives the probability of a "
                    "binary label from a regression of EIH; it needs outcome.task: "
                    f"classification (this config has {self.outcome.task}; for EIH in kPa use "
                    "the family without _dist)"
                )
            if self.cv.calibration != "none":
                raise ValueError(
                    f"cv.calibration {self.cv.calibration} recalibrates a classifier on labels; "
                    f"{', '.join(dist)} are calibrated by their predictive distribution. Set "
                    "cv.calibration: none, or drop the _dist models"
                )
            if self.bootstrap.optimism:
                raise ValueError(
                    "bootstrap.optimism refits models on resampled labels, and a distributional "
                    f"model ({', '.join(dist)}) is fitted on the continuous EIH; set "
                    "bootstrap.optimism: false (the nested CV estimates need no correction)"
                )
        if self.outcome.task == "multiclass":
            # Not built for three classes yet: said here, before any fitting, not mid-run.
            if self.cv.scheme == "leave_site_out":
                raise ValueError(
                    "cv.scheme leave_site_out is not available for outcome.task multiclass "
                    "yet (its pooled site metrics are binary or continuous); use cv.scheme: "
                    "grouped, or outcome.target: hyperalgesia for a binary hyperalgesia model"
                )
            if self.bootstrap.optimism:
                raise ValueError(
                    "bootstrap.optimism (Harrell's correction) is not available for "
                    "outcome.task multiclass yet; the nested cross-validation estimates are "
                    "already free of optimism. Set bootstrap.optimism: false"
                )
        return self

    def __repr__(self) -> str:
        d, o = self.data, self.outcome
        data = (
            f"data {Path(d.path).name}"
            if d.path
            else f"simulated {d.simulate.n_participants} participants ({d.simulate.scenario})"
        )
        outcome = f"{o.source} {o.measure} EIH at {o.site}, {o.task}"
        if o.task != "regression":
            outcome += f" (rule {o.rule}, {o.target})"
        return (
            f"<ExperimentConfig {self.name!r}: {data}; {outcome}; models {', '.join(self.models)}; "
            f"{self.cv.outer_folds}x{self.cv.inner_folds} {self.cv.scheme} CV; digest "
            f"{self.digest()}>"
        )

    @property
    def primary_metric(self) -> str:
        """The metric that ranks models and decides the champion."""
        if self.evaluation.primary_metric:
            return self.evaluation.primary_metric
        return {"classification": "auroc", "multiclass": "auroc_macro"}.get(self.outcome.task, "r2")

    def digest(self) -> str:
        """A short hash of the resolved config (for run names and provenance)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def flat(self) -> dict[str, str]:
        """Readable flattened ``section.key`` -> value (for MLflow params and comparisons)."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: object) -> None:
            if isinstance(value, dict) and value:
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = json.dumps(value) if isinstance(value, list | dict) else str(value)

        walk("", self.model_dump(mode="json"))
        return out


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at a key path (for 'unknown key' messages)."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None:
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        ann = field.annotation
        current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(current.model_fields) if current else []


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"Config {source} is not valid:"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(ExperimentConfig, err["loc"])
            lines.append(f"  - {path}: unknown key; allowed keys here: {', '.join(allowed)}")
        else:
            lines.append(f"  - {path}: {err['msg']} (found {err.get('input')!r})")
    lines.append("Fix the keys above (configs/default.yaml documents every key).")
    return "\n".join(lines)


def _apply_override(raw: dict, override: str) -> None:
    if "=" not in override:
        raise ConfigError(
            f"--set expects key.path=value (e.g. cv.outer_folds=10); got {override!r}"
        )
    key, value = override.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {override!r}: empty key in {key!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML ({exc})") from None
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {part} is a value, not a section")
        node = child
    node[parts[-1]] = parsed


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    data: str | None = None,
) -> ExperimentConfig:
    """Read, override and validate an experiment config.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; ``None`` gives the built-in defaults (a simulated cohort).
    overrides : list of str
        ``key.path=value`` items, applied in order.
    data : str, optional
        Study file replacing ``data.path`` (the CLI's ``--data``).

    Raises
    ------
    ConfigError
        The file is missing or not YAML, a key is unknown (the message names its path and the
        allowed keys) or a value is invalid.
    """
    source = str(path) if path else "<defaults>"
    raw: object = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config {p} does not exist; configs/ holds the shipped ones.")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Config {p} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"Config {p} must be a YAML mapping, found {type(raw).__name__}.")
        base_dir = p.resolve().parent
        _resolve_paths(raw, base_dir)
    assert isinstance(raw, dict)
    for item in overrides:
        _apply_override(raw, item)
    if data is not None:
        raw.setdefault("data", {})["path"] = str(Path(data).resolve())
    try:
        return ExperimentConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def _resolve_paths(raw: dict, base_dir: Path) -> None:
    """Relative data and dictionary paths are read relative to the project or the config."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    for key in ("path", "dictionary"):
        value = data.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            for root in (Path.cwd(), base_dir, base_dir.parent):
                if (root / value).exists():
                    data[key] = str((root / value).resolve())
                    break
