"""The cocotb golden model of the trigger features agrees with the training-side
implementation (beamloop.models.trigger_features): one definition, checked twice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from beamloop.firmware.region_map import ring_segment_map

_spec = importlib.util.spec_from_file_location(
    "golden_trigger", Path(__file__).parents[2] / "hil_tests" / "firmware" / "golden_trigger.py")
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)


def test_features_and_inputs_agree():
    tf = pytest.importorskip("beamloop.models.trigger_features")
    rng = np.random.default_rng(1)
    rm = ring_segment_map()
    prev_g = [0] * 16
    prev_m = None
    for i in range(4):
        f = rng.poisson(rng.uniform(1, 300), (64, 64)).astype(np.int64)
        if i == 2:
            f[:8, :8] = 65535
        S, T, MX, MY = G.features(f, rm)
        rf = tf.raw_features(f, rm)
        assert list(rf.S) == S and (rf.T, rf.MX, rf.MY) == (T, MX, MY)
        x = tf.network_input(rf.S, prev_m, 4, 3)
        assert list(x) == G.net_input(S, prev_g, 4, 3)
        prev_g, prev_m = S, rf.S


def test_v2_change_energy_inputs_agree():
    """lq, E[k] and the baseline inputs: numpy reference (training) = pixel-loop golden model (cocotb)."""
    tf = pytest.importorskip("beamloop.models.trigger_features")
    vals = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 255, 256, 1000, 2**20 + 12345, 2**28, 2**32 - 1]
    assert list(tf.lq(np.array(vals))) == [G.lq(v) for v in vals]
    assert G.lq(1) == 0 and G.lq(2) == 8 and G.lq(3) == 12 and G.lq(2**32 - 1) == 255
    rng = np.random.default_rng(2)
    rm = ring_segment_map()
    frames = np.stack([rng.poisson(rng.uniform(1, 3000), (64, 64)) for _ in range(6)]).astype(np.int64)
    frames[3, 28:36, 28:36] = 65535                        # saturated block in the centre regions
    E = tf.change_energy_batch(frames, rm)
    x = tf.stream_inputs_v2(E)
    pre = G.NetInputV2()
    for t in range(len(frames)):
        Eg = G.energy(frames[t], frames[t - 1] if t else None, rm)
        assert list(E[t]) == Eg
        assert list(x[t]) == pre(Eg, t > 0)
    assert not x[0].any() and not x[1, 16:].any()      # no reference; first baseline = E itself
    assert x[3, 16:].max() > 40                          # ... shows as a jump against the baseline


def test_v3_two_frames_back_inputs_agree():
    """v3: E2 against two frames back and the [rb, rb2] inputs - numpy reference = pixel-loop golden
    model, and the watch loop's frame-by-frame NumpyTrigger inputs = both."""
    tf = pytest.importorskip("beamloop.models.trigger_features")
    rng = np.random.default_rng(3)
    rm = ring_segment_map()
    frames = np.stack([rng.poisson(rng.uniform(1, 3000), (64, 64)) for _ in range(7)]).astype(np.int64)
    frames[4, 28:36, 28:36] = 65535
    E, E2 = tf.change_energy_batch(frames, rm), tf.change_energy_batch(frames, rm, lag=2)
    x = tf.stream_inputs_v3(E, E2)
    assert (x == tf.stream_inputs_frames(frames, rm, 3)).all()
    pre = G.NetInputV3()
    for t in range(len(frames)):
        E2g = G.energy(frames[t], frames[t - 2] if t > 1 else None, rm)
        assert list(E2[t]) == E2g
        assert list(x[t]) == pre(G.energy(frames[t], frames[t - 1] if t else None, rm), t > 0, E2g, t > 1)
    assert not x[:2].any() and not x[2, 16:].any()     # first valid E / E2: baseline = itself
    assert x[4, :16].max() > 20 and x[4, 16:].max() > 20 and x[6, 16:].max() > 10   # E2: frames 4 and 6 (two back)
    with pytest.raises(ValueError, match="version"):
        tf.stream_inputs_frames(frames, rm, 4)
