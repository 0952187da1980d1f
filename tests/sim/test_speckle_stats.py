"""Speckle statistics (sim.speckle_stats) and the a-C short-range order (sim.samples)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.sim.speckle_stats import speckle_stats, speckle_table


def _blurred_noise(n: int, sigma_px: float, contrast: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, n))
    f0 = np.fft.fftfreq(n)[:, None]
    f1 = np.fft.fftfreq(n)[None, :]
    g = np.real(np.fft.ifft2(np.fft.fft2(w) * np.exp(-2 * (math.pi * sigma_px) ** 2 * (f0**2 + f1**2))))
    return 100.0 * (1 + contrast * g / g.std())


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_halfwidth_of_gaussian_texture(sigma):
    # autocorrelation of Gaussian-filtered white noise: exp(-r^2 / (4 sigma^2)) -> HWHM 2 sigma sqrt(ln 2)
    img = _blurred_noise(256, sigma, 0.05)
    st = speckle_stats(img, 1e-3, max_angle_rad=100e-3, detrend_sigma_px=0)
    assert st["halfwidth_px"] == pytest.approx(2 * sigma * math.sqrt(math.log(2)), rel=0.12)
    assert st["contrast"] == pytest.approx(0.05, rel=0.1)
    assert st["acf"][0] == pytest.approx(1.0)


def test_white_noise_contrast_and_detrend():
    rng = np.random.default_rng(1)
    n = 128
    x = (np.arange(n) - n // 2)[:, None] * np.ones((1, n))
    envelope = 100 + 0.5 * x                               # a slow ramp: not speckle
    img = envelope * (1 + 0.03 * rng.standard_normal((n, n)))
    st = speckle_stats(img, 1e-3, max_angle_rad=40e-3, detrend_sigma_px=6.0)
    assert st["halfwidth_px"] < 0.6
    assert st["contrast"] == pytest.approx(0.03, rel=0.15)
    raw = speckle_stats(img, 1e-3, max_angle_rad=40e-3, detrend_sigma_px=0)
    assert raw["contrast"] > 0.08                          # the ramp counts without detrending
    tab = speckle_table(np.stack([img, img[::-1]]), 1e-3, max_angle_rad=40e-3)
    assert tab["n"] == 2 and tab["contrast"] == pytest.approx(st["contrast"], rel=0.05)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="2-D"):
        speckle_stats(np.ones(10), 1e-3)
    with pytest.raises(ValueError, match="only"):
        speckle_stats(np.ones((64, 64)), 1e-3, max_angle_rad=1e-3)
    with pytest.raises(ValueError, match="positive"):
        speckle_stats(np.ones((64, 64)), -1e-3)


def test_hard_core_carbon():
    from scipy.spatial import cKDTree

    from beamloop.sim.samples import carbon_positions, carbon_structure_factor

    xyz = carbon_positions(2e-9, 2e-9, seed=3)
    d, _ = cKDTree(xyz).query(xyz, k=2)
    assert d[:, 1].min() > 1.25e-10                        # (periodic images ignored: a lower bound)
    assert len(xyz) == pytest.approx(1.003e29 * 8e-27, rel=0.1)
    s = carbon_structure_factor(np.array([0.3e10, 0.9e10, 3e10]), 2e-9)
    assert s[0] < 0.9 and s[1] > 1.0 and s[2] == 1.0       # suppressed long range, bond-length peak
    assert np.all(carbon_structure_factor(np.array([0.3e10]), 2e-9, min_distance_m=0) == 1.0)


def test_twin_speckle_against_ideal_gas():
    """The hard-core a-C has less low-q power: lower speckle contrast than the ideal gas, same
    mean inner potential."""
    from beamloop.sim.samples import SampleSpec, projected_potential

    a = projected_potential(SampleSpec("amorphous_carbon", 2e-9), 512, 0.05e-9)
    b = projected_potential(SampleSpec("amorphous_carbon", 2e-9, min_distance_m=0.0), 512, 0.05e-9)
    assert a.mean() == pytest.approx(b.mean(), rel=0.02)
    assert a.std() < 0.97 * b.std()


@pytest.mark.slow
def test_twin_speckle_matches_abtem_multislice():
    """Same a-C model (hard core), thickness, aberrations and camera, coherent: the twin's speckle
    half-width and contrast within 20 % of abTEM multislice (docs/sim.md "Speckle statistics")."""
    pytest.importorskip("abtem")
    from beamloop.sim.abtem_reference import abtem_ronchigram, amorphous_carbon_atoms
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    ab = Aberrations(C10=80e-9)
    cfg = RonchigramConfig(sample_thickness_m=2e-9, source_size_m=0.0, sample_patch_px=768)
    tw, ref = [], []
    for seed in (0, 1):
        sim = RonchigramSimulator(cfg, seed=seed)
        tw.append(sim.expected(ab))
        s = int(sim.required_oversample(ab)[0]) + 1
        atoms = amorphous_carbon_atoms(s * cfg.fov_m, cfg.sample_thickness_m, seed=seed)
        ref.append(abtem_ronchigram(atoms, ab, cfg.size_px, cfg.camera_rad_per_px, s))
    a, b = speckle_table(tw, cfg.camera_rad_per_px), speckle_table(ref, cfg.camera_rad_per_px)
    assert a["halfwidth_px"] == pytest.approx(b["halfwidth_px"], rel=0.2)
    assert a["contrast"] == pytest.approx(b["contrast"], rel=0.2)
    assert 0.5 < b["halfwidth_px"] < 2.0 and 0.03 < b["contrast"] < 0.2
