"""Beam-quality metrics against closed forms."""

from __future__ import annotations

import math

import pytest

from beamloop.sim.aberrations import Aberrations
from beamloop.sim.metrics import (aberration_distance, order_weights, pi4_aperture, probe_d50, probe_metrics,
                                  rayleigh_resolution, strehl_ratio)
from beamloop.sim.optics import electron_wavelength

LAM = electron_wavelength(300e3)
ALPHA = 30e-3


def test_distance_scales_each_order_as_in_chi():
    w = order_weights(LAM, ALPHA)
    assert math.isclose(w[0], 2 * math.pi / LAM * ALPHA**2 / 2)
    assert math.isclose(w[Aberrations.NAMES.index("C30")], 2 * math.pi / LAM * ALPHA**4 / 4)
    assert math.isclose(w[Aberrations.NAMES.index("C56.y")], 2 * math.pi / LAM * ALPHA**6 / 6)
    ab = Aberrations(C10=3e-9, **{"C23.y": 40e-9})
    expected = math.hypot(3e-9 * w[0], 40e-9 * w[Aberrations.NAMES.index("C23.y")])
    assert math.isclose(aberration_distance(ab, wavelength_m=LAM, theta_ref_rad=ALPHA), expected)
    goal = Aberrations(C10=3e-9)
    d = aberration_distance([ab, goal], goal, wavelength_m=LAM, theta_ref_rad=ALPHA)
    assert d.shape == (2,) and d[1] == 0.0
    assert math.isclose(aberration_distance(ab, wavelength_m=LAM, theta_ref_rad=ALPHA, names=["C1"]), 3e-9 * w[0])


def test_pi4_aperture_closed_forms():
    c1 = 10e-9                                         # pi C1 a^2 / lambda = pi/4
    assert math.isclose(pi4_aperture(Aberrations(C10=c1), LAM), math.sqrt(LAM / (4 * c1)), rel_tol=0.02)
    c3 = 1e-6                                          # (2 pi / lambda) C3 a^4 / 4 = pi/4
    a3 = (LAM / (2 * c3)) ** 0.25
    assert math.isclose(pi4_aperture(Aberrations(C30=c3), LAM), a3, rel_tol=0.02)
    # balancing C1 against C3 enlarges the pi/4 aperture (Scherzer-like)
    assert pi4_aperture(Aberrations(C30=c3, C10=-0.5 * c3 * a3**2), LAM) > 1.1 * a3
    assert math.isclose(rayleigh_resolution(0.02, LAM), 0.61 * LAM / 0.02)


def test_strehl_marechal_and_monotonic():
    assert math.isclose(strehl_ratio(Aberrations(), LAM, ALPHA), 1.0, rel_tol=1e-9)
    # defocus phase a rho^2 over the disc: variance a^2/12 -> Strehl ~ exp(-a^2/12) (Marechal)
    a = 0.6
    c1 = a * LAM / (math.pi * ALPHA**2)
    assert math.isclose(strehl_ratio(Aberrations(C10=c1), LAM, ALPHA), math.exp(-a * a / 12), rel_tol=0.03)
    s = [strehl_ratio(Aberrations(C10=c), LAM, ALPHA) for c in (0.5e-9, 1e-9, 2e-9)]
    assert s[0] > s[1] > s[2]


def test_d50_airy_and_defocus():
    d0 = probe_d50(Aberrations(), LAM, ALPHA)
    assert math.isclose(d0, 0.5145 * LAM / ALPHA, rel_tol=0.05)      # Airy: 50 % inside v = 1.616
    d = probe_d50(Aberrations(C10=50e-9), LAM, ALPHA)
    assert 0.5 * 2 * 50e-9 * ALPHA < d < 2 * 50e-9 * ALPHA            # geometric disc of radius C1 alpha


def test_probe_metrics_dict():
    m = probe_metrics(Aberrations(C10=2e-9), 300e3, ALPHA)
    assert set(m) >= {"pi4_aperture_rad", "rayleigh_resolution_angstrom", "strehl", "d50_m", "distance_rad"}
    assert math.isclose(m["rayleigh_resolution_angstrom"], m["rayleigh_resolution_m"] * 1e10)
    with pytest.raises(ValueError, match="energy_eV"):
        probe_metrics(Aberrations(), -1.0, ALPHA)
