"""abTEM reference grid and binning (sim.abtem_reference): the camera's disc and axis."""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.sim.abtem_reference import abtem_gpts, camera_pattern


def _centroid(img):
    n = img.shape[0]
    return [float((img.sum(axis=1 - a) * np.arange(n)).sum() / img.sum()) for a in (0, 1)]


@pytest.mark.parametrize("s", [2, 3, 4, 7])
@pytest.mark.parametrize("shift", [0, 7, 100])
def test_camera_pattern_puts_zero_angle_at_the_pixel_centre(s, shift):
    n = abtem_gpts(32, s)
    assert n == 48 * s
    k = np.arange(n) - n // 2
    amp = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (4 * (3 * s) ** 2))      # symmetric about zero angle
    psi = np.roll(np.fft.ifft2(np.fft.ifftshift(amp)), (shift, shift + 3), axis=(0, 1))   # probe anywhere in the cell
    img = camera_pattern(psi, 32, s, dose_e=1e4)
    assert img.shape == (32, 32) and img.sum() == pytest.approx(1e4, rel=1e-5)
    assert _centroid(img) == pytest.approx([16.0, 16.0], abs=1e-3)


def test_camera_pattern_refuses_a_small_grid():
    with pytest.raises(ValueError, match="does not hold"):
        camera_pattern(np.ones((60, 60), complex), 32, 2)
    with pytest.raises(ValueError, match="even"):
        camera_pattern(np.ones((61, 61), complex), 16, 2)


@pytest.mark.slow
def test_abtem_disc_reaches_the_aperture():
    pytest.importorskip("abtem")
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.abtem_reference import abtem_ronchigram, amorphous_carbon_atoms
    from beamloop.sim.optics import electron_wavelength

    rpp, s = 0.65625e-3, 6
    img = abtem_ronchigram(amorphous_carbon_atoms(s * electron_wavelength(300e3) / rpp, 1e-9),
                           Aberrations(C10=150e-9), 128, rpp, s)
    i = np.arange(128) - 64
    r = np.hypot(i[:, None], i[None, :]) * rpp
    inner = img[r < 20e-3].mean()
    assert img[(r > 28e-3) & (r < 29e-3)].mean() > 0.8 * inner       # the 30 mrad disc is not cut at 28
    assert img[r > 31e-3].mean() < 0.01 * inner
    assert _centroid(img) == pytest.approx([64.0, 64.0], abs=0.05)
