"""Constant vs heteroscedastic sigma of the distributional model on simulated cohorts (#18).

Train on one simulated cohort of 400 participants, score P(EIH > t) on another (held-out
participants, a different seed): log loss, Brier score, calibration slope, coverage of the 90%
predictive interval by baseline-PPT quartile, and the Spearman correlation of sigma(x) with the
absolute deviation of the measured EIH from its expected value (the simulator's truth).
Writes ``results/scale.json``. Run: ``.venv/bin/python bench/run_all.py scale``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result

SEEDS = [1, 2, 3]
#: Responder thresholds t of P(EIH > t), kPa.
THRESHOLDS = (0.0, 30.0)
CONSTANT, HETERO = "constant", "heteroscedastic"
SCALES = (CONSTANT, HETERO)


def _frame(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.features.derive import derive_features

    sim = simulate_cohort(400, "chronic_mixed", seed=seed)
    d = derive_features(sim.cohort)
    gt = (
        d[["participant_id", "session_id"]]
        .astype(str)
        .merge(
            sim.ground_truth.astype({"participant_id": str, "session_id": str}),
            on=["participant_id", "session_id"],
            how="left",
        )
    )
    y = d["eih_abs_local"].to_numpy(float)
    num = d.select_dtypes("number")
    keep = [c for c in num.columns if not any(k in c for k in ("post", "eih", "rest"))]
    ok = np.isfinite(y)
    truth = gt["expected_eih_local"].to_numpy(float)
    return num.loc[ok, keep], y[ok], truth[ok], d.loc[ok, "participant_id"].to_numpy()


def main() -> None:
    from scipy.stats import spearmanr
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.metrics import brier_score_loss, log_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from eih_ml.distributional import ExceedanceClassifier

    rows, per_seed = [], []
    for seed in SEEDS:
        X, y, _, g = _frame(seed)
        Xt, yt, truth, _ = _frame(seed + 100)
        Xt = Xt.reindex(columns=X.columns)
        reg = make_pipeline(SimpleImputer(), StandardScaler(), RidgeCV())
        for scale in SCALES:
            m = ExceedanceClassifier(reg, threshold=0.0, scale=scale).fit(X, y, groups=g)
            mu, sd = m.predict_mean(Xt), m.predict_scale(Xt)
            for t in THRESHOLDS:
                m.threshold = t
                p = np.clip(m.predict_proba(Xt)[:, 1], 1e-6, 1 - 1e-6)
                lab = (yt > t).astype(int)
                logit = np.log(p / (1 - p)).reshape(-1, 1)
                slope = LogisticRegression(C=1e6).fit(logit, lab).coef_[0, 0]
                rows.append(
                    {"seed": seed, "scale": scale, "t": t, "log_loss": log_loss(lab, p),
                     "brier": brier_score_loss(lab, p), "cal_slope": slope}
                )  # fmt: skip
            z = np.abs(yt - mu) / sd
            q = pd.qcut(Xt["ppt_local_pre"], 4, labels=False).to_numpy()
            cov = [float(np.mean(z[q == k] < 1.645)) for k in range(4)]
            rho = spearmanr(sd, np.abs(yt - truth)).statistic if sd.std() > 0 else float("nan")
            per_seed.append(
                {"seed": seed, "scale": scale, "coverage_90_by_ppt_quartile": cov,
                 "spearman_sigma_vs_abs_error": None if np.isnan(rho) else float(rho),
                 "sigma_min": float(sd.min()), "sigma_max": float(sd.max())}
            )  # fmt: skip
    means = pd.DataFrame(rows).groupby(["t", "scale"])[["log_loss", "brier", "cal_slope"]].mean()
    scores = {
        f"t_{t:g}": {scale: means.loc[(t, scale)].round(4).to_dict() for scale in SCALES}
        for t in THRESHOLDS
    }
    write_result(
        "scale",
        {
            "seeds": SEEDS,
            "participants": 400,
            "regressor": "ridge (RidgeCV) of the baseline measures",
            "scores": scores,
            "heteroscedastic_minus_constant_log_loss_t0": round(
                scores["t_0"][HETERO]["log_loss"] - scores["t_0"][CONSTANT]["log_loss"], 4
            ),
            "per_seed": per_seed,
        },
    )


if __name__ == "__main__":
    main()
