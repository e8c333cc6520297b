"""Explained predictions: one patient in-process (targets: p50 <= 20 ms, <= 3x a bare XGBoost
predict + TreeSHAP of one row) and 10,000 patients (target: <= 5 s on 2 cores).

The model is the default experiment's xgboost bundle trained on a simulated cohort. Two figures
per patient: the full clinical path (raw canonical row -> validation -> features -> prediction,
conformal set, SHAP factors, OOD check) and the model path on a prepared row.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result


def _p50(fn, n: int = 200) -> float:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import tempfile

    import shap
    import xgboost

    from eih_ml.config import load_config
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.experiment import run_experiment

    root = Path(__file__).resolve().parents[1]
    config = load_config(
        root / "configs" / "default.yaml",
        ["models=[xgboost]", "evaluation.added_value=[]", "bootstrap.n_resamples=100"],
    )
    result = run_experiment(config, output_dir=Path(tempfile.mkdtemp()) / "run", track=False)
    bundle = result.bundle
    patients = simulate_cohort(6000, seed=99).cohort
    patients = patients[[c for c in patients.columns if "_post" not in c and "rest_" not in c]]
    one = patients.iloc[[0]]
    ids, X, missing = bundle.prepare(one)

    full = _p50(lambda: bundle.predict(one))
    model_path = _p50(lambda: bundle.predict_matrix(X, ids, missing))

    booster = bundle.pipeline.named_steps["model"]
    Xt = bundle.pipeline[:-1].transform(X)
    explainer = shap.TreeExplainer(booster)
    dm = xgboost.DMatrix(Xt)
    bare = _p50(lambda: (booster.get_booster().predict(dm), explainer.shap_values(Xt)))

    many = patients.iloc[:10_000] if len(patients) >= 10_000 else patients
    start = time.perf_counter()
    out = bundle.predict(many)
    batch_s = time.perf_counter() - start
    write_result(
        "explain",
        {
            "one_patient_full_path_p50_ms": 1000 * full,
            "one_patient_model_path_p50_ms": 1000 * model_path,
            "bare_xgboost_predict_plus_treeshap_p50_ms": 1000 * bare,
            "ratio_model_path_to_bare": model_path / bare,
            "ratio_full_path_to_bare": full / bare,
            "target_p50_ms": 20.0,
            "target_ratio": 3.0,
            "batch_rows": len(out),
            "batch_s": batch_s,
            "batch_rows_per_s": len(out) / batch_s,
            "target_10000_s": 5.0,
        },
    )


if __name__ == "__main__":
    main()
