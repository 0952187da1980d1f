"""Wave-optical Ronchigrams: validation, dose/noise, and the physics a microscopist checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from beamloop.sim.aberrations import Aberrations
from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator, UndersampledError

import importlib.util as _ilu
import pathlib as _pl
import sys as _sys

if "beamloop_sim_test_helpers" not in _sys.modules:
    _spec = _ilu.spec_from_file_location("beamloop_sim_test_helpers", _pl.Path(__file__).with_name("sim_helpers.py"))
    _sys.modules["beamloop_sim_test_helpers"] = _ilu.module_from_spec(_spec)
    _spec.loader.exec_module(_sys.modules["beamloop_sim_test_helpers"])
_h = _sys.modules["beamloop_sim_test_helpers"]
disc_mask, fineness, highpass, small_config = _h.disc_mask, _h.fineness, _h.highpass, _h.small_config


# --- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"energy_eV": -300e3}, "energy_eV"),
        ({"energy_eV": float("nan")}, "energy_eV"),
        ({"convergence_semiangle_rad": 60e-3, "rad_per_px": 0.5e-3}, "convergence_semiangle_rad"),
        ({"convergence_semiangle_rad": -1e-3}, "convergence_semiangle_rad"),
        ({"sample": "gold"}, "sample"),
        ({"dose_e": float("nan")}, "dose_e"),
        ({"size_px": 127}, "size_px"),
        ({"sample_thickness_m": 10.0}, "sample_thickness_m"),
        ({"focal_spread_samples": 9}, "focal_spread_samples"),
    ],
)
def test_bad_config_raises_naming_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RonchigramConfig(**kwargs)


def test_bad_aberrations_raise(sim_carbon):
    bad = np.zeros((2, 25))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sim_carbon.simulate_batch(bad)
    with pytest.raises(ValueError, match="shape"):
        sim_carbon.simulate_batch(np.zeros((2, 7)))
    with pytest.raises(KeyError, match="C13"):
        sim_carbon.simulate_batch(np.zeros((1, 1)), names=["C13"])
    with pytest.raises(ValueError, match="scan_shift_m"):
        sim_carbon.simulate(Aberrations(), scan_shift_m=(float("nan"), 0.0))


def test_footprint_beyond_limit_raises_or_warns():
    sim = RonchigramSimulator(small_config(max_oversample=2), seed=0)
    big = Aberrations(C10=300e-9)
    assert sim.required_oversample(big)[0] > 2
    with pytest.raises(UndersampledError, match="footprint"):
        sim.simulate(big)
    warn = RonchigramSimulator(small_config(max_oversample=2, on_undersampled="warn"), seed=0)
    with pytest.warns(UserWarning, match="wrap-around"):
        warn.expected(big)


def test_absurd_aberrations_saturate_the_oversample_and_are_refused():
    """A float -> int wrap once made C10 = 1e308 m look like oversample < 0: no refusal at all."""
    sim = RonchigramSimulator(small_config(max_oversample=2), seed=0)
    for c10 in (1e-3, 1e30, 1e308):
        need = sim.required_oversample(Aberrations(C10=c10))[0]
        assert need > 2 and need >= sim.required_oversample(Aberrations(C10=300e-9))[0]
    with pytest.raises(UndersampledError, match="footprint"):
        sim.simulate(Aberrations(C10=1e308))


def test_oversample_grows_with_defocus(sim_carbon):
    s = sim_carbon.required_oversample([Aberrations(C10=c) for c in (0, 20e-9, 60e-9, 100e-9)])
    assert s[0] == 1 and np.all(np.diff(s) >= 0) and s[-1] >= 3
    # geometric footprint of a pure defocus: 2 |C1| alpha (+ diffraction margin)
    d = sim_carbon.footprint_m(Aberrations(C10=100e-9))
    assert 2 * 100e-9 * 30e-3 < d < 2 * 100e-9 * 30e-3 * 1.2


# --- output, dose and noise ------------------------------------------------------------
def test_shapes_dtype_dose_and_fresh_noise(sim_carbon):
    cfg = sim_carbon.cfg
    ab = Aberrations(C10=20e-9)
    e = sim_carbon.expected(ab)
    assert e.shape == (cfg.size_px, cfg.size_px) and e.dtype == np.float32
    assert 0.97 * cfg.dose_e < e.sum() <= 1.0001 * cfg.dose_e       # phase object: all electrons land
    a, b = sim_carbon.simulate(ab), sim_carbon.simulate(ab)
    assert a.dtype == np.float32 and a.shape == e.shape
    assert not np.array_equal(a, b)                                 # fresh noise
    assert math.isclose(a.sum(), cfg.detector_gain * cfg.dose_e, rel_tol=0.01)
    # noise level in the bright disc: gain * sqrt(N) shot noise, reduced by the PSF by
    # sqrt(mean MTF^2) (the noise is white before the PSF), plus readout noise
    m = disc_mask(cfg, 0.5)
    resid = (a - b)[m] / math.sqrt(2)
    f = np.fft.fftfreq(cfg.size_px)
    mtf2 = np.mean(sim_carbon.camera.mtf(np.hypot(f[:, None], f[None, :])) ** 2)
    expected_sd = math.sqrt(cfg.detector_gain**2 * e[m].mean() * mtf2 + cfg.readout_noise**2)
    assert 0.85 * expected_sd < resid.std() < 1.15 * expected_sd


def test_batch_matches_single_and_is_reproducible(sim_carbon):
    abs_ = [Aberrations(C10=c, A1=(5e-9, -3e-9)) for c in (-10e-9, 0.0, 15e-9)]
    batch = sim_carbon.expected(abs_)
    for i, ab in enumerate(abs_):
        np.testing.assert_allclose(batch[i], sim_carbon.expected(ab), rtol=1e-4, atol=1e-3)
    names = ["C10", "C12.x", "C12.y"]
    arr = np.array([[a[n] for n in names] for a in abs_])
    np.testing.assert_allclose(sim_carbon.expected(arr, names=names), batch, rtol=1e-5, atol=1e-3)
    r1 = sim_carbon.simulate_batch(abs_ * 6, rng=np.random.default_rng(5))
    r2 = sim_carbon.simulate_batch(abs_ * 6, rng=np.random.default_rng(5))
    assert r1.shape == (18, 128, 128)
    np.testing.assert_array_equal(r1, r2)


def test_aperture_disc_and_dark_field(sim_carbon):
    cfg = sim_carbon.cfg
    e = sim_carbon.expected(Aberrations())
    inside = disc_mask(cfg, 0.97)
    outside = ~disc_mask(cfg, 1.1)
    assert e[inside].mean() > 50 * e[outside].mean()       # bright disc, faint dark field
    assert e[outside].sum() > 0.001 * cfg.dose_e           # but the sample does scatter outside


# --- physics a microscopist recognises -----------------------------------------------------
def test_sweet_spot_at_focus(sim_carbon):
    """At focus the centre is flat (infinite magnification); defocus shows sample texture."""
    m = disc_mask(sim_carbon.cfg, 0.6)

    def contrast(ab):
        e = sim_carbon.expected(ab)
        return float(np.std(highpass(e, 10)[m]) / e[m].mean())

    focus = contrast(Aberrations())
    assert focus < 0.5 * contrast(Aberrations(C10=30e-9))
    assert focus < 0.5 * contrast(Aberrations(C10=-30e-9))


@pytest.mark.parametrize("c1, along_x_flat", [(-20e-9, True), (20e-9, False)])
def test_astigmatism_line_foci(sim_carbon, c1, along_x_flat):
    """A1.x = A with C1 = -A: rays keep x = 0, so the pattern is streaked along theta_x."""
    e = sim_carbon.expected(Aberrations(C10=c1, A1=(20e-9, 0.0)))
    m = disc_mask(sim_carbon.cfg, 0.8)
    g0, g1 = np.gradient(e)
    ratio = np.mean(g0[m] ** 2) / np.mean(g1[m] ** 2)
    assert (ratio < 0.2) if along_x_flat else (ratio > 5)


@pytest.mark.parametrize("sign", [1, -1])
def test_axial_coma_makes_magnification_asymmetric(sim_carbon, sign):
    """With C1 > 0 and coma C21.x, the local defocus is C1 + 2 C21.x theta_x: lower
    magnification (finer texture) on the side theta_x * C21.x > 0."""
    cfg = sim_carbon.cfg
    e = sim_carbon.expected(Aberrations(C10=40e-9, **{"C21.x": sign * 1e-6}))
    n = cfg.size_px
    m = disc_mask(cfg, 0.85)
    right = m.copy()
    right[: n // 2 + 6] = False                     # theta_x > 0
    left = m.copy()
    left[n // 2 - 6:] = False                       # theta_x < 0
    ratio = fineness(e, right) / fineness(e, left)
    assert (ratio > 1.5) if sign > 0 else (ratio < 1 / 1.5)


def test_scan_shift_moves_shadow_image(sim_carbon):
    """Moving the probe by d over the sample moves the shadow image by -d / C1 (rad)."""
    cfg = sim_carbon.cfg
    c1, d = 50e-9, 0.4e-9
    e0 = sim_carbon.expected(Aberrations(C10=c1))
    e1 = sim_carbon.expected(Aberrations(C10=c1), scan_shift_m=(d, 0.0))
    m = disc_mask(cfg, 0.6)
    a = np.where(m, highpass(e0, 4), 0)
    b = np.where(m, highpass(e1, 4), 0)
    xc = np.fft.ifft2(np.fft.fft2(b) * np.conj(np.fft.fft2(a))).real
    i, j = np.unravel_index(np.argmax(xc), xc.shape)
    n = cfg.size_px
    shift = ((i + n // 2) % n - n // 2, (j + n // 2) % n - n // 2)
    expected = -d / c1 / cfg.camera_rad_per_px
    assert abs(shift[0] - expected) <= 2 and abs(shift[1]) <= 1, (shift, expected)


def test_oversampled_grids_agree(sim_carbon):
    """The same frame computed on internal grids 2x and 3x finer than the camera agrees."""
    ab = Aberrations(C10=45e-9)
    assert sim_carbon.required_oversample(ab)[0] == 2
    s3 = RonchigramSimulator(small_config(oversample=3), seed=0)
    a, b = sim_carbon.expected(ab), s3.expected(ab)
    m = disc_mask(sim_carbon.cfg, 0.9)
    assert np.corrcoef(a[m], b[m])[0, 1] > 0.99


def test_grid_centred_on_offset_footprint():
    """Coma and 3-fold astigmatism move the footprint off the probe position; the grid is
    centred on the footprint box, so the smaller oversample it needs gives the same frame as a
    much larger grid (a wrongly centred grid would wrap the probe around)."""
    cfg = small_config(max_oversample=6)
    sim = RonchigramSimulator(cfg, seed=0)
    m = disc_mask(cfg, 0.9)
    for ab in (Aberrations(**{"C21.x": 2e-6}), Aberrations(**{"C21.y": -1.5e-6, "C10": 30e-9}),
               Aberrations(**{"C23.x": 2e-6, "C21.x": 1e-6})):
        ext, cen = sim.footprint_box_m(ab)
        s = int(sim.required_oversample(ab)[0])
        assert np.abs(cen).max() > 0.5e-9                       # really off-centre
        assert s < np.ceil(sim.footprint_m(ab)[0] * 1.1 / cfg.fov_m)   # smaller than a centred disc
        big = RonchigramSimulator(small_config(oversample=s + 3), seed=0)
        a, b = sim.expected(ab), big.expected(ab)
        assert np.corrcoef(a[m], b[m])[0, 1] > 0.99
        # the measure can fail: the same probe 0.3 nm further along the sample does not match
        c = big.expected(ab, scan_shift_m=(0.3e-9, 0.0))
        assert np.corrcoef(a[m], c[m])[0, 1] < 0.9


def test_line_focus_uses_a_rectangular_grid():
    """An astigmatic line focus is long along one axis only: the grid is oversampled along that
    axis only, and the frame agrees with a square grid oversampled on both."""
    cfg = small_config(max_oversample=6)
    sim = RonchigramSimulator(cfg, seed=0)
    ab = Aberrations(C10=60e-9, **{"C12.x": 55e-9})              # focus line along x
    sx, sy = sim._choose_oversample(ab.vector[None])[0]
    assert sx >= 3 and sy == 1, (sx, sy)
    big = RonchigramSimulator(small_config(oversample=int(sx) + 1), seed=0)
    m = disc_mask(cfg, 0.9)
    a, b = sim.expected(ab), big.expected(ab)
    assert np.corrcoef(a[m], b[m])[0, 1] > 0.99
    np.testing.assert_allclose(a.sum(), b.sum(), rtol=2e-3)
    # the measure can fail: the perpendicular line focus is a different frame
    c = big.expected(Aberrations(C10=60e-9, **{"C12.x": -55e-9}))
    assert np.corrcoef(a[m], c[m])[0, 1] < 0.5


def test_large_defocus_has_no_tiling(sim_carbon):
    """At C1 = 100 nm the shadow image spans ~6 nm of sample: with honest oversampling it is
    not periodic with the 3 nm camera field of view (which would repeat every
    fov / C1 = 30 mrad)."""
    cfg = sim_carbon.cfg
    c1 = 100e-9
    e = sim_carbon.expected(Aberrations(C10=c1))
    period_px = int(round(cfg.fov_m / c1 / cfg.camera_rad_per_px))
    hp = highpass(e, 3)
    n = cfg.size_px
    a = hp[n // 2 - period_px // 2 - 10: n // 2 - period_px // 2 + 10, n // 2 - 10: n // 2 + 10]
    b = hp[n // 2 + period_px // 2 - 10: n // 2 + period_px // 2 + 10, n // 2 - 10: n // 2 + 10]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] < 0.5
    # while forcing oversample 1 (warned) does tile
    s1 = RonchigramSimulator(small_config(oversample=1, on_undersampled="warn"), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = highpass(s1.expected(Aberrations(C10=c1)), 3)
    a = t[n // 2 - period_px // 2 - 10: n // 2 - period_px // 2 + 10, n // 2 - 10: n // 2 + 10]
    b = t[n // 2 + period_px // 2 - 10: n // 2 + period_px // 2 + 10, n // 2 - 10: n // 2 + 10]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8


def test_focal_spread_blurs_high_angles():
    """Temporal incoherence damps fine interference detail most at high angles."""
    sharp = RonchigramSimulator(small_config(focal_spread_m=0.0), seed=0)
    blur = RonchigramSimulator(small_config(focal_spread_m=3e-9, focal_spread_samples=5), seed=0)
    ab = Aberrations(C10=25e-9)
    m = disc_mask(sharp.cfg, 0.9) & ~disc_mask(sharp.cfg, 0.5)
    hs, hb = highpass(sharp.expected(ab), 3), highpass(blur.expected(ab), 3)
    assert hb[m].std() < 0.9 * hs[m].std()


def test_crystal_ronchigram_shows_lattice():
    """Si [100] at large defocus: the shadow image shows the projected {220} fringes
    (1.92 A, along the diagonals; {200} is forbidden in projection), magnified by 1/C1."""
    sim = RonchigramSimulator(small_config(sample="si100", sample_thickness_m=3e-9), seed=0)
    c1 = 60e-9
    e = sim.expected(Aberrations(C10=c1))
    cfg = sim.cfg
    m = disc_mask(cfg, 0.8)
    hp = np.where(m, highpass(e, 8), 0)
    spec = np.abs(np.fft.fft2(hp))
    spec[0, 0] = 0
    n = cfg.size_px
    # {220}: frequency 2/a along x and y -> angular frequency (2/a) C1 per rad, in cycles/px
    k = int(round(2 / 5.431e-10 * c1 * cfg.camera_rad_per_px * n))
    for kx, ky in ((k, k), (k, n - k)):
        peak = spec[kx - 1:kx + 2, ky - 1:ky + 2].max()
        assert peak > 10 * np.median(spec), (kx, ky)
    assert spec[k - 1:k + 2, 0:2].max() < 0.2 * spec[k - 1:k + 2, k - 1:k + 2].max()   # no {200}


def test_subpixel_ramp_equals_crop_shift(sim_carbon):
    """A probe shift of just under one sample pixel (phase ramp) equals one just over it
    (integer crop of the sample): the two mechanisms agree."""
    p = sim_carbon.cfg.pixel_m
    ab = Aberrations(C10=30e-9)
    a = sim_carbon.expected(ab, scan_shift_m=((1 - 1e-6) * p, 0.3 * p))
    b = sim_carbon.expected(ab, scan_shift_m=((1 + 1e-6) * p, 0.3 * p))
    c = sim_carbon.expected(ab, scan_shift_m=(0.0, 0.3 * p))
    assert np.abs(a - b).max() < 0.01 * a.max()
    assert np.abs(a - c).max() > 0.05 * a.max()          # while a real 1-pixel move does change it
