"""Fourier-ellipse cost on Ronchigrams from the wave-optical simulator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from beamloop.controller.estimation.cost import ellipse_cost, fourier_ellipse
from beamloop.sim.aberrations import Aberrations
from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

GAIN = RonchigramConfig().detector_gain


@pytest.fixture(scope="module")
def sim():
    return RonchigramSimulator(RonchigramConfig(on_undersampled="warn"), seed=0)


def frame(sim, seed=0, **ab):
    return sim.simulate(Aberrations.from_dict(ab), rng=np.random.default_rng(seed))


def test_cost_grows_away_from_focus(sim):
    costs = [fourier_ellipse(frame(sim, C10=c1), GAIN).cost for c1 in (0.0, 20e-9, 50e-9, 100e-9)]
    assert all(b > a for a, b in zip(costs, costs[1:])), costs
    # symmetric in the sign of defocus (within 15 %)
    assert fourier_ellipse(frame(sim, C10=-50e-9), GAIN).cost == pytest.approx(costs[2], rel=0.15)


def test_astigmatism_makes_an_ellipse_along_its_axis(sim):
    round_ = fourier_ellipse(frame(sim, C10=40e-9), GAIN)
    astig_x = fourier_ellipse(frame(sim, C10=40e-9, **{"C12.x": 30e-9}), GAIN)
    astig_y = fourier_ellipse(frame(sim, C10=40e-9, **{"C12.y": 30e-9}), GAIN)
    assert round_.ellipticity < 0.15
    assert astig_x.ellipticity > 0.4 and astig_y.ellipticity > 0.4
    # A1.x stretches along an image axis, A1.y along a diagonal: major axes 45 degrees apart
    d = abs(abs(astig_x.angle - astig_y.angle) - np.pi / 4)
    assert min(d, abs(d - np.pi / 2)) < 0.3


def test_noise_changes_cost_little(sim):
    c = [fourier_ellipse(frame(sim, seed=s, C10=30e-9), GAIN).cost for s in range(3)]
    assert np.std(c) < 0.05 * np.mean(c)


def test_far_from_focus_is_unresolved_not_a_false_minimum(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        far = fourier_ellipse(frame(sim, C10=900e-9), GAIN)
    near = fourier_ellipse(frame(sim, C10=10e-9), GAIN)
    assert not far.resolved and near.resolved
    assert far.cost > 3 * near.cost


def test_bad_images_are_refused_by_name():
    with pytest.raises(ValueError, match="image"):
        ellipse_cost(np.full((64, 64), np.nan))
    with pytest.raises(ValueError, match="image"):
        ellipse_cost(np.ones((64, 64)))
    with pytest.raises(ValueError, match="image"):
        ellipse_cost(np.ones(64))
    with pytest.raises(ValueError, match="counts_per_electron"):
        fourier_ellipse(np.random.default_rng(0).poisson(10, (64, 64)), counts_per_electron=0)


# -- the shadow cost (works on textures with and without a length scale) ---------------------

from beamloop.controller.estimation.cost import relative_gradient, shadow_cost  # noqa: E402


def test_shadow_cost_grows_with_defocus_and_astigmatism_on_the_twin(sim):
    c1 = [shadow_cost(frame(sim, C10=v), GAIN).cost for v in (0.0, 20e-9, 50e-9, 100e-9)]
    assert all(b > a for a, b in zip(c1, c1[1:])), c1
    a1 = [shadow_cost(frame(sim, C10=0.0, **{"C12.x": v}), GAIN).cost for v in (0.0, 20e-9, 50e-9)]
    assert all(b > a for a, b in zip(a1, a1[1:])), a1


def test_relative_gradient_tracks_a_scale_free_zoom():
    """A geometric shadow of a texture with no length scale (a blocky, usim-like sample): the
    spectrum's width hardly changes with the zoom, the relative gradient grows with it."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    sample = 100.0 + 5.0 * rng.integers(0, 2, (64, 64)).astype(float)  # blocks, sharp edges
    yy, xx = np.mgrid[0:128, 0:128] - 64.0
    widths, grads = [], []
    for m in (0.01, 0.03, 0.08):  # sample pixels per Ronchigram pixel, ~ |M|
        img = ndimage.map_coordinates(sample, [32 + m * yy, 32 + m * xx], order=1) * 1e4
        img = rng.poisson(img).astype(float)
        s = shadow_cost(img, 1.0)
        widths.append(s.width)
        grads.append(s.gradient)
    assert grads[0] < grads[1] < grads[2] and grads[2] > 2.5 * grads[0], grads
    assert max(widths) < 1.5 * min(widths), widths


def test_shadow_cost_refuses_bad_input():
    img = np.random.default_rng(0).poisson(100, (64, 64)).astype(float)
    with pytest.raises(ValueError, match="power"):
        shadow_cost(img, 1.0, power=-1.0)
    with pytest.raises(ValueError, match="image"):
        relative_gradient(np.ones((64, 64)))


def test_usim_width_is_flat_and_gradient_is_not():
    """Measured on nionswift-usim (an instrument under test): from 20 to 200 nm of defocus the
    Fourier-ellipse width changes by < 30 %, the relative gradient by > 3x."""
    pytest.importorskip("nion.usim_device", reason="nionswift-usim not installed")
    from beamloop.controller.instruments.nion import UsimSession
    from beamloop.controller.instruments.profile import load_profile

    prof = load_profile("usim")
    out = {}
    with UsimSession(noise=True) as s:
        async def go():
            b = s.instrument(prof)
            await b.connect()
            try:
                for c10 in (20e-9, 200e-9):
                    await b.set({"C10": c10, "C12.x": 1e-9, "C12.y": 0.0})
                    out[c10] = shadow_cost(np.asarray((await b.acquire()).image, float),
                                           prof.camera.counts_per_electron)
            finally:
                await b.close()
        import asyncio

        asyncio.run(go())
    near, far = out[20e-9], out[200e-9]
    assert abs(far.width / near.width - 1.0) < 0.3, (near.width, far.width)
    assert far.gradient > 3 * near.gradient, (near.gradient, far.gradient)


def test_blind_direction_of_a_single_ramp():
    from beamloop.controller.estimation.cost import blind_direction, gradient_anisotropy

    # a ramp along x (columns) sees C1 + A1x and A1y; C1 - A1x is invisible
    n = blind_direction(0.0, ["C10", "C12.x", "C12.y"])
    assert abs(abs(n @ np.array([1, -1, 0]) / np.sqrt(2)) - 1) < 1e-9
    n = blind_direction(np.pi / 2, ["C10", "C12.x", "C12.y"])
    assert abs(abs(n @ np.array([1, 1, 0]) / np.sqrt(2)) - 1) < 1e-9
    assert blind_direction(0.0, ["C10", "C21.x"]) is None
    ramp = 1000.0 + np.tile(np.arange(64.0), (64, 1))  # grows along columns
    phi, ratio = gradient_anisotropy(ramp)
    assert min(abs(phi), abs(abs(phi) - np.pi)) < 0.05 and ratio < 0.05
