"""On a simulated cohort the models recover most of the signal that is there to find."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from eih_ml.config import load_config
from eih_ml.data.simulate import simulate_cohort, write_simulation
from eih_ml.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_models_recover_most_of_the_achievable_signal(tmp_path):
    """Compare the out-of-fold AUROC with the AUROC of the simulator's true expected EIH.

    The true expected EIH of a session includes each participant's random effect, which no
    baseline measurement sees (between-session reliability of EIH ~ 0.5), so even a perfect
    model of the measured predictors stays below it. A model that recovers at least half of the
    true signal above chance (AUROC - 0.5) has found most of what the predictors carry.
    """
    sim = simulate_cohort(400, seed=21)
    paths = write_simulation(sim, tmp_path)
    config = load_config(
        ROOT / "configs" / "default.yaml",
        ["models=[elastic_net]", "evaluation.added_value=[]", "bootstrap.n_resamples=50",
         "search.n_iter=4"],
        data=str(paths["cohort"]),
    )  # fmt: skip
    result = run_experiment(config, output_dir=tmp_path / "run", track=False)
    analysed = result.table.loc[result.rows, ["participant_id", "session_id"]]
    truth = analysed.reset_index(drop=True).merge(
        sim.ground_truth.astype({"participant_id": str, "session_id": str}),
        on=["participant_id", "session_id"],
        how="left",
    )["expected_eih_local"]
    oof = result.cvs["elastic_net"].oof
    model_auroc = roc_auc_score(oof["y"], oof["pred"])
    truth_auroc = roc_auc_score(oof["y"], truth.to_numpy()[oof["position"]])
    assert truth_auroc > 0.8
    assert model_auroc - 0.5 >= 0.5 * (truth_auroc - 0.5), (model_auroc, truth_auroc)
