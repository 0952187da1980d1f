"""The comparison and the vector generator behind every compile's bit-exact check."""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.hls.bitexact import compare, make_vectors
from beamloop.hls.errors import BitExactMismatchError
from beamloop.hls.qonnx_flow import InputGrid


def test_compare_counts_and_reports_mismatches():
    ref = np.arange(12, dtype=np.float64).reshape(6, 2) / 8
    other = ref.copy()
    other[4, 1] += 2.0**-12           # one LSB-level difference must be caught
    rep = compare("net", ref, {"a": ref.copy(), "b": other})
    assert rep.total == 6 and rep.matches == 5
    assert rep.per_impl == {"a": 6, "b": 5}
    assert rep.first_mismatches[0]["index"] == 4
    with pytest.raises(BitExactMismatchError) as err:
        rep.raise_if_mismatch()
    assert "5/6" in str(err.value) and "FLOOR" in str(err.value)


def test_all_equal_passes():
    ref = np.ones((3, 1))
    rep = compare("net", ref, {"x": ref})
    assert rep.ok and rep.summary().startswith("net: bit-exact 3/3")


def test_vectors_include_corners_realistic_and_random(rng):
    grid = InputGrid(scale=0.5, lo=-4, hi=3, bits=3, signed=True)
    real = np.full((2, 5), 1.5, dtype=np.float32)
    x = make_vectors(grid, (5,), 10, rng, realistic=real)
    assert x.shape == (10, 5)
    assert np.all(x[0] == -2.0) and np.all(x[1] == 1.5)    # grid min and max
    assert np.all(x[3:5] == 1.5)                           # realistic samples follow the corners
    assert grid.on_grid(x)
    with pytest.raises(ValueError):
        make_vectors(grid, (5,), 6, rng, realistic=np.full((3, 5), 0.3, dtype=np.float32))
