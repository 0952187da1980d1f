"""The token-timing latency estimate on hand-checkable layer tables."""

from __future__ import annotations

import pytest

from beamloop.hls.latency import estimate, mac_depth


def _layer(name, cls, **kw):
    base = {"name": name, "class": cls, "reuse_factor": 1, "out_shape": None}
    base.update(kw)
    return base


def _conv_net(rf_conv: int):
    return [
        _layer("in", "Input", out_shape=[6, 6, 1]),
        _layer("conv", "Conv2D", reuse_factor=rf_conv, filt_height=3, filt_width=3, n_chan=1,
               stride_height=1, stride_width=1),
        _layer("dense", "Dense", n_in=16, reuse_factor=1),
    ]


def test_mac_depth():
    assert mac_depth(1) == 3
    assert mac_depth(16) == 3 + 2          # 4 adder levels, two per cycle
    # 4 products per cycle (2 adder levels = 1 cycle), 3 more cycles of products, 1 accumulator cycle
    assert mac_depth(16, reuse_factor=4) == 3 + 1 + 3 + 1
    # one product per cycle into the accumulator (the alignment MLP's first layer, r = n_in = 216)
    assert mac_depth(216, reuse_factor=216) == 3 + 0 + 215 + 1
    assert mac_depth(216, reuse_factor=54) == 3 + 1 + 53 + 1


def test_stream_conv_then_dense_by_hand():
    est = estimate(_conv_net(1), "io_stream", 200.0)
    # last window (4,4) completes with input pixel 35 at cycle 35; conv depth mac_depth(9) = 5 -> 40;
    # dense waits for it and adds mac_depth(16) = 5 -> 45; latency counts cycles -> 46.
    assert est.cycles == 35 + mac_depth(9) + mac_depth(16) + 1
    assert est.interval_cycles == 36
    assert est.ns == est.cycles * 5.0


def test_reuse_factor_slows_the_stream():
    fast = estimate(_conv_net(1), "io_stream", 200.0)
    slow = estimate(_conv_net(3), "io_stream", 200.0)
    assert slow.interval_cycles == 3 * 36
    assert slow.cycles > fast.cycles + 2 * 30


def test_parallel_mlp():
    layers = [_layer("in", "Input", out_shape=[32]), _layer("fc1", "Dense", n_in=32),
              _layer("relu", "Activation"), _layer("fc2", "Dense", n_in=16)]
    est = estimate(layers, "io_parallel", 200.0)
    assert est.cycles == mac_depth(32) + mac_depth(16) + 1
    assert est.interval_cycles == 1


def _alignment_mlp():
    """The alignment MLP as hls4ml converts it (216 -> 64 -> 32 -> 10, reuse factor = n_in)."""
    return [_layer("global_in", "Input", out_shape=[216]), _layer("Quant_0_act", "Activation"),
            _layer("Dense_MatMul_0", "Dense", n_in=216, reuse_factor=216), _layer("Relu_0", "Activation"),
            _layer("Dense_MatMul_1", "Dense", n_in=64, reuse_factor=64), _layer("Relu_1", "Activation"),
            _layer("Dense_MatMul_2", "Dense", n_in=32, reuse_factor=32)]


def test_parallel_dataflow_mlp_by_hand():
    """Resource strategy: hls4ml's dataflow top, every layer a process; element-wise ones cost a cycle."""
    est = estimate(_alignment_mlp(), "io_parallel", 200.0, pipeline_style="dataflow")
    # quantiser 1, dense 3+215+1 = 219, relu 1, dense 3+63+1 = 67, relu 1, dense 3+31+1 = 35 -> last out
    # at cycle 324, latency 325 cycles; a process restarts after its call: interval = slowest depth.
    assert est.cycles == 1 + 219 + 1 + 67 + 1 + 35 + 1 == 325
    assert est.interval_cycles == 219
    assert est.ns == 1625.0 and est.pipeline_style == "dataflow"
    assert [r["last_out_cycle"] for r in est.per_layer] == [1, 220, 221, 288, 289, 324]


def test_parallel_pipeline_style_folds_element_wise_layers():
    est = estimate(_alignment_mlp(), "io_parallel", 200.0, pipeline_style="pipeline")
    assert est.cycles == 219 + 67 + 35 + 1
    assert est.interval_cycles == 216               # one pipeline, II = the largest reuse factor
    assert estimate(_alignment_mlp(), "io_parallel", 200.0).pipeline_style == "pipeline"  # io_parallel default
    with pytest.raises(ValueError, match="pipeline_style"):
        estimate(_alignment_mlp(), "io_parallel", 200.0, pipeline_style="inline")
