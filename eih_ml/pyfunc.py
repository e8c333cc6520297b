"""The MLflow pyfunc model: prediction + uncertainty + top factors + OOD flag in one call.

Logged with MLflow's models-from-code (``eih_ml/serve/mlflow_entry.py`` is the code file), so no
Python object is pickled: the scikit-learn pipeline and the conformal predictor are skops files
inside the bundle artifact, loaded with an explicit allowlist of trusted types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from eih_ml.data import contract

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

    from eih_ml.bundle import ModelBundle

try:  # mlflow is imported only where a model is logged or served
    # PythonModelContext at run time too: MLflow reads predict's type hints when it logs
    from mlflow.pyfunc import PythonModel, PythonModelContext
except ImportError:  # pragma: no cover - mlflow is a core dependency
    PythonModel = PythonModelContext = object  # type: ignore[misc,assignment]  # a plain base


class EihResponderModel(PythonModel):
    """``predict(model_input)`` returns :meth:`eih_ml.bundle.ModelBundle.predict`'s columns."""

    bundle: ModelBundle

    def load_context(self, context: PythonModelContext) -> None:
        """Load the bundle folder logged as the ``bundle`` artifact."""
        from eih_ml.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """One output row per input row (canonical data-contract columns).

        ``params={"confidence_level": 0.95}`` answers at another calibrated level (the
        signature's parameter; default the model's own).
        """
        bundle = self.bundle
        level = (params or {}).get("confidence_level")
        if level is not None:
            bundle = bundle.at_level(float(level))
        return bundle.predict(pd.DataFrame(model_input))


def input_columns(features: list[str]) -> list[str]:
    """The canonical raw columns from which the model's features are derived."""
    cols = list(contract.ID_COLUMNS)
    for f in features:
        if f.endswith(("_nd", "_lod")):
            continue
        if f.startswith("ppt_"):
            cols += [f"{f}_{k}" for k in (1, 2, 3)]
        elif f.startswith("cpm_"):
            cols += [f"cpm_test_{w}_{k}" for w in ("before", "during") for k in (1, 2)]
            cols += ["cpm_test_type"]
        elif f.startswith("ts_"):
            cols += [f"ts_rating_{i}" for i in range(1, 11)] + [
                f"ts_single_{k}" for k in range(1, 6)
            ]
        elif f.startswith(("pcs_", "tsk_", "hads_", "csi_", "pseq_")):
            prefix = f.split("_")[0]
            q = contract.QUESTIONNAIRES[prefix]
            cols += [f"{prefix}_{i}" for i in range(1, q.n_items + 1)] + [f]
        elif f in ("exercise_intensity_rel",):
            cols += ["exercise_intensity", "exercise_intensity_unit"]
        elif f == "programme_intensity_rel":
            cols += ["programme_intensity", "programme_intensity_unit"]
        elif f == "programme_minutes_per_week":
            cols += ["session_duration_min", "sessions_per_week"]
        elif f.startswith("baseline_eih_"):  # the baseline session's PPTs before and after
            site = f.removeprefix("baseline_eih_")
            cols += [f"ppt_{site}_{p}_{k}" for p in ("pre", "post") for k in (1, 2, 3)]
        else:
            cols.append(f)
    return list(dict.fromkeys(cols))


def signature(
    features: list[str], task: str, example: pd.DataFrame, level: float = 0.9
) -> ModelSignature:
    """MLflow signature: every input optional and of any type, typed by the input contract.

    :func:`eih_ml.data.inputs.mlflow_input_schema` explains why: MLflow's own enforcement would
    refuse integer ids and biomarker non-detects that the loader reads; the model types them
    (ints, floats, numeric text, missing spellings, non-detects) exactly as every other door.
    The outputs are the prediction row of ``task``
    (:func:`eih_ml.prediction.mlflow_output_schema`).
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    from eih_ml.data.inputs import mlflow_input_schema
    from eih_ml.prediction import mlflow_output_schema

    return ModelSignature(
        inputs=mlflow_input_schema(input_columns(features)),
        outputs=mlflow_output_schema(task),
        params=ParamSchema([ParamSpec("confidence_level", "double", float(level))]),
    )


def synthetic_example(features: list[str], seed: int = 20261126) -> pd.DataFrame:
    """An input example from the simulator: a synthetic patient, never a real participant."""
    from eih_ml.data.simulate import simulate_cohort

    sim = simulate_cohort(1, scenario="chronic_mixed", seed=seed)
    frame = sim.cohort
    if "programme_modality" in features:  # a programme model: with a prescription
        from eih_ml.data.simulate_programme import simulate_programme

        frame = simulate_programme(sim).cohort
    row = frame.iloc[[0]]
    cols = [c for c in input_columns(features) if c in row.columns]
    example = row[cols].copy()
    example["participant_id"] = "synthetic-1"
    example["session_id"] = "S1"
    for c in example.columns:
        s = contract.spec_for(c)
        if s is not None and s.kind == "biomarker":
            example[c] = pd.to_numeric(example[c], errors="coerce")
    example = example.reset_index(drop=True)
    # An object column index: MLflow compares the columns with a range(), which pandas >= 3
    # deprecates for its Arrow-backed string index.
    example.columns = pd.Index(list(example.columns), dtype=object)
    return example
