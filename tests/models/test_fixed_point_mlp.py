"""The integer form of the alignment networks equals Brevitas bit for bit and fails loudly on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from beamloop.models.fixed_point_mlp import FixedPointFormatError, export_npz, from_module, load_npz, sha256
from beamloop.models.registry import load
from beamloop.models.weight_files import integer_path, read_meta


@pytest.mark.parametrize("name", ["alignment", "alignment_fine"])
def test_integer_form_equals_brevitas_bit_for_bit(name):
    m = load(name).module
    mlp = load_npz(integer_path(name), read_meta(name).get("integer_sha256"))
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.5, (3000, m.n_features)).astype(np.float32)
    x[:10] = 1e3   # beyond the input grid: both clamp
    x[10:20] = -1e3
    with torch.no_grad():
        y_torch = m(torch.from_numpy(x)).double().numpy()
    assert np.array_equal(mlp(x), y_torch)


def test_untrained_net_round_trips_and_detects_tampering(tmp_path):
    from beamloop.models.alignment_net import AlignmentNet

    torch.manual_seed(3)
    net = AlignmentNet(hidden=(16, 8), n_features=24).eval()
    p = export_npz(net, tmp_path / "a.int.npz")
    mlp = load_npz(p, sha256(p))
    x = np.random.default_rng(0).normal(size=(500, 24)).astype(np.float32)
    with torch.no_grad():
        assert np.array_equal(mlp(x), net(torch.from_numpy(x)).double().numpy())
    assert mlp.out_frac == from_module(net).out_frac
    with pytest.raises(FixedPointFormatError, match="SHA-256"):
        load_npz(p, "0" * 64)
    bad = tmp_path / "bad.int.npz"
    bad.write_bytes(p.read_bytes()[:200])
    with pytest.raises(FixedPointFormatError, match="bad.int.npz"):
        load_npz(bad)
    with pytest.raises(ValueError, match=r"expected \(N, 24\)"):
        mlp(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        mlp(np.full((1, 24), np.nan))


def test_integer_estimator_equals_torch_estimator():
    from beamloop.controller.estimation.inference import default_estimator

    est_i, est_t = default_estimator(backend="integer"), default_estimator(backend="torch")
    feats = np.random.default_rng(2).normal(size=(200, len(est_i.feature_mean))) * est_i.feature_std + est_i.feature_mean
    mi, si = est_i.predict_features(feats)
    mt, st = est_t.predict_features(feats)
    assert np.array_equal(mi, mt) and np.array_equal(si, st)
    with pytest.raises(ValueError, match="valid: integer, torch"):
        default_estimator(backend="onnx")
