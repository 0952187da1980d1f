"""The committed networks load, export to QONNX bit-exactly, and serve the controller's estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from beamloop.models.export import load_clean, run_qonnx
from beamloop.models.registry import WEIGHTS_DIR, load

pytestmark = pytest.mark.skipif(not (WEIGHTS_DIR / "alignment.pt").exists() or not (WEIGHTS_DIR / "trigger.pt").exists(),
                                reason="no committed weights (run `beamloop train alignment|trigger`)")


def test_load_shapes_and_eval_mode():
    a, t = load("alignment"), load("trigger")
    assert a.input_shape == (2, 32, 32) and t.input_shape == (32,)
    assert not a.module.training and not t.module.training
    assert a.meta["axes"] == ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]
    assert a.meta["delta_c10_m"] > 0 and len(a.meta["label_scale_m"]) == 5
    assert "threshold_register" in t.meta
    with pytest.raises(ValueError, match="name"):
        load("nope")


def test_trigger_sample_inputs_on_grid_and_qonnx_bit_exact(tmp_path):
    t = load("trigger")
    x = t.sample_inputs(40, np.random.default_rng(0))  # one simulated stream
    assert x.shape == (40, 32)
    assert torch.equal(x, torch.round(x)) and x.min() >= -128 and x.max() <= 255
    assert torch.equal(t.to_input_grid(x), x)
    model = load_clean(t.export_qonnx(tmp_path / "trigger.onnx"))
    with torch.no_grad():
        y = t.module(x).numpy()
    np.testing.assert_array_equal(run_qonnx(model, x.numpy()), y)


def test_alignment_committed_weights_qonnx_bit_exact(tmp_path):
    a = load("alignment")
    rng = np.random.default_rng(1)
    x = a.to_input_grid(rng.normal(0, 0.3, (16, 2, 32, 32)))
    with torch.no_grad():
        y = a.module(x).numpy()
    model = load_clean(a.export_qonnx(tmp_path / "alignment.onnx"))
    np.testing.assert_array_equal(run_qonnx(model, x.numpy()), y)


def test_estimators_agree_and_report_metres(tmp_path):
    from beamloop.controller.inference import QonnxEstimator, TorchEstimator

    a = load("alignment")
    path = a.export_qonnx(tmp_path / "alignment.onnx")
    rng = np.random.default_rng(2)
    pairs = rng.poisson(200, (3, 2, 64, 64)).astype(float)
    m1, s1 = TorchEstimator().predict(pairs)
    m2, s2 = QonnxEstimator(path).predict(pairs)
    assert m1.shape == (3, 5) and np.all(np.isfinite(m1)) and np.all(s1 > 0)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(s1, s2)
    # metres: estimates lie within a few label scales, never nm-as-number
    assert np.all(np.abs(m1) < 10 * np.array(a.meta["label_scale_m"]))
    with pytest.raises(ValueError, match="NaN"):
        TorchEstimator().predict(np.full((1, 2, 64, 64), np.nan))


def test_alignment_sample_inputs_from_twin_on_grid():
    a = load("alignment")
    x = a.sample_inputs(4, np.random.default_rng(3))
    assert x.shape == (4, 2, 32, 32)
    codes = x / 2.0**-6
    assert torch.equal(codes, torch.round(codes)) and codes.min() >= -128 and codes.max() <= 127
    assert torch.equal(a.to_input_grid(x), x)
    assert float(x.std()) > 0.02  # speckle contrast, not a blank image
    assert abs(float(x.mean())) < 0.1  # relative contrast is zero-mean
