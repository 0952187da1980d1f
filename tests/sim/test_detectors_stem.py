"""Detector region maps, sums, centre of mass and STEM imaging."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.sim import detectors as D
from beamloop.sim.aberrations import Aberrations
from beamloop.sim.stem import STEMSimulator, dpc_signal, scan_positions, stem_config


def test_region_map_rings_and_segments():
    lay = D.segmented((0.0, 10e-3, 20e-3), segments=4)
    rm = D.region_map(lay, (64, 64), 1e-3)
    assert rm.dtype == np.int32 and set(np.unique(rm)) == {-1, *range(8)}
    c = 32
    assert rm[c + 5, c] == 0 and rm[c, c + 5] == 1 and rm[c - 5, c] == 2 and rm[c, c - 5] == 3   # ccw from +x
    assert rm[c + 15, c] == 4 and rm[c + 25, c] == D.NONE
    areas = np.bincount(rm[rm >= 0])
    assert np.allclose(areas[:4], areas[0], rtol=0.05) and math.isclose(areas[:4].sum(), math.pi * 100, rel_tol=0.05)
    # "yx" orientation: axis 0 = y (image rows), as the firmware frames
    ryx = D.region_map(lay, (64, 64), 1e-3, axes="yx")
    np.testing.assert_array_equal(ryx, rm.T)
    assert (D.region_map(lay, (64, 64), 1e-3, none=31) == 31).sum() == (rm == D.NONE).sum()
    with pytest.raises(ValueError, match="none"):
        D.region_map(lay, (64, 64), 1e-3, none=3)
    with pytest.raises(ValueError, match="ring_edges_rad"):
        D.segmented((10e-3, 5e-3), 2)
    with pytest.raises(ValueError, match="rad_per_px"):
        D.region_map(lay, (8, 8), -1.0)


def test_presets_and_sums_and_com():
    a = 30e-3
    assert D.bf(a).ring_edges_rad == (0.0, 0.015) and D.haadf().ring_edges_rad == (0.07, 0.2)
    assert D.dpc_quadrants(a).n_regions == 4 and D.abf(a).ring_edges_rad[1] == a
    rng = np.random.default_rng(0)
    frames = rng.poisson(5.0, (3, 2, 32, 32)).astype(float)
    rm = D.region_map(D.segmented((0, 5e-3, 12e-3), 3), (32, 32), 1e-3)
    s = D.region_sums(frames, rm)
    assert s.shape == (3, 2, 6)
    for k in range(6):
        assert math.isclose(s[1, 0, k], frames[1, 0][rm == k].sum())
    img = np.zeros((2, 16, 16))
    img[0, 8 + 3, 8 - 2] = 4.0
    img[1, 8, 8] = 1.0
    img[1, 8 + 2, 8] = 1.0
    com = D.centre_of_mass(img)
    np.testing.assert_allclose(com, [[3, -2], [1, 0]])
    np.testing.assert_allclose(D.centre_of_mass(img, rad_per_px=2e-3), com * 2e-3)
    assert np.allclose(D.total_counts(img), [4, 2])
    np.testing.assert_allclose(dpc_signal(np.array([1.0, 0, 0, 1.0])), [1.0, 0.0])


@pytest.fixture(scope="module")
def stem():
    return STEMSimulator(stem_config(sample="si110", sample_thickness_m=3e-9, sample_patch_px=640,
                                     max_oversample=2), seed=0)


def test_stem_adf_bright_on_columns_abf_dark(stem):
    """Si [110]: a dumbbell column at the origin (0, 0) and (0, a/4); the tunnel between
    dumbbells at (a/(2 sqrt2), a/4 + ...) is empty: ADF bright on the column, ABF dark."""
    a = 5.431e-10
    on = (0.0, 0.0)
    off = (a / (2 * math.sqrt(2)) / 2 + 0.1e-10, -a / 4)          # between columns
    pos = np.array([[on, off]])
    data = stem.dataset_4d(Aberrations(), pos)
    assert data.shape == (1, 2, 128, 128)
    alpha = stem.cfg.convergence_semiangle_rad
    adf = stem.detector_images(data, D.adf(alpha, 90e-3))[0, :, 0]
    abf = stem.detector_images(data, D.abf(alpha))[0, :, 0]
    assert adf[0] > 2 * adf[1]
    assert abf[0] < abf[1]
    com = stem.com_image(data)
    assert com.shape == (1, 2, 2) and np.all(np.isfinite(com))
    with pytest.raises(ValueError, match="HAADF"):
        stem.detector_images(data, D.haadf(300e-3, 500e-3))


def test_scan_positions():
    p = scan_positions(3, 2, 1e-10, (1e-10, 0))
    assert p.shape == (3, 2, 2) and np.allclose(p[2, 1], [3e-10, 1e-10])
    with pytest.raises(ValueError, match="step_m"):
        scan_positions(2, 2, -1.0)
