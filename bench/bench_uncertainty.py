"""Does the per-patient uncertainty hold on new participants? (issue 18)

On 5 simulated training cohorts of 400 participants (seeds 0-4, ``chronic_mixed``), the default
experiment is trained (its models, nested CV and final model; no tracking). Its bundle then
predicts 1,000 **new** participants of the same scenario (seed 9999, never trained on), whose
measured EIH is known:

* the CQR prediction interval of EIH at 80, 90 and 95 %: coverage overall and in every condition
  (targets at 90 %: 88-92 % overall, >= 85 % in each condition), and how much the width varies
  from patient to patient (10th and 90th percentile);
* the Venn-Abers range of the probability: the share of patients whose range is narrower than
  0.10, and the observed responder rate per fifth of the probability against the mean range;
* the old conformal set at 90 %: the share of patients whose set is "uncertain" (both classes),
  the complaint of the issue.

Also timed: one patient's prediction through the bundle with and without the interval heads
(ratio in the same run).

Usage: ``python bench_uncertainty.py [KEY=VALUE ...]``: config overrides (e.g.
``prediction.interval_by_condition=floor``); with overrides the result is written as
``uncertainty_<value>.json``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [0, 1, 2, 3, 4]
LEVELS = (0.8, 0.9, 0.95)


def new_participants(n: int = 1000, seed: int = 9999):
    """Inputs without the post-exercise columns, the measured EIH, the condition and labels."""
    import numpy as np

    from eih_ml.data.load import load_frame
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features

    raw = simulate_cohort(n, "chronic_mixed", seed=seed).cohort
    table = derive_features(validate_cohort(load_frame(raw)).data)
    eih = table["eih_abs_local"].to_numpy(float)
    keep = np.isfinite(eih)
    inputs = raw.loc[raw.index[keep]]
    inputs = inputs[[c for c in inputs.columns if "_post" not in c and "rest_" not in c]]
    return inputs.reset_index(drop=True), eih[keep], table["condition"].to_numpy()[keep]


def main(overrides: list[str]) -> None:
    import numpy as np

    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    inputs, eih, condition = new_participants()
    conditions = sorted(set(condition))
    per_seed = []
    for seed in SEEDS:
        config = load_config(
            ROOT / "configs" / "default.yaml",
            [
                "data.simulate.n_participants=400",
                f"data.simulate.seed={seed}",
                f"seed={seed}",
                "evaluation.added_value=[]",
                "bootstrap.n_resamples=100",
                *overrides,
            ],
        )
        started = time.perf_counter()
        result = run_experiment(config, output_dir=f"/tmp/eih-bench-unc/{seed}", track=False)
        seconds = time.perf_counter() - started
        bundle = result.bundle
        row: dict = {"seed": seed, "model": result.best_model, "experiment_s": seconds}
        for level in LEVELS:
            out = bundle.at_level(level).predict(inputs)
            ok = ~out["abstained"].to_numpy(bool)
            lo, hi = out["eih_low"].to_numpy(float), out["eih_high"].to_numpy(float)
            inside = (lo <= eih) & (eih <= hi)
            width = (hi - lo)[ok]
            row[f"eih_{level:g}"] = {
                "coverage": float(inside[ok].mean()),
                "by_condition": {
                    c: float(inside[ok & (condition == c)].mean()) for c in conditions
                },
                "width_p10": float(np.percentile(width, 10)),
                "width_p50": float(np.percentile(width, 50)),
                "width_p90": float(np.percentile(width, 90)),
            }
            if level == 0.9:
                threshold = float(bundle.meta["threshold"])
                y = (eih > threshold).astype(float)
                p = out["probability"].to_numpy(float)
                plo = out["probability_low"].to_numpy(float)
                phi = out["probability_high"].to_numpy(float)
                fifths = []
                edges = np.quantile(p[ok], [0, 0.2, 0.4, 0.6, 0.8, 1.0])
                for a, b in zip(edges[:-1], edges[1:], strict=True):
                    band = ok & (p >= a) & (p <= b)
                    fifths.append(
                        {
                            "observed_rate": float(y[band].mean()),
                            "mean_probability": float(p[band].mean()),
                            "mean_low": float(plo[band].mean()),
                            "mean_high": float(phi[band].mean()),
                        }
                    )
                row["venn_abers"] = {
                    "narrower_than_0.10": float(((phi - plo)[ok] < 0.10).mean()),
                    "median_width": float(np.median((phi - plo)[ok])),
                    "fifths": fifths,
                }
                sets = out["prediction_set"][ok].astype(str)
                row["conformal_set_uncertain_share"] = float(sets.str.contains("uncertain").mean())
        one = inputs.iloc[[0]]
        plain = bundle.__class__(
            bundle.pipeline, bundle.conformal, bundle.meta, bundle.reference, bundle.venn_abers
        )
        plain._attributor = bundle.attributor
        row["one_patient_ms"] = _ms(bundle.predict, one)
        row["one_patient_without_interval_ms"] = _ms(plain.predict, one)
        per_seed.append(row)
        print(row, flush=True)

    def spread(values):
        values = list(values)
        return {"mean": statistics.mean(values), "sd": statistics.stdev(values), "min": min(values)}

    summary = {
        f"eih_{level:g}": {
            "coverage": spread(r[f"eih_{level:g}"]["coverage"] for r in per_seed),
            "by_condition_mean": {
                c: statistics.mean(r[f"eih_{level:g}"]["by_condition"][c] for r in per_seed)
                for c in conditions
            },
            "worst_condition": spread(
                min(r[f"eih_{level:g}"]["by_condition"].values()) for r in per_seed
            ),
            "width_p10": spread(r[f"eih_{level:g}"]["width_p10"] for r in per_seed),
            "width_p90": spread(r[f"eih_{level:g}"]["width_p90"] for r in per_seed),
        }
        for level in LEVELS
    }
    for level in LEVELS:  # each condition's coverage averaged over cohorts, then the lowest
        by_mean = summary[f"eih_{level:g}"]["by_condition_mean"]
        summary[f"eih_{level:g}"]["least_condition_on_average"] = {
            "condition": min(by_mean, key=by_mean.get),
            "coverage": min(by_mean.values()),
        }
    summary["venn_abers_median_width"] = spread(r["venn_abers"]["median_width"] for r in per_seed)
    summary["conformal_set_uncertain_share"] = spread(
        r["conformal_set_uncertain_share"] for r in per_seed
    )
    summary["experiment_s"] = spread(r["experiment_s"] for r in per_seed)
    summary["interval_cost_ratio"] = statistics.mean(
        r["one_patient_ms"] / r["one_patient_without_interval_ms"] for r in per_seed
    )
    name = "uncertainty" + "".join(f"_{o.split('=', 1)[1]}" for o in overrides)
    write_result(
        name,
        {
            "seeds": SEEDS,
            "overrides": overrides,
            "participants": 400,
            "new_participants": 1000,
            "targets": "90 % EIH intervals: 88-92 % overall, >= 85 % in every condition",
            "summary": summary,
            "per_seed": per_seed,
        },
    )


def _ms(fn, arg, repeat: int = 30) -> float:
    fn(arg)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


if __name__ == "__main__":
    main(sys.argv[1:])
