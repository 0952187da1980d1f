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
