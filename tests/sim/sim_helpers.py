"""Helpers for the sim tests (small, fast simulators; image measures). Imported by path."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from beamloop.sim.ronchigram import RonchigramConfig


def small_config(**kwargs) -> RonchigramConfig:
    base = dict(sample_patch_px=768, max_oversample=4)
    base.update(kwargs)
    return RonchigramConfig(**base)


def disc_mask(cfg: RonchigramConfig, frac: float) -> np.ndarray:
    """Pixels within ``frac`` * alpha of the optical axis (axis 0 = theta_x)."""
    n = cfg.size_px
    i = (np.arange(n) - n // 2) * cfg.camera_rad_per_px
    tx, ty = np.meshgrid(i, i, indexing="ij")
    return np.hypot(tx, ty) < frac * cfg.convergence_semiangle_rad


def highpass(img: np.ndarray, sigma: float = 6.0) -> np.ndarray:
    return img - gaussian_filter(img, sigma)


def fineness(img: np.ndarray, mask: np.ndarray) -> float:
    """Gradient energy over variance of the high-passed texture in ``mask``: larger = finer."""
    hp = highpass(img)
    g0, g1 = np.gradient(hp)
    return float(np.mean((g0**2 + g1**2)[mask]) / np.mean(hp[mask] ** 2))
