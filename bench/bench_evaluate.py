"""External validation of a trained model on 10,000 participants with 500 bootstrap resamples
(target: <= 20 s).

Baseline in the same run: the model's own predictions for the same cohort
(``ModelBundle.predict_matrix`` on the prepared rows) plus one bare ``classification_metrics``
call, i.e. what any validation must at least do; the ratio says what the CIs, curves,
subgroups, case mix and updating cost on top.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result


def main() -> None:
    from eih_ml.bundle import ModelBundle
    from eih_ml.config import load_config
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.evaluation.external import external_validation
    from eih_ml.evaluation.metrics import classification_metrics
    from eih_ml.experiment import run_experiment
    from eih_ml.outcomes import label

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            root / "configs" / "default.yaml",
            ["models=[xgboost]", "evaluation.added_value=[]", "search.n_iter=2"],
        )
        run_experiment(config, output_dir=Path(tmp) / "run", track=False)
        bundle = ModelBundle.load(Path(tmp) / "run" / "model")
        cohort = simulate_cohort(10_000, seed=12).cohort

        start = time.perf_counter()
        result = external_validation(bundle, cohort, n_boot=500)
        ours = time.perf_counter() - start

        start = time.perf_counter()
        _, table = bundle.derive(cohort, require_outcome=True)
        table = table[table["eih_abs_local"].notna()].reset_index(drop=True)
        ids, X, missing = bundle.matrix(table)
        pred = bundle.predict_matrix(X, ids, missing)["probability"].to_numpy(float)
        y = label(table["eih_abs_local"].to_numpy(float), 0.0, "classification")
        classification_metrics(y, pred)
        base = time.perf_counter() - start
    write_result(
        "evaluate",
        {
            "participants": result.summary["cohort"]["n_participants"],
            "sessions": result.summary["cohort"]["n_sessions"],
            "bootstrap_resamples": 500,
            "evaluate_s": ours,
            "predict_and_score_once_s": base,
            "ratio_to_predict_and_score_once": ours / base,
            "target_s": 20.0,
            "meets_target": ours <= 20.0,
        },
    )


if __name__ == "__main__":
    main()
