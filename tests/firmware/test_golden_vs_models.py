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
