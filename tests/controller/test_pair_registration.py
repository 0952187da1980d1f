"""Through-focus pair registration (controller/estimation/pair_registration.py): the geometry, the
physics (coma is invisible to a symmetric pair), texture-scale and contrast invariance on a
synthetic geometric shadow image, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from beamloop.controller.estimation import pair_registration as pr
from beamloop.sim.aberrations import NAMES, chi_gradient_basis

GEOM = pr.PairGeometry((128, 128), 1.5e-3)
PX_M = 0.25e-9                           # synthetic sample grid (m per pixel)


def texture(corr_px: float, seed: int = 0, n: int = 1024) -> np.ndarray:
    """A smooth random sample, correlation length ~``corr_px`` sample pixels."""
    rng = np.random.default_rng(seed)
    s = ndimage.gaussian_filter(rng.standard_normal((n, n)), corr_px)
    return s / s.std()


def render(sample: np.ndarray, coeffs: np.ndarray, offset_m: float, contrast: float = 0.1) -> np.ndarray:
    """Shadow image ``1000 (1 + c S(grad W0 + d theta))`` on GEOM (the geometric-optics picture)."""
    tx, ty = GEOM.angles()
    x, y = pr.ray_map(coeffs, tx, ty, offset_m)
    c = sample.shape[0] / 2
    return 1000.0 * (1 + contrast * ndimage.map_coordinates(sample, [x / PX_M + c, y / PX_M + c], order=1))


def coeffs(**kw) -> np.ndarray:
    out = np.zeros(len(pr.FIT_TERMS))
    for k, v in kw.items():
        out[pr.FIT_TERMS.index(k.replace("_", "."))] = v
    return out


def test_basis_is_the_twins_aberration_function():
    rng = np.random.default_rng(1)
    tx, ty = rng.uniform(-0.05, 0.05, (2, 40))
    gx, gy = pr._terms_grad(tx, ty)
    ref_x, ref_y = chi_gradient_basis(tx, ty)
    idx = [NAMES.index(n) for n in pr.FIT_TERMS]
    np.testing.assert_allclose(gx, ref_x[idx], atol=1e-15)
    np.testing.assert_allclose(gy, ref_y[idx], atol=1e-15)
    h = 1e-6
    hxx, hxy, hyy = pr._terms_hess(tx, ty)
    np.testing.assert_allclose(hxx, (pr._terms_grad(tx + h, ty)[0] - pr._terms_grad(tx - h, ty)[0]) / (2 * h), atol=1e-8)
    np.testing.assert_allclose(hxy, (pr._terms_grad(tx, ty + h)[0] - pr._terms_grad(tx, ty - h)[0]) / (2 * h), atol=1e-8)
    np.testing.assert_allclose(hyy, (pr._terms_grad(tx, ty + h)[1] - pr._terms_grad(tx, ty - h)[1]) / (2 * h), atol=1e-8)


def test_inverse_ray_map_and_fold_detection():
    c = coeffs(C21_x=1e-6, C12_y=40e-9)
    tx, ty = GEOM.angles()
    x, y = pr.ray_map(c, tx, ty, 800e-9)
    t1x, t1y, ok = pr._invert(c, x, y, -400e-9)
    bx, by = pr.ray_map(c, t1x, t1y, -400e-9)
    assert ok.mean() > 0.5
    assert np.max(np.hypot(bx - x, by - y)[ok]) < 1e-13            # converged rays land where they should
    assert not ok.all()                                             # beyond the fold: flagged, not trusted


def test_coma_is_invisible_to_a_symmetric_pair_and_seen_by_an_asymmetric_one():
    s = texture(12)
    truth = coeffs(C21_x=1.0e-6)
    sym = render(s, truth, -400e-9), render(s, truth, 400e-9)
    k = np.arange(1, 128)                                           # pixel k <-> 128 - k: theta <-> -theta
    np.testing.assert_allclose(sym[1][np.ix_(k, k)], sym[0][np.ix_(128 - k, 128 - k)], rtol=1e-6)
    f1, f2 = render(s, truth, -400e-9), render(s, truth, 800e-9)
    fit = pr.fit_pair(f1, f2, -400e-9, 800e-9, GEOM, lit_fraction=0.0)
    assert abs(fit.as_dict()["C21.x"] - 1.0e-6) < 100e-9, fit.as_dict()


@pytest.mark.parametrize("corr_px,contrast", [(60, 0.15), (120, 0.01)])
def test_recovers_two_fold_aberrations_whatever_the_texture_scale_and_contrast(corr_px, contrast):
    """Textures of 15 vs 30 nm and contrast 15 % vs 1 %: the same answer (the warp depends only on
    the aberrations and the two known offsets). Two-fold terms only: with all five free the fit on
    these smooth synthetic textures can land in a coma-compensated minimum (docs/alignment.md)."""
    s = texture(corr_px, seed=corr_px)
    truth = coeffs(C10=90e-9, C12_x=-60e-9, C12_y=110e-9)
    f1, f2 = render(s, truth, -400e-9, contrast), render(s, truth, 800e-9, contrast)
    fit = pr.fit_pair(f1, f2, -400e-9, 800e-9, GEOM, terms=("C10", "C12.x", "C12.y"), lit_fraction=0.0, stride=2)
    err = fit.coeffs_m[:3] - truth[:3]
    assert np.all(np.abs(err) < 5e-9), err
    assert fit.residual_rel < 0.1


def test_gain_and_contrast_reversal_are_absorbed():
    s = texture(60, seed=3)
    truth = coeffs(C10=-50e-9, C12_x=30e-9)
    f1 = render(s, truth, -400e-9)
    f2 = 2000.0 - 0.5 * render(s, truth, 800e-9)                   # reversed contrast, other gain
    fit = pr.fit_pair(f1, f2, -400e-9, 800e-9, GEOM, terms=("C10", "C12.x", "C12.y"), lit_fraction=0.0, stride=2)
    assert fit.gain < 0
    assert np.all(np.abs(fit.coeffs_m[:3] - truth[:3]) < 5e-9)


def test_bad_input_is_refused_naming_the_problem():
    f = np.ones((128, 128))
    with pytest.raises(pr.PairRegistrationError, match="shapes"):
        pr.fit_pair(f, np.ones((64, 64)), -400e-9, 800e-9, GEOM)
    with pytest.raises(pr.PairRegistrationError, match="offsets"):
        pr.fit_pair(f, f, 400e-9, 400e-9, GEOM)
    with pytest.raises(pr.PairRegistrationError, match="terms"):
        pr.fit_pair(f, f, -400e-9, 800e-9, GEOM, terms=("C99",))
    with pytest.raises(pr.PairRegistrationError, match="texture"):
        pr.fit_pair(f, f, -400e-9, 800e-9, GEOM, lit_fraction=0.0)
