"""The model bundle: the final pipeline with everything a prediction needs to be explained.

A bundle holds the fitted pipeline (refit on all participants with the chosen hyperparameters),
its conformal calibration (a quantile of participant-grouped out-of-fold conformity scores,
:mod:`eih_ml.explain.conformal`), and aggregates of the training cohort (percentile grids,
category counts: never a participant's row) for percentiles and out-of-distribution warnings. It is
saved as a folder:

* ``pipeline.skops``: the scikit-learn pipeline stored with skops, loaded with an explicit
  allowlist of trusted type families (never pickle);
* ``bundle.json``: task, features and their metadata, outcome definition, the threshold, the
  conformal calibration, the training cohort's aggregates and provenance.

:meth:`ModelBundle.predict` takes rows in the data contract's canonical columns (questionnaire
items or totals, PPT trials, protocol...) and returns, per row, the prediction, its uncertainty,
the top contributing factors and the out-of-distribution flag, in the columns that
:mod:`eih_ml.prediction` declares once. The MLflow pyfunc, the CLI and the web app all call it,
so they return the same columns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import numpy as np
import pandas as pd
from pydantic import PrivateAttr

from eih_ml import __version__
from eih_ml.errors import DataError, ModelError
from eih_ml.explain.abstain import AbstainRule, feature_masks
from eih_ml.explain.conformal import ConformalCalibration
from eih_ml.explain.reference import CohortReference
from eih_ml.explain.venn_abers import VennAbersCalibration
from eih_ml.features.derive import CATEGORICAL
from eih_ml.features.metadata import PHENOTYPE_FEATURE, feature_info
from eih_ml.features.profile import COLUMN as PROFILE
from eih_ml.features.profile import ProfileRule, profile_array
from eih_ml.frame_mode import python_string_storage, to_python_strings
from eih_ml.prediction import EMPTIED_ON_ABSTAIN, ordered
from eih_ml.run_record import OutcomeSummary, Record

if TYPE_CHECKING:  # the interval module imports scikit-learn: loaded when a bundle has one
    from eih_ml.data.dictionary import ColumnDictionary
    from eih_ml.data.load import StudyTable
    from eih_ml.data.validate import CohortReport
    from eih_ml.experiment import ExperimentResult
    from eih_ml.explain.attribution import Attributor
    from eih_ml.explain.eih_interval import IntervalCalibration, QuantileBand
    from eih_ml.features.questionnaires import QuestionnaireScoring
    from eih_ml.models import Task

    #: What :meth:`ModelBundle.predict` takes: a table, a loaded file or one record per patient.
    Rows = pd.DataFrame | StudyTable | Sequence[Mapping[str, object]]

BUNDLE_FORMAT = 1
#: Type families a bundle may contain; anything else in a file is refused at load.
TRUSTED_MODULES = ("sklearn.", "xgboost.", "eih_ml.", "numpy.", "scipy.", "builtins.")
CLASSES = ("non-responder", "responder")
#: The classes of a model of the hyperalgesia target (outcome.target: hyperalgesia).
HYPERALGESIA_CLASSES = ("not hyperalgesic", "hyperalgesic")
#: The classes of a three-class model (outcome.task: multiclass), in its column order.
MULTICLASS_CLASSES = ("hyperalgesic", "non-responder", "hypoalgesic")


def _dump(obj: object, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


def _load(path: Path) -> object:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
    if refused:
        raise ModelError(
            f"{path} contains types outside the trusted families ({', '.join(TRUSTED_MODULES)}): "
            f"{', '.join(refused)}. It was not written by eih_ml; refusing to load it."
        )
    return sio.load(path, trusted=untrusted)


class BundleMeta(Record):
    """A bundle's metadata, as ``bundle.json`` holds it (without the cohort reference).

    Born in :meth:`ModelBundle.build`; written and read only by :meth:`to_json` and
    :meth:`read`. It reads like the dict it replaces (``meta["outcome"]["target"]``,
    ``meta.get("abstain")``) for code and notebooks written against it; the package reads
    attributes. Keys are written in the order they were set (a bundle read from disk keeps its
    file's order), so a bundle saved again writes the same bytes. A bundle saved before a
    field existed leaves it unset: the attribute is then its default, the mapping view has no
    such key and it is not written back. Unknown keys (a newer version's) are kept.
    """

    format: int
    toolkit_version: str | None = None
    #: When the model was bundled, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).
    created: str | None = None
    #: The chosen model family (``xgboost``, ``elastic_net``...) and its tuned hyperparameters.
    model: str = "model"
    params: dict[str, Any] = {}
    task: Literal["classification", "multiclass", "regression"]
    features: list[str]
    #: Per feature: label, domain, unit... (:func:`eih_ml.features.metadata.feature_info`).
    feature_info: dict[str, dict[str, Any]] = {}
    #: The minimum-information rule (:meth:`eih_ml.explain.abstain.AbstainRule.to_dict`).
    abstain: dict[str, Any] | None = None
    #: The outcome's definition, as the run summary holds it.
    outcome: OutcomeSummary
    threshold: float | int | None = None
    confidence_level: float | int
    levels: list[float | int] = []
    conformal: dict[str, Any] | None = None
    conformal_levels: dict[str, dict[str, Any]] = {}
    venn_abers: dict[str, Any] | None = None
    eih_interval: dict[str, Any] | None = None
    primary_metric: str | None = None
    performance: dict[str, Any] = {}
    #: The feature derivation's options (questionnaires, ts_last_index, rpe_scale, profile).
    derive: dict[str, Any] = {}
    training_cohort: dict[str, Any] = {}
    reliability_ceiling: dict[str, Any] | None = {}
    protocol_randomized: bool = False
    #: The column dictionary the training file was read through (its rules, no data), or None.
    dictionary: dict[str, Any] | None = None
    background_mean: list[float] | None = None
    #: The lineage of an updated model (:mod:`eih_ml.evaluation.updating`).
    update: dict[str, Any] | None = None

    _order: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "the bundle") -> BundleMeta:
        """Metadata from its JSON form, keeping its key order.

        Raises
        ------
        ModelError
            ``data`` is not an eih_ml bundle's metadata (the message names ``source`` and the
            first key that is missing or wrong).
        """
        meta = cls.validated(data, source, "the metadata of an eih_ml model bundle", ModelError)
        meta._order = list(data)
        return meta

    def keys(self) -> list[str]:
        """The keys that were set: in the order they were read, then the others."""
        present = super().keys()
        first = [k for k in self._order if k in present]
        return first + [k for k in present if k not in first]

    def to_dict(self) -> dict[str, Any]:
        """The metadata as plain Python, with only the keys that were set, in :meth:`keys` order."""
        dumped = super().to_dict()
        return {k: dumped[k] for k in self.keys()}

    def to_json(self, reference: Mapping[str, Any]) -> str:
        """``bundle.json``'s text: the metadata, then the training cohort's ``reference``."""
        return json.dumps({**self.to_dict(), "reference": dict(reference)}, indent=2)

    @classmethod
    def read(cls, path: Path) -> tuple[BundleMeta, dict[str, Any]]:
        """Read ``bundle.json`` -> (metadata, the reference's dict).

        Raises
        ------
        ModelError
            The file is not JSON, or not a bundle of this format.
        """
        data, reference = cls.read_json(path)
        return cls.from_mapping(data, str(path)), reference

    @staticmethod
    def read_json(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """``bundle.json`` -> (its metadata as JSON, the reference's dict), format checked only.

        Raises
        ------
        ModelError
            The file is not JSON, or not a bundle of this format.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path} is not JSON ({exc}); it is not an eih_ml bundle.") from exc
        if not isinstance(data, dict):
            raise ModelError(f"{path} holds {type(data).__name__}, not an eih_ml bundle.")
        if data.get("format") != BUNDLE_FORMAT:
            raise ModelError(
                f"{path.parent}: bundle format {data.get('format')} is not {BUNDLE_FORMAT}; "
                "retrain the model with this version of eih_ml."
            )
        reference = data.pop("reference", None)
        if not isinstance(reference, dict):
            raise ModelError(f"{path} has no 'reference': it is not an eih_ml model bundle.")
        return data, reference


@dataclass(frozen=True)
class PreparedPrediction:
    """Predictions with the model matrix they were scored from (:meth:`ModelBundle.predict_prepared`)."""

    #: :meth:`ModelBundle.predict`'s columns, one row per scored input row.
    table: pd.DataFrame
    #: The model matrix of the same rows in the same order (the model's features as columns).
    matrix: pd.DataFrame

    def __len__(self) -> int:
        return len(self.table)


@dataclass
class ModelBundle:
    """A fitted model with its uncertainty, reference cohort and metadata."""

    pipeline: object
    conformal: ConformalCalibration | None
    #: The bundle's metadata; a plain mapping given here is read into :class:`BundleMeta`.
    meta: BundleMeta
    reference: CohortReference = field(default_factory=CohortReference)
    #: Venn-Abers interval of the responder probability (binary models), or None.
    venn_abers: VennAbersCalibration | None = None
    #: Quantile heads of the EIH prediction interval (:class:`~eih_ml.explain.eih_interval.
    #: QuantileBand`) and their conformal calibration, or None.
    eih_heads: QuantileBand | None = field(default=None, repr=False)
    eih_calibration: IntervalCalibration | None = None
    _attributor: Attributor | None = field(default=None, repr=False)
    _questionnaire_scoring: QuestionnaireScoring | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.meta, BundleMeta):
            self.meta = BundleMeta.from_mapping(self.meta)

    # ------------------------------------------------------------------------------- properties
    @property
    def task(self) -> Task:
        """classification, multiclass or regression."""
        return self.meta.task

    @property
    def features(self) -> list[str]:
        """Model input features, in order."""
        return list(self.meta.features)

    def __repr__(self) -> str:
        o = self.meta.outcome
        return (
            f"<ModelBundle {self.meta.model}: {self.task} of {o.outcome}, "
            f"{len(self.features)} features, trained on {self.reference.n_participants} "
            "participants>"
        )

    @property
    def _scoring(self) -> QuestionnaireScoring:
        """The questionnaire scoring rules the model was trained with (built once)."""
        if self._questionnaire_scoring is None:
            from eih_ml.features.questionnaires import QuestionnaireScoring

            self._questionnaire_scoring = QuestionnaireScoring.from_options(
                **self.meta.derive["questionnaires"]
            )
        return self._questionnaire_scoring

    @property
    def attributor(self) -> Attributor:
        """The SHAP attributor (built once)."""
        if self._attributor is None:
            from eih_ml.explain.attribution import Attributor

            mean = self.meta.background_mean
            self._attributor = Attributor(
                self.pipeline, self.task, None if mean is None else np.asarray(mean)
            )
        return self._attributor

    # ------------------------------------------------------------------------------------ build
    @classmethod
    def build(
        cls, result: ExperimentResult, *, confidence_level: float | None = None
    ) -> ModelBundle:
        """Bundle the final model of an experiment (:class:`eih_ml.experiment.ExperimentResult`).

        ``confidence_level`` defaults to ``prediction.confidence_level``; every level of
        ``prediction.levels`` is calibrated too (:meth:`at_level`).
        """
        from eih_ml.evaluation.evaluate import predictions
        from eih_ml.explain.attribution import background_mean

        config = result.config
        task = config.outcome.task
        summary = result.summary
        if summary is None:
            raise ModelError("The experiment has no summary yet: bundle it after it has run.")
        threshold = summary.outcome.final_threshold
        oof = result.cvs[result.best_model].oof
        level = float(confidence_level or config.prediction.confidence_level)
        levels = tuple(sorted({*config.prediction.all_levels(), level}))
        y_oof, p_oof = oof["y"].to_numpy(float), predictions(oof, task)
        conformal_levels = ConformalCalibration.fit_levels(y_oof, p_oof, task, levels)
        conformal = conformal_levels[f"{level:g}"]
        venn = (
            VennAbersCalibration.fit(y_oof, p_oof)
            if task == "classification" and config.prediction.venn_abers
            else None
        )
        heads, eih_cal = getattr(result, "eih_interval", None) or (None, None)
        reference = CohortReference.from_training(result.X, result.groups)
        from eih_ml.data.dictionary import load_dictionary

        dictionary = load_dictionary(config.data.dictionary)
        biomarkers = dictionary.biomarkers
        info = {f: feature_info(f, biomarkers).as_dict() for f in result.X.columns}
        explanations = getattr(result, "explanations", None)
        rule = AbstainRule.fit(
            config.prediction.abstain,
            result.X,
            info,
            None if explanations is None else explanations.importance["mean_abs_shap"].to_dict(),
        )
        meta = BundleMeta(
            format=BUNDLE_FORMAT,
            toolkit_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            model=result.best_model,
            params=result.final_params,
            task=task,
            features=list(result.X.columns),
            feature_info=info,
            abstain=rule.to_dict(),
            outcome=summary.outcome.model_copy(deep=True),
            threshold=threshold,
            confidence_level=level,
            levels=list(levels),
            conformal=conformal.to_dict(),
            conformal_levels={k: c.to_dict() for k, c in conformal_levels.items()},
            venn_abers=None if venn is None else venn.to_dict(),
            eih_interval=None if eih_cal is None else eih_cal.to_dict(),
            primary_metric=config.primary_metric,
            performance=summary.models[result.best_model].metrics,
            derive={
                "questionnaires": config.features.questionnaires.model_dump(),
                "ts_last_index": config.features.ts_last_index,
                "rpe_scale": config.features.rpe_scale,
                "profile": config.features.profile.model_dump(),
            },
            training_cohort={
                "n_participants": reference.n_participants,
                "n_sessions": reference.n_sessions,
                "source": summary.data.source,
                "fingerprint": summary.data.fingerprint,
                "conditions": reference.categories.get("condition", {}),
                "sex": reference.categories.get("sex", {}),
            },
            reliability_ceiling=summary.reliability_ceiling,
            protocol_randomized=bool(config.data.protocol_randomized),
            # the column dictionary the training file was read through (its mapping rules, no
            # data): predict, explain and evaluate read files through it unless told otherwise
            dictionary=(
                {
                    "source": Path(str(config.data.dictionary)).name,
                    **dictionary.model_dump(mode="json"),
                }
                if config.data.dictionary
                else None
            ),
            background_mean=(
                background_mean(result.final_model, result.X).tolist()
                if result.best_model in ("elastic_net", "elastic_net_dist")
                else None
            ),
        )
        return cls(result.final_model, conformal, meta, reference, venn, heads, eih_cal)

    # -------------------------------------------------------------------------------- save/load
    def save(self, directory: str | Path) -> Path:
        """Write the bundle folder (pipeline.skops, conformal.skops, bundle.json)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _dump(self.pipeline, directory / "pipeline.skops")
        if self.eih_heads is not None:
            _dump(self.eih_heads, directory / "eih_interval.skops")
        text = self.meta.to_json(self.reference.to_dict())
        (directory / "bundle.json").write_text(text, encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> ModelBundle:
        """Read a bundle folder written by :meth:`save`."""
        directory = Path(directory)
        meta_path = directory / "bundle.json"
        if not meta_path.is_file():
            raise ModelError(
                f"{directory} is not an eih_ml model bundle (no bundle.json). Pass the folder "
                "written by 'eih-ml train', or a models:/ or runs:/ URI."
            )
        data, reference_dict = BundleMeta.read_json(meta_path)
        # the files' types are checked before the metadata, as they always were
        heads = None
        if data.get("eih_interval") and (directory / "eih_interval.skops").is_file():
            heads = cast("QuantileBand", _load(directory / "eih_interval.skops"))  # skops: object
        pipeline = _load(directory / "pipeline.skops")
        meta = BundleMeta.from_mapping(data, str(meta_path))
        reference = CohortReference.from_dict(reference_dict)
        conformal = ConformalCalibration.from_dict(meta.conformal) if meta.conformal else None
        venn = VennAbersCalibration.from_dict(meta.venn_abers) if meta.venn_abers else None
        eih_cal = None
        if heads is not None and meta.eih_interval:
            from eih_ml.explain.eih_interval import IntervalCalibration

            eih_cal = IntervalCalibration.from_dict(meta.eih_interval)
        return cls(pipeline, conformal, meta, reference, venn, heads, eih_cal)

    def at_level(self, level: float) -> ModelBundle:
        """The same model answering at another calibrated confidence level.

        The conformal set and the EIH interval follow the level; the probability and its
        Venn-Abers interval do not depend on it. The copy shares the fitted model and its
        explainer.

        Raises
        ------
        ModelError
            ``level`` was not calibrated at training time (``prediction.levels``).
        """
        level = float(level)
        if abs(level - float(self.meta.confidence_level)) < 1e-9:
            return self
        calibrated = self.meta.conformal_levels
        key = f"{level:g}"
        if key not in calibrated:
            offered = ", ".join(f"{100 * float(v):g} %" for v in self.offered_levels)
            raise ModelError(
                f"Confidence level {100 * level:g} % was not calibrated for this model; it offers "
                f"{offered}. Pick one of them, or retrain with it in prediction.levels."
            )
        self.attributor  # noqa: B018 - build the explainer once, for both copies
        return replace(
            self,
            conformal=ConformalCalibration.from_dict(calibrated[key]),
            meta=self.meta.model_copy(update={"confidence_level": level}),
        )

    @property
    def dictionary(self) -> ColumnDictionary | None:
        """The column dictionary the model was trained through, or None (canonical names).

        A :class:`~eih_ml.data.dictionary.ColumnDictionary`; None when the model was trained on
        canonical column names.
        """
        kept = self.meta.dictionary
        if not kept:
            return None
        from eih_ml.data.dictionary import ColumnDictionary

        fields = {k: v for k, v in kept.items() if k != "source"}
        return ColumnDictionary.model_validate(
            {**fields, "source": f"{kept.get('source', 'dictionary')}, kept with the model"}
        )

    @property
    def offered_levels(self) -> tuple[float, ...]:
        """The confidence levels this model was calibrated at."""
        return tuple(self.meta.levels or (self.meta.confidence_level,))

    # ------------------------------------------------------------------------------- prediction
    def prepare(
        self, raw: pd.DataFrame | StudyTable
    ) -> tuple[pd.DataFrame, pd.DataFrame, list[list[str]]]:
        """Input rows -> (ids, model matrix, per-row list of features not measured).

        ``raw`` is a DataFrame in canonical columns, or a
        :class:`~eih_ml.data.load.StudyTable` already loaded from a file.

        Raises
        ------
        DataError
            Values out of range, text in number fields, unknown categories: every problem named
            with its row and column.
        """
        with python_string_storage():
            return self._prepare(raw)

    def derive(
        self, raw: pd.DataFrame | StudyTable, *, require_outcome: bool = False
    ) -> tuple[CohortReport, pd.DataFrame]:
        """Input rows -> (validation report, feature table) by the rules the model was trained with.

        The loader, validation and feature derivation of :meth:`prepare`, keeping the whole
        feature table (outcome columns included): what an external validation of the model
        reads (:mod:`eih_ml.evaluation.external`). ``require_outcome`` asks validation for the
        pre and post PPTs of an outcome.
        """
        with python_string_storage():
            return self._derive(raw, require_outcome)

    def _derive(
        self, raw: pd.DataFrame | StudyTable, require_outcome: bool
    ) -> tuple[CohortReport, pd.DataFrame]:
        from eih_ml.data.load import StudyTable, load_frame
        from eih_ml.data.validate import validate_cohort
        from eih_ml.features.derive import derive_features

        if isinstance(raw, StudyTable):
            study = raw
            data = study.data
        else:
            if not isinstance(raw, pd.DataFrame) or raw.empty:
                raise DataError("Expected one or more patients as rows of a table; found none.")
            study = load_frame(to_python_strings(raw), source="prediction input")
            data = study.data
        if data.empty:
            raise DataError("Expected one or more patients as rows of a table; found none.")
        if "participant_id" not in data.columns or "session_id" not in data.columns:
            data = data.copy()
            if "participant_id" not in data.columns:
                data["participant_id"] = [f"patient-{i + 1}" for i in range(len(data))]
            if "session_id" not in data.columns:
                data["session_id"] = [f"row-{i + 1}" for i in range(len(data))]
            study = StudyTable(
                data, study.source, study.dictionary, study.column_map, study.unmapped, study.notes
            )
        report = validate_cohort(study, require_outcome=require_outcome)
        table = derive_features(
            report.data,
            scoring=self._scoring,
            ts_last_index=self.meta.derive["ts_last_index"],
            rpe_scale=self.meta.derive["rpe_scale"],
            profile=self._profile_rule,
        )
        return report, table

    def _prepare(
        self, raw: pd.DataFrame | StudyTable
    ) -> tuple[pd.DataFrame, pd.DataFrame, list[list[str]]]:
        _, table = self._derive(raw, require_outcome=False)
        return self.matrix(table)

    def matrix(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[list[str]]]:
        """A derived feature table -> (ids, model matrix, per-row inputs not measured)."""
        from eih_ml.models import model_matrix

        for site in ("local", "remote"):  # a programme model's acute EIH at baseline
            col = f"baseline_eih_{site}"
            if col in self.features and col not in table.columns and f"eih_abs_{site}" in table:
                table[col] = table[f"eih_abs_{site}"].astype(float)
        for col in self.features:
            if col not in table.columns:
                table[col] = np.nan
        X = model_matrix(table, self.features)
        inputs = self._clinical_inputs
        isna = X[inputs].isna().to_numpy()
        missing = [[inputs[j] for j in np.flatnonzero(r)] for r in isna]
        ids = table[["participant_id", "session_id"]].astype(str).reset_index(drop=True)
        ids[PROFILE] = table[PROFILE].to_numpy(dtype=object)
        return ids, X, missing

    @overload
    def predict(
        self,
        raw: Rows,
        top_k: int = ...,
        *,
        path: str = ...,
        rows: list[int] | None = ...,
        as_records: Literal[False] = ...,
    ) -> pd.DataFrame: ...

    @overload
    def predict(
        self,
        raw: Rows,
        top_k: int = ...,
        *,
        path: str = ...,
        rows: list[int] | None = ...,
        as_records: Literal[True],
    ) -> list[dict]: ...

    def predict(
        self,
        raw: Rows,
        top_k: int = 5,
        *,
        path: str = "auto",
        rows: list[int] | None = None,
        as_records: bool = False,
    ) -> pd.DataFrame | list[dict]:
        """Prediction, uncertainty, top factors and OOD flag for each input row.

        The one prediction entry point: the CLI, the MLflow pyfunc, the web app and its JSON API
        call it; a caller that needs the model matrix too (a patient explanation, an external
        validation) calls :meth:`predict_prepared`, its frame path. The columns are the prediction row of the model's task, in the order of
        :func:`eih_ml.prediction.column_names`: participant_id, session_id,
        pain_modulation_profile (a code of :data:`eih_ml.features.profile.PROFILES`), the
        prediction and its uncertainty (predicted_class / probability / prediction_set /
        probability_low / probability_high for classification; predicted_class /
        p_hyperalgesic / p_non_responder / p_hypoalgesic / hyperalgesia_risk / prediction_set
        for multiclass; eih_kpa / interval_low / interval_high for regression; eih_low /
        eih_high), confidence_level, top_factors (JSON list), ood, ood_reasons, abstained,
        abstain_reason, not_measured.

        Parameters
        ----------
        raw : pandas.DataFrame, StudyTable or list of dict
            Rows in the data contract's canonical columns: a table, a
            :class:`~eih_ml.data.load.StudyTable` already loaded from a file, or one
            ``{column: value}`` record per patient.
        top_k : int
            How many top factors per row.
        path : {"auto", "frame", "records"}
            How the rows reach the model; both ways share every formula and give the same
            answer (values, columns, dtypes; ``tests/explain/test_explanations.py``).

            * ``"frame"``: loading, validation and feature derivation on pandas tables. It
              recodes what it can and raises what it cannot (the path of the error messages).
            * ``"records"``: the short way, on plain arrays, without DataFrame bookkeeping. It
              takes only rows that validation would pass unchanged
              (:func:`eih_ml.data.records.plain_records`: default dictionary, values in range,
              categories as in the contract); other rows raise ValueError.
            * ``"auto"`` (the rule): a list of records, or a DataFrame of at most
              :data:`FEW_ROWS` rows with unique column names, tries the short way and takes
              the frame path when the short way declines; a larger DataFrame or a StudyTable
              takes the frame path.
        rows : list of int, optional
            Row numbers of the records in error messages (default 1, 2, ...); a DataFrame's
            own index numbers its rows.
        as_records : bool
            Answer one dict per row instead of a DataFrame.

        Returns
        -------
        pandas.DataFrame or list of dict
            One row per input row.

        Raises
        ------
        DataError
            Values out of range, text in number fields, unknown categories: every problem named
            with its row and column.
        ValueError
            An unknown ``path``, or ``path="records"`` for rows the short way does not take.
        """
        if path not in PATHS:
            raise ValueError(f"Expected path among {', '.join(PATHS)}; found {path!r}.")
        records = None
        if isinstance(raw, list | tuple):
            records = list(raw)
        elif (
            path != "frame"
            and isinstance(raw, pd.DataFrame)
            and (path == "records" or len(raw) <= FEW_ROWS)
            and raw.columns.is_unique
        ):
            names = list(raw.columns)  # not DataFrame.to_dict: it reads cell by cell
            records = [dict(zip(names, row, strict=True)) for row in raw.to_numpy(dtype=object)]
        columns = None
        if records and path != "frame":
            columns = self._predict_plain(records, top_k)
        if columns is None:
            empty = isinstance(raw, list | tuple | pd.DataFrame) and len(raw) == 0
            if path == "records" and not empty:  # an empty input is the frame path's DataError
                raise ValueError(
                    "path='records' takes only rows that validation would pass unchanged "
                    "(canonical names, values in range, categories as in the data contract, "
                    "not a StudyTable); these need the frame path: pass path='auto' or 'frame'."
                )
            table: pd.DataFrame | StudyTable
            if isinstance(raw, list | tuple):
                table = pd.DataFrame.from_records(list(raw))
                if rows is not None:
                    table.index = pd.Index(rows, name="row")
            else:
                table = cast("pd.DataFrame | StudyTable", raw)  # anything else: prepare says
            ids, X, _ = self.prepare(table)
            with python_string_storage():
                columns = self._matrix_columns(X, ids, top_k)
        return self._answer(columns, as_records)

    def _answer(self, columns: dict[str, list], as_records: bool) -> pd.DataFrame | list[dict]:
        """Named prediction columns as a DataFrame, or one dict per row (either path's answer)."""
        if as_records:
            columns = ordered(columns, self.task)
            names = list(columns)
            return [
                dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)
            ]
        return self._frame(columns)

    def _frame(self, columns: dict[str, list]) -> pd.DataFrame:
        """Named prediction columns as :meth:`predict`'s DataFrame."""
        columns = ordered(columns, self.task)
        with python_string_storage():
            return pd.DataFrame(columns)

    def _predict_plain(
        self, records: list[Mapping[str, object]], top_k: int
    ) -> dict[str, list] | None:
        """Records -> prediction columns, or None when they need the full path."""
        from eih_ml.data.dictionary import load_dictionary
        from eih_ml.data.records import plain_records
        from eih_ml.features.derive import feature_arrays

        typed = plain_records(records, load_dictionary(None))
        if typed is None:
            return None
        pids, sids, src = typed
        n = src.n
        derive = self.meta.derive
        table = feature_arrays(
            src,
            scoring=self._scoring,
            ts_last_index=derive["ts_last_index"],
            rpe_scale=derive["rpe_scale"],
            profile=self._profile_rule,
        )
        columns: dict[str, np.ndarray] = {}
        for f in self.features:  # model_matrix: categories as object with NaN, numbers float
            v = table.get(f)
            if f in CATEGORICAL:
                columns[f] = np.full(n, np.nan, dtype=object) if v is None else v
            elif v is None:
                columns[f] = np.full(n, np.nan)
            elif v.dtype == object:  # text in a numeric feature is missing, as in model_matrix
                columns[f] = pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(
                    dtype=float, na_value=np.nan
                )
            else:
                columns[f] = np.asarray(v, dtype=float)
        ids = {
            "participant_id": pids or [f"patient-{i + 1}" for i in range(n)],
            "session_id": sids or [f"row-{i + 1}" for i in range(n)],
            PROFILE: table[PROFILE].tolist(),
        }
        return self._explain_columns(columns, n, ids, top_k)

    def predict_prepared(
        self,
        raw: Rows,
        top_k: int = 5,
        *,
        derived: bool = False,
        select: Callable[[pd.DataFrame], Sequence[int]] | None = None,
    ) -> PreparedPrediction:
        """:meth:`predict` by its frame path, answering the model matrix with the predictions.

        For callers that need the prepared matrix for more than the prediction: the SHAP
        waterfall, what-if and prescriptions of a patient explanation
        (:func:`eih_ml.report.patient.explain_patient`), an external validation's metrics and
        model updating (:mod:`eih_ml.evaluation.external`). The rows always take the frame path
        (``path="frame"``): the short records path builds no matrix. The predictions equal
        :meth:`predict`'s, column for column.

        Parameters
        ----------
        raw : pandas.DataFrame, StudyTable or list of dict
            Rows in the data contract's canonical columns, as :meth:`predict` takes them; with
            ``derived=True``, a feature table from :meth:`derive` instead.
        top_k : int
            How many top factors per row.
        derived : bool
            ``raw`` is a derived feature table (:meth:`derive`): only the model matrix is built.
        select : callable, optional
            Given the prepared ids (participant_id, session_id, pain_modulation_profile, one
            row per input row), the positions of the rows to score; the others are neither
            scored nor explained. It may raise to refuse the input (e.g. an unknown patient).

        Returns
        -------
        PreparedPrediction
            ``table``: :meth:`predict`'s columns; ``matrix``: the model matrix of the same rows,
            in the same order (with the index of :meth:`prepare`'s matrix).

        Raises
        ------
        DataError
            Values out of range, text in number fields, unknown categories: every problem named
            with its row and column.
        """
        table: pd.DataFrame | StudyTable
        if derived:
            if not isinstance(raw, pd.DataFrame):
                raise TypeError(
                    f"derived=True takes the feature table of derive(); found {type(raw).__name__}."
                )
            ids, X, _ = self.matrix(raw)
        else:
            if isinstance(raw, list | tuple):
                table = pd.DataFrame.from_records(list(raw))
            else:
                table = cast("pd.DataFrame | StudyTable", raw)  # anything else: prepare says
            ids, X, _ = self.prepare(table)
        if select is not None:
            rows = list(select(ids))
            ids, X = ids.iloc[rows], X.iloc[rows]
        return PreparedPrediction(self.predict_matrix(X, ids, top_k=top_k), X)

    def predict_matrix(
        self,
        X: pd.DataFrame,
        ids: pd.DataFrame | None = None,
        missing: list[list[str]] | None = None,
        top_k: int = 5,
    ) -> pd.DataFrame:
        """The second half of :meth:`predict`'s frame path, on an already prepared model matrix.

        For callers that hold a model matrix already (the what-if grid of
        :mod:`eih_ml.explain.whatif`); one that starts from input rows calls
        :meth:`predict_prepared`, which answers the matrix with the predictions. The
        preprocessing runs once; the
        model and the SHAP explainer both read its output. ``missing`` is accepted for
        compatibility: the count of inputs not measured is read from ``X``, which holds them as
        missing.
        """
        with python_string_storage():
            return self._predict_matrix(X, ids, missing, top_k)

    def _predict_matrix(
        self,
        X: pd.DataFrame,
        ids: pd.DataFrame | None,
        missing: list[list[str]] | None,
        top_k: int,
    ) -> pd.DataFrame:
        return self._frame(self._matrix_columns(X, ids, top_k))

    def _matrix_columns(
        self, X: pd.DataFrame, ids: pd.DataFrame | None, top_k: int
    ) -> dict[str, list]:
        n = len(X)
        if ids is None:
            id_columns = {
                "participant_id": [f"patient-{i + 1}" for i in range(n)],
                "session_id": [""] * n,
            }
        else:
            ids = ids.reset_index(drop=True)
            id_columns = {c: ids[c].tolist() for c in ids.columns}
        if PROFILE not in id_columns:  # a matrix prepared elsewhere: from its CPM and TS
            cpm = X["cpm_abs"].to_numpy(float) if "cpm_abs" in X else np.full(n, np.nan)
            ts = X["ts_diff"].to_numpy(float) if "ts_diff" in X else np.full(n, np.nan)
            id_columns[PROFILE] = profile_array(cpm, ts, self._profile_rule).tolist()
        return self._explain_columns(columns_of(X, self.features), n, id_columns, top_k)

    def _explain_columns(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
        self, columns: dict[str, np.ndarray], n: int, ids: dict[str, list], top_k: int
    ) -> dict[str, list]:
        """The prediction columns of ``n`` rows of model features given as named arrays.

        The one place where predictions are scored, bounded and explained, for
        both paths of :meth:`predict` (DataFrames and records) alike.
        """
        from eih_ml.explain.conformal import describe_set

        out: dict[str, list] = dict(ids)
        att = self.attributor
        Xt = att.transform_columns(columns)
        scores, contrib, _ = att.predict_and_explain(Xt)
        if att.pipeline is not self.pipeline:  # recalibrated (CalibratedClassifierCV or an update)
            from eih_ml.models import predict_scores

            frame = pd.DataFrame({f: columns[f] for f in self.features})
            scores = np.asarray(predict_scores(self.pipeline, frame, self.task), dtype=float)
        if self.task == "multiclass":
            from eih_ml.outcomes import PROBABILITY_COLUMNS

            classes = self.classes
            out["predicted_class"] = [classes[j] for j in np.argmax(scores, axis=1)]
            for j, column in enumerate(PROBABILITY_COLUMNS):
                out[column] = scores[:, j].tolist()
            out["hyperalgesia_risk"] = (scores[:, 0] >= self.risk_threshold).tolist()
            if self.conformal is not None:
                out["prediction_set"] = [
                    describe_set(s, classes) for s in self.conformal.sets(scores)
                ]
        elif self.task == "classification":
            classes = self.classes
            out["predicted_class"] = [classes[1] if s >= 0.5 else classes[0] for s in scores]
            out["probability"] = scores.tolist()
            if self.conformal is not None:
                out["prediction_set"] = [
                    describe_set(s, classes) for s in self.conformal.sets(scores)
                ]
        else:
            out["eih_kpa"] = scores.tolist()
            if self.conformal is not None:
                bounds = self.conformal.intervals(scores)
                out["interval_low"] = bounds[:, 0].tolist()
                out["interval_high"] = bounds[:, 1].tolist()
        level = float(self.meta.confidence_level)
        if self.venn_abers is not None and self.task == "classification":
            bounds = self.venn_abers.interval(scores)
            out["probability_low"] = bounds[:, 0].tolist()
            out["probability_high"] = bounds[:, 1].tolist()
        if self.eih_heads is not None and self.eih_calibration is not None:
            bounds = self.eih_calibration.interval(
                self.eih_heads.predict_band(columns), level, columns.get("condition")
            )
            out["eih_low"] = bounds[:, 0].tolist()
            out["eih_high"] = bounds[:, 1].tolist()
        out["confidence_level"] = [level] * n
        rule = self.abstain_rule
        measured = feature_masks(columns, n)
        assessment = rule.assess(columns, n, measured)
        factors = self._factors(columns, n, att.features, contrib, top_k, measured)
        out["top_factors"] = [json.dumps(f) for f in factors]
        ood = self.reference.out_of_range_columns(columns, n)
        if not rule.enabled:  # no rule: a mostly unmeasured patient is at least flagged
            n_core = len(rule.measurements)
            for i in np.flatnonzero(n_core - assessment.n_measured > n_core / 2):
                ood[i].append(
                    f"{n_core - assessment.n_measured[i]} of {n_core} measurements were not taken"
                )
        out["ood"] = [bool(r) for r in ood]
        out["ood_reasons"] = ["; ".join(r) for r in ood]
        out["abstained"] = assessment.abstained.tolist()
        out["abstain_reason"] = assessment.reasons
        out["not_measured"] = assessment.not_measured_text()
        for i in np.flatnonzero(assessment.abstained):  # no number made up from nothing
            for column in EMPTIED_ON_ABSTAIN:
                if column in out:
                    out[column][i] = None
            out["top_factors"][i] = "[]"
        return out

    @property
    def target(self) -> Literal["hypoalgesia", "hyperalgesia"]:
        """What the probability is of: "hypoalgesia" (a responder) or "hyperalgesia"."""
        return "hyperalgesia" if self.meta.outcome.target == "hyperalgesia" else "hypoalgesia"

    @property
    def classes(self) -> tuple[str, ...]:
        """(negative, positive) class names of a binary model, the three of a multiclass one."""
        if self.task == "multiclass":
            return MULTICLASS_CLASSES
        return HYPERALGESIA_CLASSES if self.target == "hyperalgesia" else CLASSES

    @property
    def risk_threshold(self) -> float:
        """The hyperalgesic probability from which "risk of more pain" is flagged."""
        return float(self.meta.outcome.risk_threshold or 0.5)

    @cached_property
    def abstain_rule(self) -> AbstainRule:
        """The minimum-information rule the model was trained with (:mod:`~eih_ml.explain.abstain`).

        A bundle saved before the rule existed names what is missing but never abstains.
        """
        d = self.meta.abstain
        if d is None:
            return AbstainRule.unruled(self.features, self.meta.feature_info)
        return AbstainRule.from_dict(d)

    @cached_property
    def _profile_rule(self) -> ProfileRule:
        """The profile's cut-offs the model was trained with (defaults for older bundles)."""
        return ProfileRule.from_dict(self.meta.derive.get("profile"))

    @property
    def _clinical_inputs(self) -> list[str]:
        return [f for f in self.features if not f.endswith(("_nd", "_lod"))]

    def top_factors(
        self, X: pd.DataFrame, top_k: int = 5, Xt: np.ndarray | None = None
    ) -> list[list[dict]]:
        """Per row, the ``top_k`` features with the largest |SHAP|, in clinical terms."""
        att = self.attributor.explain(X, Xt=Xt)
        columns = columns_of(X, list(X.columns))
        return self._factors(
            columns, len(X), list(att.values.columns), att.values.to_numpy(), top_k
        )

    def _factors(
        self,
        columns: dict[str, np.ndarray],
        n: int,
        names: list[str],
        contrib: np.ndarray,
        top_k: int,
        measured: dict[str, np.ndarray] | None = None,
    ) -> list[list[dict]]:
        """Per row, the ``top_k`` largest |contributions| with value, percentile and direction.

        ``measured``: :func:`~eih_ml.explain.abstain.feature_masks` of ``columns``, when known.
        """
        from eih_ml.features.columns import is_missing

        if measured is None:
            measured = feature_masks(columns, n)

        # Inputs not measured are named once (not_measured), never as factors: the model reacts
        # to their absence, which says nothing about the patient.
        strength = np.abs(np.asarray(contrib, dtype=float))
        always = np.ones(n, dtype=bool)  # derived inputs (phenotype, bio_panel_missing)
        shown_ok = np.array([measured.get(f, always) for f in names], dtype=bool).reshape(-1, n)
        if PROFILE in names and PROFILE in columns:  # "not assessable": CPM or TS missing
            j = names.index(PROFILE)
            shown_ok[j] &= np.asarray(columns[PROFILE], dtype=object) != "not_assessable"
        strength[~shown_ok.T] = -1.0
        order = np.argsort(-strength, axis=1, kind="stable")[:, :top_k]
        info = self.meta.feature_info
        shown: dict[str, list] = {}
        percentiles: dict[str, np.ndarray] = {}
        for f in {names[j] for j in np.unique(order)}:
            if f in columns and f not in CATEGORICAL:
                v = np.asarray(columns[f], dtype=float)
                shown[f] = [None if not np.isfinite(x) else float(x) for x in v]
                percentiles[f] = self.reference.percentiles(f, v)
            elif f in columns:
                shown[f] = [None if is_missing(x) else str(x) for x in columns[f]]
            elif f == PHENOTYPE_FEATURE:
                shown[f] = self._phenotype_values(columns, n)
            else:
                shown[f] = [_derived_value(columns, i, f) for i in range(n)]
        rows = []
        for i in range(n):
            row = []
            for j in order[i]:
                if strength[i, j] < 0:
                    break
                f = names[j]
                c = float(contrib[i, j])
                pct = percentiles.get(f)
                fi = info.get(f) or feature_info(f).as_dict()  # derived: bio_panel_missing...
                row.append(
                    {
                        "feature": f,
                        "label": fi.get("label", f),
                        "domain": fi.get("domain", ""),
                        "unit": fi.get("unit", ""),
                        "value": shown[f][i],
                        "percentile": None
                        if pct is None or not np.isfinite(pct[i])
                        else float(pct[i]),
                        "contribution": c,
                        "direction": "raises" if c > 0 else "lowers",
                    }
                )
            rows.append(row)
        return rows

    def _phenotype_values(self, columns: dict[str, np.ndarray], n: int) -> list[str | None]:
        """Each row's most probable data-driven phenotype, e.g. "cluster 2 of 3 (71 %)"."""
        from eih_ml.explain.attribution import unwrap

        clusters = unwrap(self.pipeline)[0].named_transformers_.get("phenotype")
        if clusters is None or not hasattr(clusters, "feature_names_in_"):
            return [None] * n
        frame = pd.DataFrame({c: columns[c] for c in clusters.feature_names_in_})
        P = clusters.transform(frame)
        k = P.shape[1]
        return [
            f"cluster {int(j) + 1} of {k} ({100 * float(p[j]):.0f} %)"
            for p, j in zip(P, P.argmax(axis=1), strict=True)
        ]


#: Largest DataFrame :meth:`ModelBundle.predict` tries to take the short way with (``path="auto"``).
FEW_ROWS = 64
#: The ways :meth:`ModelBundle.predict` can take (its ``path``).
PATHS = ("auto", "frame", "records")


def columns_of(X: pd.DataFrame, features: list[str]) -> dict[str, np.ndarray]:
    """A model matrix as named arrays: categories as object, everything else float (one block)."""
    numeric = [f for f in features if f not in CATEGORICAL]
    block = X[numeric].to_numpy(dtype=float, na_value=np.nan)
    columns = {f: block[:, j] for j, f in enumerate(numeric)}
    columns |= {f: X[f].to_numpy(dtype=object) for f in features if f in CATEGORICAL}
    return {f: columns[f] for f in features}


def _derived_value(columns: dict[str, np.ndarray], i: int, feature: str) -> str | None:
    """A derived indicator's value for display (bio_panel_missing); None for anything else."""
    if feature == "bio_panel_missing":
        markers = [c for c in columns if c.startswith("bio_") and not c.endswith(("_nd", "_lod"))]
        measured = any(
            np.isfinite(columns[c][i]) or (c + "_nd" in columns and columns[c + "_nd"][i] == 1)
            for c in markers
        )
        return "no" if measured else "yes"
    return None
