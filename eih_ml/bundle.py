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
the top contributing factors and the out-of-distribution flag. The MLflow pyfunc, the CLI and the
web app all call it, so they return the same columns.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eih_ml import __version__
from eih_ml.errors import DataError, ModelError
from eih_ml.explain.conformal import ConformalCalibration
from eih_ml.explain.reference import CohortReference
from eih_ml.features.derive import CATEGORICAL
from eih_ml.features.metadata import feature_info
from eih_ml.frame_mode import python_string_storage, to_python_strings

BUNDLE_FORMAT = 1
#: Type families a bundle may contain; anything else in a file is refused at load.
TRUSTED_MODULES = ("sklearn.", "xgboost.", "eih_ml.", "numpy.", "scipy.", "builtins.")
CLASSES = ("non-responder", "responder")


def _dump(obj, path: Path) -> None:
    import skops.io as sio

    sio.dump(obj, path)


def _load(path: Path):
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
    if refused:
        raise ModelError(
            f"{path} contains types outside the trusted families ({', '.join(TRUSTED_MODULES)}): "
            f"{', '.join(refused)}. It was not written by eih_ml; refusing to load it."
        )
    return sio.load(path, trusted=untrusted)


def _value_of(row: pd.Series, feature: str):
    """A feature's value for display; derived indicators (bio_panel_missing) are computed."""
    if feature in row.index:
        return row[feature]
    if feature == "bio_panel_missing":
        markers = [c for c in row.index if c.startswith("bio_") and not c.endswith(("_nd", "_lod"))]
        measured = any(pd.notna(row[c]) or row.get(c + "_nd") == 1 for c in markers)
        return "no" if measured else "yes"
    return None


