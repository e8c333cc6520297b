"""How much of the signal the models carry: out-of-fold AUROC against the oracle's (issue 18).

On 5 independent simulated cohorts of 400 participants (seeds 0-4, ``chronic_mixed``), the
default experiment's nested CV (5 x 3 folds, 6 candidates) is run for the direct families
(elastic_net, xgboost) and the distributional ones (elastic_net_dist, xgboost_dist), on identical
folds. The **oracle** scores every out-of-fold row by its true expected EIH from the simulator's
ground truth (the true responder probability is a monotone function of it), on the same rows
and labels. Reported per model: mean and SD over seeds of AUROC / oracle AUROC (target: the best
model >= 0.95), the calibration slope, and the paired AUROC difference of each distributional
model against its direct family (mean and SD over seeds). Untracked; no bootstrap CIs needed
beyond the experiment's own 100 resamples.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["elastic_net", "xgboost", "elastic_net_dist", "xgboost_dist"]
SEEDS = [0, 1, 2, 3, 4]


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from eih_ml.config import load_config
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.experiment import run_experiment

    per_seed = []
    for seed in SEEDS:
        config = load_config(
            ROOT / "configs" / "default.yaml",
            [
                f"models=[{','.join(MODELS)}]",
                "data.simulate.n_participants=400",
                f"data.simulate.seed={seed}",
                f"seed={seed}",
                "evaluation.added_value=[]",
                "bootstrap.n_resamples=100",
            ],
        )
        result = run_experiment(config, output_dir=f"/tmp/eih-bench-signal/{seed}", track=False)
        sim = simulate_cohort(400, "chronic_mixed", seed=seed)
        truth = (
            result.table.loc[result.rows, ["participant_id", "session_id"]]
            .astype(str)
            .merge(
                sim.ground_truth.astype({"participant_id": str, "session_id": str}),
                on=["participant_id", "session_id"],
                how="left",
            )["expected_eih_local"]
            .to_numpy()
        )
        row = {"seed": seed}
        for model in MODELS:
            oof = result.cvs[model].oof
            auroc = roc_auc_score(oof["y"], oof["pred"])
            oracle = roc_auc_score(oof["y"], truth[oof["position"]])
            metrics = result.summary["models"][model]["metrics"]
            row[model] = {
                "auroc": auroc,
                "oracle_auroc": oracle,
                "ratio": auroc / oracle,
                "calibration_slope": metrics.get("calibration_slope"),
            }
        for name, c in result.summary["model_comparisons"].items():
            row[name] = c["auroc_difference"]
        per_seed.append(row)
        print(row, flush=True)

    def spread(values):
        return {"mean": statistics.mean(values), "sd": statistics.stdev(values)}

    summary = {
        m: {
            "ratio_to_oracle": spread([r[m]["ratio"] for r in per_seed]),
            "auroc": spread([r[m]["auroc"] for r in per_seed]),
            "calibration_slope": spread([r[m]["calibration_slope"] for r in per_seed]),
        }
        for m in MODELS
    }
    comparisons = {
        name: spread([r[name] for r in per_seed]) for name in per_seed[0] if " vs " in name
    }
    best = max(MODELS, key=lambda m: summary[m]["ratio_to_oracle"]["mean"])
    write_result(
        "signal",
        {
            "seeds": SEEDS,
            "participants": 400,
            "models": summary,
            "paired_auroc_difference": comparisons,
            "best_model": best,
            "best_ratio_to_oracle": summary[best]["ratio_to_oracle"]["mean"],
            "best_ratio_sd": summary[best]["ratio_to_oracle"]["sd"],
            "oracle_auroc_mean": statistics.mean(r[MODELS[0]]["oracle_auroc"] for r in per_seed),
            "per_seed": per_seed,
        },
    )


if __name__ == "__main__":
    main()
