"""`beamloop train trigger` end to end on a tiny stream set, and `--rethreshold` on the streams it
stored: the same deployed operating point, the weights untouched."""

from __future__ import annotations

import json

import numpy as np


def test_tiny_training_then_rethreshold_agree(tmp_path):
    from beamloop.models.weight_files import file_sha256
    from beamloop.models.trigger_operating_point import rethreshold
    from beamloop.models.trigger_pipeline import run

    w, data = tmp_path / "w", tmp_path / "d"
    meta = run(w, data, n_train=16, n_val=4, n_test=8, epochs=3, workers=1, max_train_seconds=10, seed=0,
               progress=lambda *_: None)
    m = meta["metrics_heldout"]
    assert meta["threshold"] == m["far_0.01"]["threshold"] and "95%" in meta["threshold_rule"]
    scale = meta["score_scale"]
    for k in ("far_0.005", "far_0.01", "far_0.02"):
        assert m[k]["threshold_rule"] == "bound"
        assert m[k]["threshold_register"] == int(np.floor(m[k]["threshold"] / scale))
    assert m["far_0.005"]["threshold"] >= m["far_0.01"]["threshold"] >= m["far_0.02"]["threshold"]
    sha = file_sha256(w / "trigger.pt")
    again = rethreshold(w, data / "train_16_s1.h5", data / "test_8_s4.h5")
    assert file_sha256(w / "trigger.pt") == sha == again["state_sha256"]
    for k in ("threshold", "threshold_register", "trigger_recall_drift_at_1pct_fa"):
        assert again[k] == meta[k]
    assert json.loads((w / "trigger.json").read_text())["threshold_command"].startswith("beamloop train trigger")
