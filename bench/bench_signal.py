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

Two oracles, because "the true responder probability" can mean two things:

* ``oracle`` (the full one): the true expected EIH of each session, which includes each
  participant's random effect, the part of the EIH propensity no baseline variable measures;
* ``oracle_traits``: the expected EIH from the latent traits, protocol and demographics only
  (the random effect set to 0), i.e. the best any model of *baseline measurements* could do if
  it measured the traits without error.

The distributional models fit every session on its own by default
(``distributional.participant_effect: independent``); the same seeds are run again with a
random-intercept model of sessions (``random_intercept``: same folds, same searches) and the
paired AUROC difference (mixed minus independent) reported.

The **hand-written script** (``handwritten_nested_cv.py``'s penalised logistic regression,
its own inner random search scored by AUROC) is fitted on the same outer folds, with each
fold's labels, and compared with the best model by a paired participant-bootstrap difference.
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
        dist = [m for m in MODELS if m.endswith("_dist")]
        mixed = run_experiment(
            config.model_copy(
                update={
                    "models": dist,
                    "distributional": config.distributional.model_copy(
                        update={"participant_effect": "random_intercept"}
                    ),
                }
            ),
            output_dir=f"/tmp/eih-bench-signal/{seed}-mixed",
            track=False,
        )
        sim = simulate_cohort(400, "chronic_mixed", seed=seed)
        gt = (
            result.table.loc[result.rows, ["participant_id", "session_id"]]
            .astype(str)
            .merge(
                sim.ground_truth.astype({"participant_id": str, "session_id": str}),
                on=["participant_id", "session_id"],
                how="left",
            )
        )
        truth = gt["expected_eih_local"].to_numpy()
        scen = sim.scenario
        full = gt["expected_eih_local"] / gt["eih_multiplier"]
        traits = (
            full
            * (
                1
                + scen.response_sd
                * (gt["eih_propensity"] - scen.random_effect_sd * gt["random_effect"])
            )
        ).to_numpy()
        row = {"seed": seed}
        hand = handwritten_oof(result)
        for model in MODELS:
            oof = result.cvs[model].oof
            auroc = roc_auc_score(oof["y"], oof["pred"])
            oracle = roc_auc_score(oof["y"], truth[oof["position"]])
            oracle_traits = roc_auc_score(oof["y"], traits[oof["position"]])
            metrics = result.summary["models"][model]["metrics"]
            row[model] = {
                "auroc": auroc,
                "oracle_auroc": oracle,
                "ratio": auroc / oracle,
                "oracle_traits_auroc": oracle_traits,
                "ratio_traits": auroc / oracle_traits,
                "calibration_slope": metrics.get("calibration_slope"),
            }
        for model in dist:
            oof = mixed.cvs[model].oof
            row[model]["auroc_random_intercept"] = roc_auc_score(oof["y"], oof["pred"])
            row[model]["mixed_minus_independent"] = (
                row[model]["auroc_random_intercept"] - row[model]["auroc"]
            )
        row["handwritten"] = {
            "auroc": roc_auc_score(hand["y"], hand["pred"]),
            "ratio": roc_auc_score(hand["y"], hand["pred"]) / row[MODELS[0]]["oracle_auroc"],
        }
        best = max(MODELS, key=lambda m: row[m]["auroc"])
        from eih_ml.evaluation.evaluate import paired_oof_comparison

        diff = paired_oof_comparison(
            hand, result.cvs[best].oof, "classification", n_boot=500, seed=seed
        ).as_dict()
        row["best_vs_handwritten"] = {
            "model": best,
            **{k: v for k, v in diff.items() if k.startswith("auroc")},
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
            "ratio_to_traits_oracle": spread([r[m]["ratio_traits"] for r in per_seed]),
            "auroc": spread([r[m]["auroc"] for r in per_seed]),
            "calibration_slope": spread([r[m]["calibration_slope"] for r in per_seed]),
        }
        for m in MODELS
    }
    for m in MODELS:
        if m.endswith("_dist"):
            summary[m]["mixed_minus_independent_auroc"] = spread(
                [r[m]["mixed_minus_independent"] for r in per_seed]
            )
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
            "traits_oracle_auroc_mean": statistics.mean(
                r[MODELS[0]]["oracle_traits_auroc"] for r in per_seed
            ),
            # the most a model of baseline measurements can reach of the full oracle's AUROC
            "traits_oracle_over_full_oracle": spread(
                [
                    r[MODELS[0]]["oracle_traits_auroc"] / r[MODELS[0]]["oracle_auroc"]
                    for r in per_seed
                ]
            ),
            "handwritten_ratio_to_oracle": spread([r["handwritten"]["ratio"] for r in per_seed]),
            "best_minus_handwritten_auroc": spread(
                [r["best_vs_handwritten"]["auroc_difference"] for r in per_seed]
            ),
            "best_vs_handwritten_per_seed": [r["best_vs_handwritten"] for r in per_seed],
            "per_seed": per_seed,
        },
    )


def handwritten_oof(result):
    """The hand-written script's penalised logistic regression on the experiment's outer folds.

    Same rows, folds and per-fold labels as the toolkit's out-of-fold predictions; its own
    pipeline and inner search (``handwritten_nested_cv.fold``), on the feature columns it lists.
    """
    import numpy as np
    import pandas as pd
    from handwritten_nested_cv import CAT, NUM, fold

    ref = result.cvs[result.config.models[0]]
    table = result.table.loc[result.rows].reset_index(drop=True)
    X = table[[c for c in NUM + CAT if c in table.columns]].copy()
    for c in CAT:
        if c in X:
            X[c] = X[c].astype(object).where(X[c].notna(), np.nan)
    values = result.outcome.values.to_numpy(float)[result.rows]
    g = table["participant_id"].astype(str).to_numpy()
    frames = []
    for f in ref.folds:
        test = ref.oof.loc[(ref.oof["fold"] == f.fold) & (ref.oof["repeat"] == f.repeat)]
        te = test["position"].to_numpy()
        tr = np.setdiff1d(np.arange(len(values)), te)
        y = (values > f.threshold).astype(int)
        te_out, pred, _ = fold("elastic_net", X, y, g, tr, te, f.fold)
        frames.append(
            pd.DataFrame(
                {
                    "position": te_out,
                    "participant_id": g[te_out],
                    "repeat": f.repeat,
                    "fold": f.fold,
                    "y": y[te_out],
                    "pred": pred,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values("position").reset_index(drop=True)


if __name__ == "__main__":
    main()
