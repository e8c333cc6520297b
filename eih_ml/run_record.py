"""The run record: an experiment's summary as typed objects, born where it is computed.

:class:`RunSummary` is what :func:`eih_ml.experiment.run_experiment` returns as
``result.summary`` and what a run folder's ``summary.json`` holds. Its parts are typed records:
:class:`DataSummary` (source, fingerprint, participant flow, validation counts),
:class:`OutcomeSummary` (the outcome's definition, with its measure, site and unit, and
:meth:`OutcomeSummary.in_words`), one :class:`ModelEvaluation` per model (metrics with CIs,
curves, subgroups, folds), :class:`FinalModel` and :class:`ModelChoice`. Parts whose shape
belongs to another module (sample size, added value, uncertainty, ...) stay plain mappings,
documented where they are computed.

One serializer: :meth:`RunSummary.to_dict` / :meth:`RunSummary.to_json` write exactly the keys
that were set, in declaration order, as strict JSON (no NaN); :meth:`RunSummary.read` reads a
``summary.json`` back and names the file and the key when it is not an eih_ml summary.

Every record also reads like the mapping it replaces (``summary["models"]["xgboost"]``,
``summary.get("abstain")``, ``"optimism_corrected" in summary``) so code and notebooks written
against the dict keep working; the package itself reads attributes.

Everything here is aggregate (counts, rates, metrics): no participant-level value is a field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from eih_ml.errors import DataError
from eih_ml.outcome_words import outcome_in_words, outcome_parts, outcome_site, outcome_unit


class Record(BaseModel):
    """A typed record that also reads like a mapping of the keys that were set.

    Unknown keys are kept (``extra="allow"``) so a summary written by a newer version, or a
    key added by a caller, survives a read and a write unchanged.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    def keys(self) -> list[str]:
        """The keys that were set, declared ones in declaration order, then extra ones."""
        declared = [k for k in type(self).model_fields if k in self.model_fields_set]
        return declared + list(self.model_extra or {})

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # a mapping's keys
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __eq__(self, other: object) -> bool:
        """Records compare as pydantic models; a record equals the plain mapping it replaces."""
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as pydantic's models

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` if it was set, else ``default`` (as :meth:`dict.get`)."""
        return getattr(self, key) if key in self.keys() else default

    def items(self) -> list[tuple[str, Any]]:
        """``(key, value)`` pairs of the keys that were set."""
        return [(k, getattr(self, k)) for k in self.keys()]

    def values(self) -> list[Any]:
        """The values of the keys that were set."""
        return [getattr(self, k) for k in self.keys()]

    def to_dict(self) -> dict[str, Any]:
        """The record as plain Python (nested records too), with only the keys that were set."""
        return self.model_dump(exclude_unset=True)

    @classmethod
    def validated(
        cls,
        data: Mapping[str, Any],
        source: object,
        what: str,
        error: type[Exception] = DataError,
    ) -> Self:
        """``data`` read as this record, or ``error`` naming ``source`` and the first bad key.

        The one wording of every typed file's refusal: "<source> has no 'key': it is not
        <what>." (or "has a wrong (<reason>) 'key'").
        """
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            problem = "has no" if first["type"] == "missing" else f"has a wrong ({first['msg']})"
            raise error(f"{source} {problem} {where!r}: it is not {what}.") from None


class DataSummary(Record):
    """Where the data came from and what was analysed (counts only)."""

    source: dict[str, Any]
    fingerprint: str
    n_participants: int
    n_sessions: int
    flow: dict[str, Any]
    validation: dict[str, Any]


class OutcomeSummary(Record):
    """The outcome's definition (:meth:`eih_ml.outcomes.Outcome.provenance`) and its prevalence."""

    outcome: str
    source: str = "acute"
    programme: dict[str, Any] | None = None
    task: str = "classification"
    target: str | None = None
    rule: str | None = None
    threshold: float | None = None
    threshold_per_fold: bool = False
    rule_parameters: dict[str, Any] | None = None
    rows_without_outcome: int = 0
    prevalence: float | None = None
    class_prevalence: dict[str, float] | None = None
    final_threshold: float | None = None
    risk_threshold: float | None = None
    notes: list[str] = []

    @property
    def measure(self) -> str | None:
        """``abs``, ``rel`` or ``adj`` for acute EIH; the programme's measure otherwise."""
        if self.programme:
            return self.programme.get("measure")
        return outcome_parts(self.outcome)[0]

    @property
    def site(self) -> str | None:
        """``local``, ``remote`` or ``global`` for acute EIH; None for a programme outcome."""
        return None if self.programme else outcome_parts(self.outcome)[1]

    @property
    def site_in_words(self) -> str:
        """Where the pressure pain threshold was measured, in words (:func:`outcome_site`)."""
        return outcome_site(self.to_dict())

    @property
    def unit(self) -> str:
        """The outcome's unit: kPa, %, NRS points or points (:func:`outcome_unit`)."""
        return outcome_unit(self.to_dict())

    def definition_key(self) -> str:
        """What makes two models comparable: the outcome's definition, not its threshold value.

        The MLflow tag ``eih_ml.outcome_definition``: the registry compares a new version with
        the champion only when their keys are equal.
        """
        return json.dumps(
            {
                "outcome": self.outcome,
                "task": self.task,
                "rule": self.rule,
                "parameters": self.rule_parameters,
            },
            sort_keys=True,
        )

    def in_words(self, threshold: float | None = None) -> str:
        """The outcome's definition in one sentence (:func:`outcome_in_words`)."""
        cut = self.final_threshold if threshold is None else threshold
        return outcome_in_words(self.to_dict(), cut)


class ModelEvaluation(Record):
    """One model's out-of-fold evaluation (:func:`eih_ml.evaluation.evaluate.evaluate_predictions`).

    ``metrics`` holds each metric with its ``_ci_low`` / ``_ci_high`` participant-bootstrap CI.
    """

    metrics: dict[str, Any]
    per_repeat: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    subgroups: dict[str, Any] = {}
    folds: list[dict[str, Any]] = []
    seconds: float | None = None
    #: Leave-site-out results (:func:`eih_ml.evaluation.sites.site_results`), multi-site data only.
    sites: dict[str, Any] | None = None

    def metric(self, name: str) -> float | None:
        """The value of metric ``name``, or None when it was not computed."""
        value = self.metrics.get(name)
        return None if value is None else float(value)


class FinalModel(Record):
    """The model refitted on every participant and its tuned hyper-parameters."""

    model: str
    params: dict[str, Any] = {}


class ModelChoice(Record):
    """How the best model was chosen (:func:`eih_ml.experiment.choose_model`)."""

    chosen: str
    rule: str
    primary_metric: str
    scores: dict[str, float | None] = {}
    tied: list[str] = []
    tie_break: str | None = None
    tie_scores: dict[str, float | None] = {}


class RunSummary(Record):
    """An experiment's summary: aggregates only, as ``summary.json`` holds it."""

    name: str
    toolkit_version: str
    git_commit: str | None = None
    config_digest: str
    primary_metric: str
    best_model: str
    data: DataSummary
    outcome: OutcomeSummary
    reliability_ceiling: dict[str, Any] = {}
    features: list[str] = []
    missing_data: dict[str, Any] = {}
    model_specification: dict[str, Any] = {}
    sample_size: dict[str, Any] = {}
    models: dict[str, ModelEvaluation]
    added_value: dict[str, Any] = {}
    model_comparisons: dict[str, Any] = {}
    final_model: FinalModel | None = None
    seconds: float | None = None
    explanations: dict[str, Any] | None = None
    model_choice: ModelChoice | None = None
    optimism_corrected: dict[str, Any] | None = None
    abstain: dict[str, Any] | None = None
    uncertainty: dict[str, Any] | None = None
    ood_flag: dict[str, Any] | None = None

    @property
    def best(self) -> ModelEvaluation:
        """The best model's evaluation."""
        return self.models[self.best_model]

    def to_json(self) -> str:
        """Strict JSON (no NaN; numpy scalars as numbers), as written to ``summary.json``."""
        from eih_ml.run_files import to_json

        return to_json(self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> RunSummary:
        """Read a ``summary.json``.

        Raises
        ------
        DataError
            The file is missing, is not JSON, or is not the summary of an eih_ml experiment (the
            message names the file and the first key that is missing or wrong).
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path} does not exist: give a run folder written by 'eih-ml train'.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path} is not JSON ({exc}); it is not an eih_ml summary.") from exc
        return cls.from_mapping(data, path)

    @classmethod
    def from_mapping(cls, data: object, source: str | Path = "the summary") -> RunSummary:
        """A summary from its JSON form (``json.loads`` of ``summary.json``).

        Raises
        ------
        DataError
            ``data`` is not the summary of an eih_ml experiment; the message names ``source``
            and the first key that is missing or wrong.
        """
        if not isinstance(data, dict):
            raise DataError(f"{source} holds {type(data).__name__}, not an eih_ml summary.")
        return cls.validated(data, source, "the summary of an eih_ml experiment")

    def __repr__(self) -> str:
        pm = self.primary_metric
        best = self.models.get(self.best_model)
        score = best.metric(pm) if best is not None else None
        return (
            f"<RunSummary {self.name!r}: {self.data.n_participants} participants, "
            f"{self.outcome.outcome} ({self.outcome.task}); best {self.best_model} {pm} "
            + ("n/a" if score is None else f"{score:.3f}")
            + f"; {len(self.models)} model(s)>"
        )
