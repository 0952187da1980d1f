"""Ronchigram pair -> alignment-network input, and network output -> aberrations in metres.

Pure numpy, no torch, no training code: the controller's inference wrapper uses it too.

- ``pair_to_input(img_minus, img_plus)``: each Ronchigram (H, W) (any non-negative intensity,
  counts or arbitrary units) is block-averaged to ``CAMERA x CAMERA`` = 64 x 64 pixels (after a
  centre crop to a multiple of 64; the camera is expected to span about +-1.15 .. 1.5 times the
  convergence semi-angle, as in training), then the central ``side x side`` = 32 x 32 pixels
  (inside the aperture: about +-0.6 alpha) are kept at that full resolution, divided by their
  mean and offset by -1 (zero-mean relative contrast), so the network sees the speckle of the pattern (its scale encodes the local defocus),
  not the dose. Binning the whole disc to 32 x 32 instead averages the speckle away for
  |C10| > ~100 nm (measured, docs/models.md). Channel 0 is at ``C10 - delta``, channel 1 at
  ``C10 + delta``.
- Labels: the network predicts ``coefficient / LABEL_SCALE`` (dimensionless) for
  ``AXES = (C10, C12.x, C12.y, C21.x, C21.y)``; ``LABEL_SCALE`` is in metres.
"""

from __future__ import annotations

import numpy as np

AXES = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")
SIDE = 32
CAMERA = 64


def bin_image(img: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Block-average a 2-D image to ``(side, side)`` after centre-cropping to a multiple of side."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"Ronchigram must be 2-D (H, W), got shape {img.shape}")
    h, w = img.shape
    if h < side or w < side:
        raise ValueError(f"Ronchigram must be at least {side}x{side} pixels, got {h}x{w}")
    if h == side and w == side:
        return img
    n = min(h, w) // side * side
    y0, x0 = (h - n) // 2, (w - n) // 2
    img = img[y0:y0 + n, x0:x0 + n]
    k = n // side
    return img.reshape(side, k, side, k).mean(axis=(1, 3))


def central_crop(img: np.ndarray, side: int = SIDE, camera: int = CAMERA) -> np.ndarray:
    """Resample a Ronchigram to ``camera x camera`` pixels (block average), keep the central ``side``."""
    img = bin_image(img, camera)
    o = camera // 2 - side // 2
    return img[o:o + side, o:o + side]


def normalise(img: np.ndarray) -> np.ndarray:
    """Relative contrast ``img / mean - 1``; rejects NaN/inf and non-positive images clearly."""
    if not np.all(np.isfinite(img)):
        raise ValueError("Ronchigram contains NaN or inf")
    if np.any(img < 0):
        raise ValueError("Ronchigram has negative intensities")
    m = img.mean()
    if m <= 0:
        raise ValueError("Ronchigram is empty (mean intensity <= 0)")
    return img / m - 1.0


def pair_to_input(img_minus: np.ndarray, img_plus: np.ndarray, side: int = SIDE) -> np.ndarray:
    """Two Ronchigrams (at ``C10 - delta`` and ``C10 + delta``) -> float32 ``(2, side, side)``."""
    return np.stack([normalise(central_crop(img_minus, side)), normalise(central_crop(img_plus, side))]).astype(np.float32)


def pairs_to_input(imgs: np.ndarray, side: int = SIDE) -> np.ndarray:
    """A batch of pairs ``(N, 2, H, W)`` -> ``(N, 2, side, side)`` float32."""
    imgs = np.asarray(imgs)
    if imgs.ndim != 4 or imgs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (N, 2, H, W), got {imgs.shape}")
    return np.stack([pair_to_input(p[0], p[1], side) for p in imgs])


def labels_to_target(values_m: np.ndarray, scale_m: np.ndarray) -> np.ndarray:
    """Aberrations in metres ``(N, 5)`` -> dimensionless network targets."""
    return (np.asarray(values_m, dtype=np.float64) / np.asarray(scale_m, dtype=np.float64)).astype(np.float32)


def output_to_metres(mean: np.ndarray, log_sigma: np.ndarray, scale_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network output (normalised mean, log sigma) -> (mean, sigma) in metres."""
    scale = np.asarray(scale_m, dtype=np.float64)
    return np.asarray(mean, dtype=np.float64) * scale, np.exp(np.asarray(log_sigma, dtype=np.float64)) * scale
