"""QONNX export/clean-up, quantiser inspection and the checks that run before any conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from beamloop.hls import qonnx_flow
from beamloop.hls.errors import NonPowerOfTwoScaleError, UnsupportedLayerError
from beamloop.hls.hls4ml_project import supported_operators


def _clean(net, tmp_path, channels_last=False):
    path = qonnx_flow.export_qonnx(net.module, net.input_shape, tmp_path / "m.onnx")
    return qonnx_flow.clean(path, channels_last=channels_last)


def test_mlp_graph_is_clean_and_gridded(small_mlp, tmp_path):
    model = _clean(small_mlp, tmp_path)
    ops = [n.op_type for n in model.graph.node]
    assert "Gemm" not in ops and "MatMul" in ops
    grid = qonnx_flow.input_grid(model)
    assert (grid.lo, grid.hi, grid.scale, grid.signed) == (-256, 255, 1.0, True)
    qonnx_flow.check_power_of_two(model)  # must not raise
    acts = [q for q in qonnx_flow.quant_specs(model) if not q.on_constant]
    assert all(q.rounding_mode == "FLOOR" for q in acts)


def test_cnn_input_is_channels_last_without_transpose(small_cnn, tmp_path):
    model = _clean(small_cnn, tmp_path, channels_last=True)
    assert model.get_tensor_shape(model.graph.input[0].name) == [1, 32, 32, 2]
    assert model.graph.node[0].op_type != "Transpose"
    assert qonnx_flow.input_grid(model).scale == 2.0**-5


def test_batched_qonnx_execution_equals_torch(small_cnn, tmp_path, rng):
    model = _clean(small_cnn, tmp_path, channels_last=True)
    grid = qonnx_flow.input_grid(model)
    x = grid.random((40, 2, 32, 32), rng)
    y_q = qonnx_flow.run_qonnx(model, x.transpose(0, 2, 3, 1), batch=16)
    with torch.no_grad():
        y_t = small_cnn.module(torch.from_numpy(x)).numpy()
    assert np.array_equal(y_q.reshape(y_t.shape), y_t)


def test_non_power_of_two_scale_is_refused_with_advice(npot_mlp, tmp_path):
    model = _clean(npot_mlp, tmp_path)
    with pytest.raises(NonPowerOfTwoScaleError) as err:
        qonnx_flow.check_power_of_two(model)
    msg = str(err.value)
    assert "power-of-two" in msg and "FixedPoint" in msg and "Quant_" in msg


def test_unmappable_layer_is_named(abs_mlp, tmp_path):
    model = _clean(abs_mlp, tmp_path)
    with pytest.raises(UnsupportedLayerError) as err:
        qonnx_flow.check_operators(model, supported_operators(), "hls4ml")
    assert "Abs" in str(err.value) and "Supported operators" in str(err.value)


def test_off_grid_values_are_detected():
    grid = qonnx_flow.InputGrid(scale=0.25, lo=0, hi=7, bits=3, signed=False)
    assert grid.on_grid(np.array([0.0, 0.25, 1.75]))
    assert not grid.on_grid(np.array([0.1]))
    assert not grid.on_grid(np.array([2.0]))  # 8 > hi
