"""The loaded model behind the app: inputs, predictions, explanations and what it is.

:class:`Service` is built once per app from a :class:`~eih_ml.bundle.ModelBundle`: the input
fields, form sections and request models of the model (:mod:`eih_ml.serve.schemas`), its
version, a synthetic example patient. It predicts validated patients (one record per patient,
JSON-ready), explains one patient for the result page, and describes the model in aggregates
only (``GET /api/model``). Predictions run one at a time under a lock; the API's concurrent
requests are joined into one call by :class:`Batcher`. Input the model cannot use raises
:class:`InputProblems`, naming each field.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from eih_ml.data import contract
from eih_ml.errors import DataError, ModelError
from eih_ml.features.columns import is_missing
from eih_ml.json_values import json_safe
from eih_ml.prediction import columns_for
from eih_ml.serve.fields import build_sections, describe_inputs
from eih_ml.serve.request_models import MAX_PATIENTS, patient_model, request_model
from eih_ml.serve.validation import FieldError, validate_text_row

if TYPE_CHECKING:
    from eih_ml.bundle import ModelBundle
    from eih_ml.data.validate import CohortValidationError

#: Training-cohort counts below this are shown as "<5" by ``GET /api/model``.
SMALL_CELL = 5


class InputProblems(Exception):
    """Input the model cannot use; ``errors`` name each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} input problem(s)")


