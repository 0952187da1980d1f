"""Quantiser grids and QONNX export: bit-exact against PyTorch on inputs on the input grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from beamloop.models.alignment_net import INPUT_SCALE, AlignmentNet
from beamloop.models.export import export_qonnx, load_clean, run_qonnx
from beamloop.models.quant import const_input_quant
from beamloop.models.trigger_net import TriggerNet


def _calibrate(net, gen, steps=4):
    net.train()
    with torch.no_grad():
        for _ in range(steps):
            net(gen(16))
    net.eval()
    return net


def test_const_input_quant_grid_floor_and_clamp():
    from brevitas.nn import QuantIdentity

    q = QuantIdentity(act_quant=const_input_quant(9, 1.0, signed=True), return_quant_tensor=True).eval()
    t = q(torch.tensor([-300.0, -128.4, -0.5, 0.7, 127.99, 255.2, 300.0]))
    assert float(t.scale) == 1.0 and int(t.bit_width) == 9
    assert t.value.tolist() == [-256.0, -129.0, -1.0, 0.0, 127.0, 255.0, 255.0]


def test_const_input_quant_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="scale"):
        const_input_quant(8, 0.3, signed=False)
    with pytest.raises(ValueError, match="bit_width"):
        const_input_quant(1, 1.0, signed=False)


def test_alignment_input_grid_is_signed_8bit_pow2():
    net = AlignmentNet().eval()
    x = torch.rand(16, 216) * 12 - 6
    g = net.to_input_grid(x)
    codes = g / INPUT_SCALE
    assert INPUT_SCALE == 2.0**-5
    assert torch.equal(codes, torch.round(codes))
    assert codes.min() == -128 and codes.max() == 127  # clamped at both ends
    inside = (x >= -4) & (x < 127 * INPUT_SCALE)
    assert torch.all(g[inside] <= x[inside]) and torch.all(x[inside] - g[inside] < INPUT_SCALE)  # FLOOR
    # already on the grid -> unchanged (idempotent)
    assert torch.equal(net.to_input_grid(g), g)


def test_all_scales_are_powers_of_two():
    net = _calibrate(AlignmentNet(), lambda n: torch.randn(n, 216))
    for m in net.modules():
        if hasattr(m, "quant_weight"):
            s = float(m.quant_weight().scale)
            assert np.log2(s) == np.round(np.log2(s)), s
        if hasattr(m, "act_quant") and hasattr(m, "quant_act_scale"):
            try:
                s = float(m.quant_act_scale())
            except Exception:
                continue
            assert np.log2(s) == np.round(np.log2(s)), s


@pytest.mark.parametrize("channels_last", [False, True])
def test_trigger_qonnx_bit_exact(tmp_path, channels_last):
    torch.manual_seed(1)
    net = _calibrate(TriggerNet(), lambda n: torch.randint(-128, 256, (n, 32)).float())
    x = net.to_input_grid(torch.randint(-128, 256, (48, 32)).float())
    with torch.no_grad():
        y = net(x).numpy()
    model = load_clean(export_qonnx(net, (32,), tmp_path / "t.onnx"), channels_last=channels_last)
    yq = run_qonnx(model, x.numpy())
    assert yq.shape == y.shape
    np.testing.assert_array_equal(yq, y)
    assert np.std(y) > 0  # a non-degenerate comparison


def test_alignment_qonnx_bit_exact(tmp_path):
    torch.manual_seed(2)
    net = _calibrate(AlignmentNet(), lambda n: torch.randn(n, 216))
    x = net.to_input_grid(torch.randn(12, 216))
    with torch.no_grad():
        y = net(x).numpy()
    model = load_clean(export_qonnx(net, (216,), tmp_path / "a.onnx"))
    yq = run_qonnx(model, x.numpy())
    np.testing.assert_array_equal(yq, y)
    ops = {n.op_type for n in model.graph.node}
    assert {"Quant", "MatMul"} <= ops and "Gemm" not in ops and "Conv" not in ops
    floors = [n for n in model.graph.node if n.op_type == "Quant"
              and any(a.name == "rounding_mode" and a.s == b"FLOOR" for a in n.attribute)]
    assert len(floors) == 3  # input + 2 ReLU activations


def test_alignment_channels_last_clean_up_runs(tmp_path):
    net = _calibrate(AlignmentNet(), lambda n: torch.randn(n, 216))
    model = load_clean(export_qonnx(net, (216,), tmp_path / "a.onnx"), channels_last=True)
    x = net.to_input_grid(torch.randn(3, 216))
    with torch.no_grad():
        y = net(x).numpy()
    # the channels-last clean-up is a no-op for an MLP and must not break it
    np.testing.assert_array_equal(run_qonnx(model, x.numpy()), y)
