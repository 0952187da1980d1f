"""Through-focus pair cost on synthetic geometric shadow images (pure numpy, no simulator)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from beamloop.controller.estimation.pair_cost import PairFrameError, knob_step, pair_mismatch, point_reflect

N_PX = 128
D = 400e-9          # pair offset (m)
THETA = 0.05        # half-angle of the frame (rad)
PITCH = 1e-9        # sample pixel (m)


def _sample(seed: int = 0) -> np.ndarray:
    """Blocky texture with edges in many directions: random discs and rectangles, lightly blurred."""
    rng = np.random.default_rng(seed)
    s = np.ones((400, 400))
    yy, xx = np.mgrid[:400, :400]
    for _ in range(1500):
        cy, cx, r = rng.uniform(0, 400), rng.uniform(0, 400), rng.uniform(2, 8)
        s -= 0.2 * rng.uniform(0.3, 1) * (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)
    return ndimage.gaussian_filter(s, 1.0)


SAMPLE = _sample()


def shadow(c1: float, a1x: float, a1y: float, noise: float = 0.0, seed: int = 1) -> np.ndarray:
    """I(theta) = S(x0 + M theta), M = [[C1 + A1x, A1y], [A1y, C1 - A1x]]; image[row = y, col = x]."""
    t = np.linspace(-THETA, THETA, N_PX)
    tx, ty = np.meshgrid(t, t)
    x = (c1 + a1x) * tx + a1y * ty
    y = a1y * tx + (c1 - a1x) * ty
    img = ndimage.map_coordinates(SAMPLE, [200 + y / PITCH, 200 + x / PITCH], order=1) * 1e4
    if noise:
        img = img + np.random.default_rng(seed).normal(0, noise, img.shape)
    return img


def pair(n: tuple[float, float, float], **kw):
    c1, a1x, a1y = n
    return pair_mismatch(shadow(c1 + D, a1x, a1y, **kw), shadow(c1 - D, a1x, a1y, **kw), D)


def test_point_reflect_is_the_inverted_angle():
    img = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(point_reflect(img), img[::-1, ::-1])


def test_pair_agrees_at_focus_and_measures_the_residual_in_metres():
    assert pair((0, 0, 0)).cost_m < 0.2e-9
    for n in [(5e-9, 0, 0), (0, 5e-9, 0), (0, 0, -5e-9), (3e-9, -4e-9, 2e-9)]:
        f = pair(n)
        assert f.cost_m == pytest.approx(np.linalg.norm(n), rel=0.25), (n, f)
        assert np.allclose(f.vector_m, n, atol=1e-9), (n, f.vector_m)


def test_no_blind_direction():
    """C1 - A1x (what one near-focus ramp cannot see) is measured like any other direction."""
    f = pair((6e-9, -6e-9, 0))
    assert f.cost_m > 5e-9
    assert f.vector_m[0] == pytest.approx(6e-9, abs=1.5e-9) and f.vector_m[1] == pytest.approx(-6e-9, abs=1.5e-9)


def test_cost_grows_with_the_residual_and_tolerates_noise():
    costs = [pair((r, 0.5 * r, -0.3 * r), noise=30.0).cost_m for r in (0, 10e-9, 30e-9, 100e-9)]
    assert costs[0] < 1e-9
    assert costs[0] < costs[1] < costs[2] < costs[3]


def test_reversed_contrast_is_absorbed():
    """Weak-phase contrast changes sign with defocus: the fitted gain is negative, the cost unchanged."""
    over, under = shadow(D, 0, 0), shadow(-D, 0, 0)
    f = pair_mismatch(over, 2 * under.mean() - under, D)
    assert f.gain < 0 and f.cost_m < 0.5e-9


def test_knob_step_mapping_and_errors():
    assert np.allclose(knob_step((1.0, 2.0, 3.0), ["C10", "C12.x", "C12.y"], "yx"), [-1, -2, -3])
    assert np.allclose(knob_step((1.0, 2.0, 3.0), ["C10", "C12.x", "C12.y"], "xy"), [-1, 2, -3])
    assert np.allclose(knob_step((1.0, 2.0, 3.0), ["C21.x"], "yx"), [0.0])
    with pytest.raises(ValueError, match="camera_axes"):
        knob_step((0, 0, 0), ["C10"], "zz")
    with pytest.raises(PairFrameError, match="shape"):
        pair_mismatch(shadow(D, 0, 0), shadow(-D, 0, 0)[:64], D)
    with pytest.raises(PairFrameError, match="defocus_m"):
        pair_mismatch(shadow(D, 0, 0), shadow(-D, 0, 0), -1.0)