class Service:
    """The loaded model and everything computed from it once; predictions under one lock."""

    def __init__(self, bundle: ModelBundle, model_uri: str | None) -> None:
        self.bundle = bundle
        self.task = bundle.task
        self.meta = bundle.meta
        self.model_uri = model_uri
        self.field_list = describe_inputs(bundle)
        self.fields = {f.name: f for f in self.field_list}
        self.sections = build_sections(self.field_list)
        self.Patient = patient_model(self.field_list)
        self.PredictRequest = request_model(self.Patient)
        self.output_columns = columns_for(self.task)
        meta = self.meta.to_dict()  # the keys of bundle.json but its reference
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode())
        self.version = digest.hexdigest()[:12]
        self.name = str(self.meta.model)
        # One prediction at a time: pyplot (in the explanation) is not thread-safe, and the
        # work is CPU-bound under the GIL anyway.
        self.lock = threading.Lock()
        self.batcher = Batcher(self)
        self._example: dict[str, str] | None = None

    # ---------------------------------------------------------------------------- warm-up
    def warm_up(self) -> None:
        """Build the explainer and run one synthetic prediction (lazy imports, caches)."""
        _ = self.bundle.attributor
        example = self.example_patient()
        if example:
            self.predict([example])

    def example_values(self) -> dict[str, str]:
        """A synthetic patient from the simulator as form text (never a real participant)."""
        if self._example is None:
            from eih_ml.pyfunc import synthetic_example

            row = synthetic_example(self.bundle.features).iloc[0].to_dict()
            values = {}
            for name, v in row.items():
                if name not in self.fields or v is None or (isinstance(v, float) and np.isnan(v)):
                    continue
                values[name] = f"{v:g}" if isinstance(v, float | np.floating) else str(v)
            self._example = values
        return dict(self._example)

    def example_patient(self) -> dict | None:
        """:meth:`example_values` validated as a patient."""
        patient, problems = validate_text_row(self.example_values(), self.fields, self.Patient)
        return None if problems else patient

    # ------------------------------------------------------------------------- prediction
    @staticmethod
    def _with_ids(patients: list[dict]) -> list[dict]:
        out = []
        for i, p in enumerate(patients):
            p = dict(p)
            p.setdefault("participant_id", f"patient-{i + 1}")
            p.setdefault("session_id", f"row-{i + 1}")
            out.append(p)
        return out

    @staticmethod
    def _records(rows: list[dict]) -> list[dict]:
        """The rows without the fields none of them gives (as :meth:`_frame` drops them)."""
        given = {k for r in rows for k, v in r.items() if not is_missing(v)}
        return [{k: v for k, v in r.items() if k in given} for r in rows]

    def _frame(self, rows: list[dict], index: list[int]) -> pd.DataFrame:
        """:meth:`_records` as a table, rows numbered as in the request."""
        return pd.DataFrame(self._records(rows), index=pd.Index([i + 1 for i in index], name="row"))

    def _groups(self, patients: list[dict]) -> dict[tuple, list[int]]:
        """Patients grouped by which questionnaires they give as items.

        The scorer ignores a total whenever the item columns exist, so a batch mixing items and
        totals for a scale is predicted in groups (each row's prediction depends on that row
        only, so this equals predicting each patient alone).
        """
        groups: dict[tuple, list[int]] = {}
        prefixes = [*contract.QUESTIONNAIRES]
        for i, p in enumerate(patients):
            key = tuple(
                pre
                for pre in prefixes
                if any(k.rsplit("_", 1)[0] == pre for k in p if k[-1:].isdigit())
            )
            groups.setdefault(key, []).append(i)
        return groups

    def _violations(
        self, exc: CohortValidationError, index: list[int], prefix: tuple
    ) -> InputProblems:
        v = exc.report.violations
        v = v[v["severity"] == "error"]
        errors = []
        for r in v.itertuples(index=False):
            cell: Any = r.row  # a violation's row number, or text for a cohort-wide problem
            try:
                patient = int(cell) - 1
            except (TypeError, ValueError):
                patient = None
            if patient is not None and patient not in index:
                patient = None
            loc = (*prefix, "patients", patient, r.column) if patient is not None else prefix
            errors.append(FieldError(loc, str(r.column), str(r.message), str(r.rule), patient))
        return InputProblems(errors or [FieldError(prefix, "body", str(exc), "data")])

    def predict(
        self, patients: list[dict], prefix: tuple = ("body",), level: float | None = None
    ) -> list[dict]:
        """Validated patients -> one record per patient (``ModelBundle.predict`` columns).

        Requests that arrive while the model is busy are predicted together in one call (see
        :class:`Batcher`); the answer is the same as predicting each request alone. A request
        at another confidence ``level`` than the model's is predicted on its own.
        """
        if level is not None and not self.is_default_level(level):
            return self.predict_now(patients, prefix, level)
        return self.batcher.submit(patients, prefix)

    def is_default_level(self, level: float) -> bool:
        """Is ``level`` the model's own confidence level."""
        return abs(float(level) - float(self.bundle.meta.confidence_level)) < 1e-9

    def at_level(self, level: float | None, prefix: tuple = ("body",)) -> ModelBundle:
        """The bundle at ``level`` (None: the model's own); a level not calibrated is a 422."""
        if level is None:
            return self.bundle
        try:
            return self.bundle.at_level(level)
        except ModelError as exc:
            raise InputProblems(
                [
                    FieldError(
                        (*prefix, "confidence_level"), "confidence_level", str(exc), "value_error"
                    )
                ]
            ) from None

    def predict_now(
        self, patients: list[dict], prefix: tuple = ("body",), level: float | None = None
    ) -> list[dict]:
        """:meth:`predict` without batching."""
        from eih_ml.data.validate import CohortValidationError

        bundle = self.at_level(level, prefix)
        patients = self._with_ids(patients)
        results: list[dict | None] = [None] * len(patients)
        for index in self._groups(patients).values():
            rows = self._records([patients[i] for i in index])
            try:
                with self.lock:
                    out = bundle.predict(rows, rows=[i + 1 for i in index], as_records=True)
            except CohortValidationError as exc:
                raise self._violations(exc, index, prefix) from None
            except DataError as exc:
                raise InputProblems([FieldError(prefix, "body", str(exc), "data")]) from None
            if len(out) != len(index):  # pragma: no cover - the bundle keeps every row
                raise RuntimeError("the model returned a different number of rows")
            for i, row in zip(index, out, strict=True):
                results[i] = self.record(row)
        return [r for r in results if r is not None]

    def record(self, row: dict) -> dict:
        """One ``ModelBundle.predict`` row as JSON-ready values (top factors parsed).

        The keys are the prediction row of the model's task (:mod:`eih_ml.prediction`), those
        the row has; the API's ``Prediction`` model is generated from the same declaration.
        """
        out: dict[str, Any] = {}
        for column in self.output_columns:
            name = column.name
            if name not in row and not column.required:
                continue
            v = row.get(name)
            if name == "pain_modulation_profile":
                out[name] = str(v or "not_assessable")
            elif column.kind == "factors":
                out[name] = json.loads(v) if isinstance(v, str) else v
            elif name in ("participant_id", "session_id"):
                out[name] = str(v)
            elif column.required and column.kind == "boolean":
                out[name] = bool(v)
            elif column.required and column.kind == "string":
                out[name] = str(v or "")
            elif name == "abstain_reason":
                out[name] = v or None
            else:
                out[name] = json_safe(v)
        return out

    def explain(self, patient: dict, prefix: tuple = (), level: float | None = None) -> dict:
        """Prediction + explanation of one validated patient (``explain_patient``)."""
        from eih_ml.data.validate import CohortValidationError
        from eih_ml.report.patient import explain_patient

        bundle = self.at_level(level, prefix[:1] or ("body",))
        p = self._with_ids([patient])[0]
        frame = self._frame([p], [0])
        try:
            with self.lock:
                data = explain_patient(bundle, frame, p["participant_id"], p["session_id"])
        except CohortValidationError as exc:
            raise self._violations(exc, [0], prefix) from None
        except DataError as exc:
            raise InputProblems([FieldError(prefix, "patient", str(exc), "data")]) from None
        data["record"] = self.record(data["row"])
        return data

    # ------------------------------------------------------------------------------ model
    def outcome_text(self) -> str:
        """The outcome definition in words (:func:`eih_ml.outcome_words.outcome_in_words`)."""
        from eih_ml.outcome_words import outcome_in_words

        thr = self.meta.threshold
        return outcome_in_words(
            self.meta.outcome.to_dict(), thr if isinstance(thr, int | float) else None
        )

    def abstain_rule(self) -> dict:
        """The model's minimum-information rule (eih_ml.explain.abstain), for GET /api/model."""
        rule = self.bundle.abstain_rule
        return {
            "description": rule.describe(),
            "enabled": rule.enabled,
            "required": [{"label": r.label, "any_of": list(r.any_of)} for r in rule.required],
            "min_measured_share": rule.min_measured_share,
            "core_measurements": [m.label for m in rule.measurements if m.core],
            "needed": rule.n_needed,
            "dropped": list(rule.dropped),
        }

    def model_info(self) -> dict:
        """Aggregates only: no participant-level value, no percentile grid, no file path."""
        m = self.meta
        cohort = m.training_cohort
        source = cohort.get("source", {}) or {}

        def cells(counts: dict) -> dict:
            return {
                str(k): (int(v) if int(v) >= SMALL_CELL else f"<{SMALL_CELL}")
                for k, v in counts.items()
            }

        return {
            "name": self.name,
            "version": self.version,
            "uri": self.model_uri,
            "created": m.created,
            "toolkit_version": m.toolkit_version,
            "task": self.task,
            "outcome": {
                "name": m.outcome.get("outcome"),
                "definition": self.outcome_text(),
                "rule": m.outcome.get("rule"),
                "threshold": m.threshold,
                "prevalence": m.outcome.get("prevalence"),
            },
            "confidence_level": m.confidence_level,
            "levels": list(self.bundle.offered_levels),
            "uncertainty": {
                "prediction_set": (m.conformal or {}).get("method"),
                "probability_range": (m.venn_abers or {}).get("method"),
                "eih_interval": (m.eih_interval or {}).get("method"),
            },
            "pain_modulation_profile": {
                "source": "Yarnitsky 2014 (Pain 155:663)",
                **self.bundle._profile_rule.describe(),
            },
            "abstain_rule": self.abstain_rule(),
            "inputs": [
                {
                    "name": f.name,
                    "label": f.full_label,
                    "domain": f.domain,
                    "unit": f.unit,
                    "minimum": f.low,
                    "maximum": f.high if f.high is not None and math.isfinite(f.high) else None,
                    "choices": [c for c, _ in f.choices] or None,
                }
                for f in self.field_list
            ],
            "features": [
                {
                    "name": name,
                    "label": info.get("label", name),
                    "domain": info.get("domain", ""),
                    "unit": info.get("unit", ""),
                }
                for name, info in m.feature_info.items()
            ],
            "performance": m.performance,
            "reliability_ceiling": m.reliability_ceiling,
            "training_cohort": {
                "n_participants": cohort.get("n_participants"),
                "n_sessions": cohort.get("n_sessions"),
                "source": source.get("kind", "unknown"),
                "fingerprint": cohort.get("fingerprint"),
                "conditions": cells(cohort.get("conditions", {})),
                "sex": cells(cohort.get("sex", {})),
                "small_counts_shown_as": f"<{SMALL_CELL}",
            },
        }


