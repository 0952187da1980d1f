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
    assert a.input_shape == (216,) and t.input_shape == (32,)
    assert not a.module.training and not t.module.training
    assert a.meta["axes"] == ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]
    assert a.meta["delta_c10_m"] > 0 and len(a.meta["label_scale_m"]) == 5
    assert len(a.meta["feature_mean"]) == len(a.meta["feature_std"]) == 216
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
    x = a.to_input_grid(rng.normal(0, 1.5, (16, 216)))
    with torch.no_grad():
        y = a.module(x).numpy()
    model = load_clean(a.export_qonnx(tmp_path / "alignment.onnx"))
    np.testing.assert_array_equal(run_qonnx(model, x.numpy()), y)


def test_estimators_agree_and_report_metres(tmp_path):
    from beamloop.controller.estimation.inference import QonnxEstimator, TorchEstimator

    a = load("alignment")
    path = a.export_qonnx(tmp_path / "alignment.onnx")
    rng = np.random.default_rng(2)
    pairs = rng.poisson(200, (3, 2, 128, 128)).astype(float)
    m1, s1 = TorchEstimator().predict(pairs)
    m2, s2 = QonnxEstimator(path).predict(pairs)
    assert m1.shape == (3, 5) and np.all(np.isfinite(m1)) and np.all(s1 > 0)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(s1, s2)
    # metres: estimates lie within a few label scales, never nm-as-number
    assert np.all(np.abs(m1) < 10 * np.array(a.meta["label_scale_m"]))
    with pytest.raises(ValueError, match="NaN"):
        TorchEstimator().predict(np.full((1, 2, 128, 128), np.nan))


def test_alignment_sample_inputs_from_twin_on_grid():
    a = load("alignment")
    x = a.sample_inputs(4, np.random.default_rng(3))
    assert x.shape == (4, 216)
    codes = x / 2.0**-5
    assert torch.equal(codes, torch.round(codes)) and codes.min() >= -128 and codes.max() <= 127
    assert torch.equal(a.to_input_grid(x), x)
    # standardised with the training statistics: order-one values, not all clamped
    assert 0.2 < float(x.std()) < 3.0 and abs(float(x.mean())) < 1.0


def _twin_pair(aberrations: dict, delta: float, seed: int = 0):
    """A Ronchigram pair at C10 -/+ delta on the bench twin's instrument (the networks' target)."""
    from beamloop.controller.bench.align import twin_ronchigram_options
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    sim = RonchigramSimulator(RonchigramConfig(**{**twin_ronchigram_options(), "on_undersampled": "warn"}), seed=seed)
    rng = np.random.default_rng(seed)
    imgs = [sim.simulate(Aberrations.from_dict({**aberrations, "C10": aberrations["C10"] + s * delta}), rng=rng)
            for s in (-1, 1)]
    return np.clip(np.rint(np.stack(imgs)), 0, 65535).astype(np.uint16)  # camera counts, as the twin delivers


@pytest.mark.skipif(not (WEIGHTS_DIR / "alignment_fine.pt").exists(), reason="no committed fine weights")
def test_coarse_to_fine_estimates_on_twin_pairs():
    """The committed networks on fresh twin pairs: far from alignment the coarse one answers, near
    it the fine one, and both land within a few times their held-out error."""
    from beamloop.controller.estimation.inference import CoarseToFineEstimator, default_estimator

    est = default_estimator()
    assert isinstance(est, CoarseToFineEstimator)
    near = {"C10": 12e-9, "C12.x": -10e-9, "C12.y": 8e-9, "C21.x": 300e-9, "C21.y": -200e-9}
    far = {"C10": -120e-9, "C12.x": 90e-9, "C12.y": -60e-9, "C21.x": 1.5e-6, "C21.y": 1.0e-6}
    pairs = np.stack([_twin_pair(near, est.delta_c10, 1), _twin_pair(far, est.delta_c10, 2)])
    mean, sigma = est.predict(pairs)
    assert est.last_used_fine.tolist() == [True, False]
    truth = np.array([[near[a] for a in est.axes], [far[a] for a in est.axes]])
    err = np.abs(mean - truth)
    assert np.all(err[0, :3] < 25e-9) and np.all(err[0, 3:] < 600e-9)   # fine: held-out ~6-9 nm / ~130 nm
    assert np.all(err[1, :3] < 80e-9) and np.all(err[1, 3:] < 2e-6)     # coarse: held-out ~35 nm / ~0.6 um
    assert np.all(sigma > 0)