@dataclass
class ModelBundle:
    """A fitted model with its uncertainty, reference cohort and metadata."""

    pipeline: object
    conformal: ConformalCalibration | None
    meta: dict
    reference: CohortReference = field(default_factory=CohortReference)
    _attributor: object | None = field(default=None, repr=False)

    # ------------------------------------------------------------------------------- properties
    @property
    def task(self) -> str:
        """classification or regression."""
        return self.meta["task"]

    @property
    def features(self) -> list[str]:
        """Model input features, in order."""
        return list(self.meta["features"])

    def __repr__(self) -> str:
        o = self.meta["outcome"]
        return (
            f"<ModelBundle {self.meta['model']}: {self.task} of {o['outcome']}, "
            f"{len(self.features)} features, trained on {self.reference.n_participants} "
            "participants>"
        )

    @property
    def attributor(self):
        """The SHAP attributor (built once)."""
        if self._attributor is None:
            from eih_ml.explain.attribution import Attributor

            mean = self.meta.get("background_mean")
            self._attributor = Attributor(
                self.pipeline, self.task, None if mean is None else np.asarray(mean)
            )
        return self._attributor

    # ------------------------------------------------------------------------------------ build
    @classmethod
    def build(cls, result, *, confidence_level: float = 0.9) -> ModelBundle:
        """Bundle the final model of an experiment (:class:`eih_ml.experiment.ExperimentResult`)."""
        from eih_ml.explain.attribution import background_mean

        config = result.config
        task = config.outcome.task
        threshold = result.summary["outcome"].get("final_threshold")
        oof = result.cvs[result.best_model].oof
        conformal = ConformalCalibration.fit(
            oof["y"].to_numpy(float), oof["pred"].to_numpy(float), task, confidence_level
        )
        reference = CohortReference.from_training(result.X, result.groups)
        from eih_ml.data.dictionary import load_dictionary

        biomarkers = load_dictionary(config.data.dictionary).biomarkers
        meta = {
            "format": BUNDLE_FORMAT,
            "toolkit_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": result.best_model,
            "params": result.final_params,
            "task": task,
            "features": list(result.X.columns),
            "feature_info": {f: feature_info(f, biomarkers).as_dict() for f in result.X.columns},
            "outcome": result.summary["outcome"],
            "threshold": threshold,
            "confidence_level": confidence_level,
            "conformal": conformal.to_dict(),
            "primary_metric": config.primary_metric,
            "performance": result.summary["models"][result.best_model]["metrics"],
            "derive": {
                "questionnaires": config.features.questionnaires.model_dump(),
                "ts_last_index": config.features.ts_last_index,
                "rpe_scale": config.features.rpe_scale,
            },
            "training_cohort": {
                "n_participants": reference.n_participants,
                "n_sessions": reference.n_sessions,
                "source": result.summary["data"]["source"],
                "fingerprint": result.summary["data"]["fingerprint"],
                "conditions": reference.categories.get("condition", {}),
                "sex": reference.categories.get("sex", {}),
            },
            "reliability_ceiling": result.summary["reliability_ceiling"],
            "background_mean": (
                background_mean(result.final_model, result.X).tolist()
                if result.best_model == "elastic_net"
                else None
            ),
        }
        return cls(result.final_model, conformal, meta, reference)

    # -------------------------------------------------------------------------------- save/load
    def save(self, directory: str | Path) -> Path:
        """Write the bundle folder (pipeline.skops, conformal.skops, bundle.json)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _dump(self.pipeline, directory / "pipeline.skops")
        meta = {**self.meta, "reference": self.reference.to_dict()}
        (directory / "bundle.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
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
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != BUNDLE_FORMAT:
            raise ModelError(
                f"{directory}: bundle format {meta.get('format')} is not {BUNDLE_FORMAT}; "
                "retrain the model with this version of eih_ml."
            )
        reference = CohortReference.from_dict(meta.pop("reference"))
        conformal = (
            ConformalCalibration.from_dict(meta["conformal"]) if meta.get("conformal") else None
        )
        return cls(_load(directory / "pipeline.skops"), conformal, meta, reference)

    # ------------------------------------------------------------------------------- prediction
    def prepare(self, raw) -> tuple[pd.DataFrame, pd.DataFrame, list[list[str]]]:
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

    def _prepare(self, raw) -> tuple[pd.DataFrame, pd.DataFrame, list[list[str]]]:
        from eih_ml.data.load import StudyTable, load_frame
        from eih_ml.data.validate import validate_cohort
        from eih_ml.features.derive import derive_features
        from eih_ml.features.questionnaires import QuestionnaireScoring
        from eih_ml.models import model_matrix

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
        report = validate_cohort(study, require_outcome=False)
        q = self.meta["derive"]["questionnaires"]
        scoring = QuestionnaireScoring(tsk_form=q["tsk_form"], hads_items=q["hads_items"])
        table = derive_features(
            report.data,
            scoring=scoring,
            ts_last_index=self.meta["derive"]["ts_last_index"],
            rpe_scale=self.meta["derive"]["rpe_scale"],
        )
        for col in self.features:
            if col not in table.columns:
                table[col] = np.nan
        X = model_matrix(table, self.features)
        inputs = self._clinical_inputs
        isna = X[inputs].isna().to_numpy()
        missing = [[inputs[j] for j in np.flatnonzero(r)] for r in isna]
        ids = table[["participant_id", "session_id"]].astype(str).reset_index(drop=True)
        return ids, X, missing

    def predict(self, raw, top_k: int = 5) -> pd.DataFrame:
        """Prediction, uncertainty, top factors and OOD flag for each input row.

        Columns: participant_id, session_id, predicted_class / probability (classification) or
        eih_kpa (regression), prediction_set or interval_low / interval_high,
        confidence_level, top_factors (JSON list), ood, ood_reasons.
        """
        ids, X, missing = self.prepare(raw)
        return self.predict_matrix(X, ids, missing, top_k=top_k)

    def predict_matrix(
        self,
        X: pd.DataFrame,
        ids: pd.DataFrame | None = None,
        missing: list[list[str]] | None = None,
        top_k: int = 5,
    ) -> pd.DataFrame:
        """:meth:`predict` on an already prepared model matrix.

        The preprocessing runs once; the model and the SHAP explainer both read its output.
        """
        with python_string_storage():
            return self._predict_matrix(X, ids, missing, top_k)

    def _predict_matrix(self, X, ids, missing, top_k) -> pd.DataFrame:
        from eih_ml.explain.conformal import describe_set

        n = len(X)
        ids = (
            ids
            if ids is not None
            else pd.DataFrame(
                {"participant_id": [f"patient-{i + 1}" for i in range(n)], "session_id": ""}
            )
        )
        out = ids.reset_index(drop=True).copy()
        att = self.attributor
        Xt = att.transform(X)
        if hasattr(self.pipeline, "calibrated_classifiers_"):  # recalibrated probabilities
            from eih_ml.models import predict_scores

            scores = predict_scores(self.pipeline, X, self.task)
        else:
            scores = att.predict_transformed(Xt)
        if self.task == "classification":
            out["predicted_class"] = np.where(scores >= 0.5, CLASSES[1], CLASSES[0])
            out["probability"] = scores
            if self.conformal is not None:
                out["prediction_set"] = [describe_set(s) for s in self.conformal.sets(scores)]
        else:
            out["eih_kpa"] = scores
            if self.conformal is not None:
                bounds = self.conformal.intervals(scores)
                out["interval_low"], out["interval_high"] = bounds[:, 0], bounds[:, 1]
        out["confidence_level"] = self.meta["confidence_level"]
        factors = self.top_factors(X, top_k, Xt=Xt)
        out["top_factors"] = [json.dumps(f) for f in factors]
        ood = self.reference.out_of_range(X)
        if missing is None:
            n_missing = X[self._clinical_inputs].isna().sum(axis=1).to_numpy()
        else:
            n_missing = np.array([len(m) for m in missing])
        for i in np.flatnonzero(n_missing > len(self._clinical_inputs) / 2):
            ood[i].append(
                f"{n_missing[i]} of {len(self._clinical_inputs)} inputs were not measured"
            )
        out["ood"] = [bool(r) for r in ood]
        out["ood_reasons"] = ["; ".join(r) for r in ood]
        return out

    @property
    def _clinical_inputs(self) -> list[str]:
        return [f for f in self.features if not f.endswith(("_nd", "_lod"))]

    def top_factors(
        self, X: pd.DataFrame, top_k: int = 5, Xt: np.ndarray | None = None
    ) -> list[list[dict]]:
        """Per row, the ``top_k`` features with the largest |SHAP|, in clinical terms."""
        att = self.attributor.explain(X, Xt=Xt)
        names = list(att.values.columns)
        contrib = att.values.to_numpy()
        order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top_k]
        info = self.meta["feature_info"]
        static = {
            f: (
                info.get(f, {}).get("label", f),
                info.get(f, {}).get("domain", ""),
                info.get(f, {}).get("unit", ""),
            )
            for f in names
        }
        used = sorted({names[j] for j in np.unique(order)})
        shown: dict[str, list] = {}
        percentiles: dict[str, np.ndarray] = {}
        for f in used:
            if f in X.columns and f not in CATEGORICAL:
                v = X[f].to_numpy(dtype=float)
                shown[f] = [None if not np.isfinite(x) else float(x) for x in v]
                percentiles[f] = self.reference.percentiles(f, v)
            elif f in X.columns:
                shown[f] = [None if pd.isna(x) else str(x) for x in X[f].to_numpy(dtype=object)]
            else:
                shown[f] = [_value_of(X.iloc[i], f) for i in range(len(X))]
        rows = []
        for i in range(len(X)):
            row = []
            for j in order[i]:
                f = names[j]
                c = float(contrib[i, j])
                pct = percentiles.get(f)
                label, domain, unit = static[f]
                row.append(
                    {
                        "feature": f,
                        "label": label,
                        "domain": domain,
                        "unit": unit,
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
