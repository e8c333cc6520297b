"""Constant vs heteroscedastic sigma of the distributional model on simulated cohorts (#18).

Train on one simulated cohort of 400 participants, score P(EIH > t) on another (held-out
participants, a different seed): log loss, Brier score, calibration slope, coverage of the 90%
predictive interval by baseline-PPT quartile, and the Spearman correlation of sigma(x) with the
absolute deviation of the measured EIH from its expected value (the simulator's truth).
Run: ``PYTHONPATH=. python bench/bench_scale.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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

    rows = []
    for seed in (1, 2, 3):
        X, y, _, g = _frame(seed)
        Xt, yt, truth, _ = _frame(seed + 100)
        Xt = Xt.reindex(columns=X.columns)
        reg = make_pipeline(SimpleImputer(), StandardScaler(), RidgeCV())
        for scale in ("constant", "heteroscedastic"):
            m = ExceedanceClassifier(reg, threshold=0.0, scale=scale).fit(X, y, groups=g)
            mu, sd = m.predict_mean(Xt), m.predict_scale(Xt)
            for t in (0.0, 30.0):
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
            print(f"seed {seed} {scale:16s} 90% coverage by PPT quartile {np.round(cov, 3)}"
                  f"  spearman(sigma, |EIH - truth|) {rho:.3f}  sigma range "
                  f"{sd.min():.1f}-{sd.max():.1f}")  # fmt: skip
    table = pd.DataFrame(rows).groupby(["t", "scale"])[["log_loss", "brier", "cal_slope"]]
    print(table.mean().round(4))


if __name__ == "__main__":
    main()
