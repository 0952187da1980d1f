"""Speckle statistics of a Ronchigram inside an angle: autocorrelation half-width and contrast.

Used to compare the twin's sample texture with other simulators (abTEM multislice,
nionswift-usim) and with real cameras (docs/sim.md "Speckle statistics").

Definitions (one frame, camera pixels, the optical axis at ``(n // 2, n // 2)``):

- the region is the disc ``|theta| < max_angle_rad``;
- the slow envelope (vacuum disc, aperture shading, coma brightness) is removed by dividing
  the frame by a Gaussian low-pass of itself (rms ``detrend_sigma_px``, normalised within the
  region so the disc edge does not bias it); ``detrend_sigma_px=0`` uses the plain region mean;
- ``contrast`` = rms of the relative fluctuation ``d = I / envelope - 1`` over the region
  (a fraction: 0.06 = 6 %);
- the autocorrelation of ``d`` (zero outside the region, normalised by the autocorrelation of
  the region mask so every lag is an average over the pixel pairs that exist), azimuthally
  averaged, and ``halfwidth_px`` = the lag (px, linear interpolation) where it first falls to
  half its zero-lag value. A delta-correlated (white) texture gives < 0.5 px; shot noise and
  the camera PSF act on it, so compare noiseless frames or equal doses and PSFs.

Units: angles in radians, lengths in camera pixels. Pure numpy; nothing of beamloop imported.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["speckle_stats", "speckle_table"]


def _gauss_lowpass(a: np.ndarray, sigma_px: float) -> np.ndarray:
    n0, n1 = a.shape
    f0 = np.fft.fftfreq(n0)[:, None]
    f1 = np.fft.rfftfreq(n1)[None, :]
    h = np.exp(-2 * (math.pi * sigma_px) ** 2 * (f0**2 + f1**2))
    return np.fft.irfft2(np.fft.rfft2(a) * h, s=a.shape)


def speckle_stats(img: np.ndarray, rad_per_px: float, max_angle_rad: float = 22e-3,
                  detrend_sigma_px: float = 6.0, max_lag_px: int = 12) -> dict:
    """Speckle statistics of one Ronchigram ``img`` (2-D, any units of intensity).

    Returns ``{"halfwidth_px", "contrast", "acf" (azimuthal mean, lags 0..max_lag_px),
    "n_px" (pixels in the region)}``. Raises ``ValueError`` for a non-2-D or non-finite image,
    a non-positive ``rad_per_px`` / ``max_angle_rad``, or a region of fewer than 50 pixels,
    or a region whose mean intensity is not positive.
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim != 2 or not np.all(np.isfinite(a)):
        raise ValueError(f"img must be a finite 2-D array, got shape {a.shape}")
    if not (rad_per_px > 0 and max_angle_rad > 0):
        raise ValueError(f"rad_per_px and max_angle_rad must be positive, got {rad_per_px!r}, {max_angle_rad!r}")
    n0, n1 = a.shape
    i = (np.arange(n0) - n0 // 2)[:, None]
    j = (np.arange(n1) - n1 // 2)[None, :]
    mask = (np.hypot(i, j) * rad_per_px < max_angle_rad).astype(np.float64)
    npx = int(mask.sum())
    if npx < 50:
        raise ValueError(f"max_angle_rad={max_angle_rad!r} covers only {npx} pixels (need >= 50)")
    if not a[mask > 0].mean() > 0:
        raise ValueError("mean intensity inside the region must be positive")
    if detrend_sigma_px > 0:
        env = _gauss_lowpass(a * mask, detrend_sigma_px) / np.maximum(_gauss_lowpass(mask, detrend_sigma_px), 1e-6)
        env = np.where(mask > 0, np.maximum(env, 1e-12 * abs(a[mask > 0].mean())), 1.0)
        d = np.where(mask > 0, a / env - 1.0, 0.0)
    else:
        d = np.where(mask > 0, a / a[mask > 0].mean() - 1.0, 0.0)
    d[mask > 0] -= d[mask > 0].mean()
    contrast = float(np.sqrt(np.mean(d[mask > 0] ** 2)))
    # autocorrelations by FFT on a zero-padded grid (no wrap-around)
    s = (2 * n0, 2 * n1)
    fd = np.fft.rfft2(d, s=s)
    fm = np.fft.rfft2(mask, s=s)
    acf = np.fft.irfft2(np.abs(fd) ** 2, s=s)
    cnt = np.fft.irfft2(np.abs(fm) ** 2, s=s)
    acf = np.where(cnt > 0.5, acf / np.maximum(cnt, 1e-9), 0.0)
    li = np.fft.fftfreq(s[0], 1.0 / s[0])[:, None]
    lj = np.fft.fftfreq(s[1], 1.0 / s[1])[None, :]
    lag = np.hypot(li, lj)
    bins = np.rint(lag).astype(int)
    ok = (bins <= max_lag_px) & (cnt > 0.5)
    prof = np.bincount(bins[ok], weights=acf[ok], minlength=max_lag_px + 1)[:max_lag_px + 1]
    num = np.bincount(bins[ok], minlength=max_lag_px + 1)[:max_lag_px + 1]
    prof = prof / np.maximum(num, 1)
    prof = prof / prof[0] if prof[0] > 0 else prof
    hw = float("nan")
    for k in range(1, len(prof)):
        if prof[k] <= 0.5:
            hw = (k - 1) + (prof[k - 1] - 0.5) / (prof[k - 1] - prof[k])
            break
    return {"halfwidth_px": hw, "contrast": contrast, "acf": prof, "n_px": npx}


def speckle_table(frames, rad_per_px: float, **kwargs) -> dict:
    """Mean and standard deviation of the statistics over several frames ``(N, H, W)``."""
    st = [speckle_stats(f, rad_per_px, **kwargs) for f in frames]
    hw = np.array([s["halfwidth_px"] for s in st])
    c = np.array([s["contrast"] for s in st])
    return {"halfwidth_px": float(np.nanmean(hw)), "halfwidth_px_std": float(np.nanstd(hw)),
            "contrast": float(c.mean()), "contrast_std": float(c.std()), "n": len(st)}
