"""``beamloop train alignment`` end to end on a tiny budget (slow): data shards, both networks,
metadata the controller needs, and the coarse-to-fine estimator built from the output."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_tiny_training_run_produces_a_usable_coarse_to_fine_pair(tmp_path):
    from beamloop.controller.estimation.inference import CoarseToFineEstimator, default_estimator
    from beamloop.models.alignment_pipeline import FINE_APPLY_BOX_M, run

    meta = run(tmp_path / "w", tmp_path / "d", n_train=256, n_val=64, n_fine=128, epochs=3, qat_epochs=1,
               max_train_seconds=60, progress=lambda m: None, n_holdout=0)
    for name in ("alignment", "alignment_fine"):
        m = json.loads((tmp_path / "w" / f"{name}.json").read_text())
        assert m["name"] == name and len(m["feature_mean"]) == 216 and m["delta_c10_m"] == pytest.approx(80e-9)
        assert set(m["metrics_heldout"]["rmse_nm"]) == {"C10", "C12.x", "C12.y", "C21.x", "C21.y"}
    assert meta["fine"]["apply_box_m"] == list(FINE_APPLY_BOX_M)
    assert meta["fine"]["data"]["n_train"] > 128  # its near-aligned share of the main set + the extra pairs
    est = default_estimator(tmp_path / "w")
    assert isinstance(est, CoarseToFineEstimator)
    mean, sigma = est.predict_features(np.zeros((2, 216), np.float32) + np.asarray(est.feature_mean, np.float32))
    assert mean.shape == (2, 5) and np.all(np.isfinite(mean)) and np.all(sigma > 0)
    # sharded HDF5: one shard per prefix at this size (shard_size 256)
    assert len(list((tmp_path / "d").glob("*.h5"))) == 1 + 1 + 1  # 256 train, 64 val, 128 fine: one shard each


@pytest.mark.slow
def test_v3_recipe_records_its_version_sample_and_resumes_after_a_deadline(tmp_path):
    """``version="3"``: absolute (not centred) features, the twin's atomic samples with the current
    hard-core carbon recorded in the metadata; a data budget of 0 s raises DataIncomplete and a
    second run on the same data directory completes and logs both sessions."""
    from beamloop.models.alignment_data import DataIncomplete
    from beamloop.models.alignment_pipeline import run
    from beamloop.sim.ronchigram_config import RonchigramConfig

    kw = dict(n_train=256, n_val=64, n_fine=64, epochs=2, qat_epochs=1, max_train_seconds=30, progress=lambda m: None,
              version="3", workers=1)
    with pytest.raises(DataIncomplete):
        run(tmp_path / "w", tmp_path / "d", max_data_seconds=0.0, **kw)
    meta = run(tmp_path / "w", tmp_path / "d", **kw)
    assert meta["version"] == "3" and meta["features"]["invariant"] is False
    assert meta["randomisation"]["renderer_probs"] == [1.0, 0.0, 0.0]
    assert meta["randomisation"]["sample_min_distance_m"] == RonchigramConfig().sample_min_distance_m
    assert len(meta["data"]["generate_sessions"]) == 2 and "centred" not in meta["input"]["preprocess"]
    assert "--version 3" in meta["command"]
