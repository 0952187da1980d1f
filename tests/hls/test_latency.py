"""The token-timing latency estimate on hand-checkable layer tables."""

from __future__ import annotations

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
    assert mac_depth(16, reuse_factor=4) == 8


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
