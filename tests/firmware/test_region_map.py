"""Region map generation and the $readmemh file shipped with the RTL."""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.firmware.region_map import DEFAULT_HEX, read_hex, ring_segment_map, write_hex


def test_default_hex_matches_generator():
    assert np.array_equal(read_hex(DEFAULT_HEX, 64, 64), ring_segment_map())


def test_geometry():
    m = ring_segment_map()
    assert m[32, 32] == 0                   # centre: ring 0, segment 0
    assert m[32, 40] == 4                   # +x, r = 8: ring 1, segment 0
    assert m[40, 32] == 4 + 1               # +y (dx = 0, dy > 0): segment 1
    assert m[32, 24] == 4 + 2               # -x: segment 2
    assert m[24, 32] == 4 + 3               # -y: segment 3
    assert m[0, 0] == 31                    # corner: outside r_max -> NONE
    counts = np.bincount(m[m < 16], minlength=16)
    assert np.all(counts.reshape(4, 4).std(axis=1) <= 1)   # segments of a ring balanced


def test_round_trip_and_bad_input(tmp_path):
    m = ring_segment_map(16, 8, rings=2, segments=3)
    assert np.array_equal(read_hex(write_hex(m, tmp_path / "m.hex"), 16, 8), m)
    with pytest.raises(ValueError, match="rb"):
        ring_segment_map(rings=8, segments=4, rb=5)
    with pytest.raises(ValueError, match="entries"):
        read_hex(tmp_path / "m.hex", 16, 9)