class Batcher:
    """Predicts the API requests waiting for the model in one ``ModelBundle.predict`` call.

    A prediction costs little more for a few rows than for one (its time is mostly per call: the
    model, the explainer and, for records that need it, loading, validating and deriving the
    table), so under concurrent load the requests that queue while a prediction runs are joined.
    Leader/follower: the first waiting thread that finds the model idle takes every queued request (up to :data:`~eih_ml.serve.request_models.MAX_PATIENTS` rows), predicts
    them with participant ids prefixed by their request (so rows of different requests never mix
    in the cohort checks), hands each request its rows back and wakes the others. Rows are
    independent, so each answer equals predicting that request alone; if a joined call fails (one
    request's data error), each request is predicted alone so each gets its own answer or error.
    Nothing outlives the call.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self.cv = threading.Condition()
        self.queue: list[dict] = []
        self.busy = False

    def submit(self, patients: list[dict], prefix: tuple) -> list[dict]:
        """Block until this request's rows are predicted; return them or raise its error."""
        item: dict[str, Any] = {"patients": patients, "prefix": prefix, "done": False}
        with self.cv:
            self.queue.append(item)
            while not item["done"]:
                if self.busy:
                    self.cv.wait()
                    continue
                self.busy = True
                batch: list[dict[str, Any]] = []
                rows = 0
                while self.queue and (
                    not batch or rows + len(self.queue[0]["patients"]) <= MAX_PATIENTS
                ):
                    rows += len(self.queue[0]["patients"])
                    batch.append(self.queue.pop(0))
                self.cv.release()
                try:
                    self._run(batch)
                finally:
                    self.cv.acquire()
                    self.busy = False
                    self.cv.notify_all()
        if "error" in item:
            raise item["error"]
        return item["result"]

    def _alone(self, item: dict) -> None:
        try:
            item["result"] = self.service.predict_now(item["patients"], item["prefix"])
        except Exception as exc:  # handed to the request's own thread
            item["error"] = exc
        item["done"] = True

    def _run(self, batch: list[dict]) -> None:
        try:
            self._predict(batch)
        except Exception as exc:  # never leave a waiting request without an answer
            for item in batch:
                if not item["done"]:
                    item["error"], item["done"] = exc, True

    def _predict(self, batch: list[dict]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        joined, sizes = [], []
        for r, item in enumerate(batch):
            rows = self.service._with_ids(item["patients"])
            joined += [{**p, "participant_id": f"r{r}:{p['participant_id']}"} for p in rows]
            sizes.append(len(rows))
        try:
            records = self.service.predict_now(joined)
        except Exception:
            for item in batch:
                self._alone(item)
            return
        start = 0
        for r, (item, n) in enumerate(zip(batch, sizes, strict=True)):
            part = records[start : start + n]
            start += n
            for rec in part:
                rec["participant_id"] = rec["participant_id"].removeprefix(f"r{r}:")
            item["result"] = part
            item["done"] = True
