"""Any camera -> the networks' canonical angular grid (pure functions, numpy/scipy only).

The alignment networks were trained on the twin's Ronchigram camera: 128 x 128 pixels of
``2 x 1.4 x 30 mrad / 128 = 0.65625 mrad``, indexed ``[ix, iy]`` (axis 0 is theta_x), the optical
axis at pixel (64, 64). A real camera has its own size, pitch, binning, rotation, centre and
axis order. :func:`to_canonical` resamples a frame onto the canonical grid *in radians* (the
physics the features read - local magnification in metres per radian, its change across the
aperture - is then the same as in training), so the estimator sees the same angles wherever
the instrument's camera puts them.

Geometry (:class:`CameraGeometry`): a ray at beam angle ``theta = (theta_x, theta_y)`` lands on
the camera at ``centre + R(rotation) F theta / rad_per_px`` in camera (x, y) pixels, ``R`` the
counter-clockwise rotation, ``F`` = diag(-1, 1) when ``flip`` (camera x mirrored), else 1; the
frame array is ``image[x, y]`` (``axes="xy"``) or ``image[y, x]`` (``axes="yx"``, numpy/Nion).

Resampling: bilinear; when a canonical pixel covers more than one camera pixel the frame is
first smoothed with a Gaussian of ``0.5 x`` the pitch ratio (anti-aliasing); values are scaled
by the pixel solid-angle ratio so a frame stays in counts per (canonical) pixel - shot-noise
statistics, hence the camera gain, carry over. Canonical pixels outside the camera are 0 (as
outside the illuminated disc); :func:`coverage` says how much of the grid the camera covers.

Units: radians, pixels; images in camera counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The twin's camera, on which the networks were trained (beamloop.sim RonchigramConfig defaults).
TWIN_SIZE_PX = 128
TWIN_RAD_PER_PX = 2 * 1.4 * 30e-3 / TWIN_SIZE_PX


@dataclass(frozen=True)
class CanonicalGrid:
    """The target grid: ``size_px`` square, ``rad_per_px`` pitch, axis 0 = theta_x, axis at ``size // 2``."""

    size_px: int = TWIN_SIZE_PX
    rad_per_px: float = TWIN_RAD_PER_PX

    def __post_init__(self):
        if int(self.size_px) < 16:
            raise ValueError(f"size_px: canonical grid needs >= 16 pixels, got {self.size_px!r}")
        if not (math.isfinite(self.rad_per_px) and 0 < self.rad_per_px < 0.05):
            raise ValueError(f"rad_per_px: must be in (0, 0.05) rad, got {self.rad_per_px!r}")


@dataclass(frozen=True)
class CameraGeometry:
    """A camera as delivered (see the module docstring). size_px = ``image.shape``; centre_px in
    array-axis order (None: ``size // 2``); rotation in rad; rad_per_px per delivered pixel."""

    size_px: tuple[int, int]
    rad_per_px: float
    axes: str = "xy"
    rotation_rad: float = 0.0
    flip: bool = False
    centre_px: tuple[float, float] | None = None

    def __post_init__(self):
        if self.axes not in ("xy", "yx"):
            raise ValueError(f"axes: must be 'xy' or 'yx', got {self.axes!r}")
        if len(self.size_px) != 2 or min(self.size_px) < 2:
            raise ValueError(f"size_px: need (rows, columns), got {self.size_px!r}")
        if not (math.isfinite(self.rad_per_px) and 0 < self.rad_per_px < 0.05):
            raise ValueError(f"rad_per_px: must be in (0, 0.05) rad per pixel, got {self.rad_per_px!r}")
        if not math.isfinite(self.rotation_rad):
            raise ValueError(f"rotation_rad: must be finite, got {self.rotation_rad!r}")

    @property
    def centre(self) -> tuple[float, float]:
        if self.centre_px is not None:
            return float(self.centre_px[0]), float(self.centre_px[1])
        return float(self.size_px[0] // 2), float(self.size_px[1] // 2)

    def is_canonical(self, grid: CanonicalGrid) -> bool:
        """True when the camera already *is* the grid (no resampling needed)."""
        c = grid.size_px // 2
        return (tuple(self.size_px) == (grid.size_px, grid.size_px) and self.axes == "xy" and not self.flip
                and self.rotation_rad == 0.0 and abs(self.rad_per_px - grid.rad_per_px) <= 1e-9 * grid.rad_per_px
                and self.centre == (float(c), float(c)))


def camera_coordinates(camera: CameraGeometry, grid: CanonicalGrid = CanonicalGrid()) -> np.ndarray:
    """``(2, n, n)`` array-index coordinates in the camera frame of every canonical pixel."""
    n = int(grid.size_px)
    t = (np.arange(n) - n // 2) * grid.rad_per_px
    tx, ty = np.meshgrid(t, t, indexing="ij")             # canonical [ix, iy]
    if camera.flip:
        tx = -tx
    c, s = math.cos(camera.rotation_rad), math.sin(camera.rotation_rad)
    u = (c * tx - s * ty) / camera.rad_per_px              # camera x, pixels from the centre
    v = (s * tx + c * ty) / camera.rad_per_px              # camera y
    c0, c1 = camera.centre
    if camera.axes == "xy":
        return np.stack([c0 + u, c1 + v])
    return np.stack([c0 + v, c1 + u])


def coverage(camera: CameraGeometry, grid: CanonicalGrid = CanonicalGrid()) -> float:
    """Fraction of the canonical grid's pixels that fall on the camera."""
    xy = camera_coordinates(camera, grid)
    inside = (xy[0] >= 0) & (xy[0] <= camera.size_px[0] - 1) & (xy[1] >= 0) & (xy[1] <= camera.size_px[1] - 1)
    return float(inside.mean())


def to_canonical(image: np.ndarray, camera: CameraGeometry, grid: CanonicalGrid = CanonicalGrid(),
                 order: int = 1) -> np.ndarray:
    """Resample ``image`` (camera counts, shape ``camera.size_px``) onto ``grid``: float32 ``(n, n)``,
    indexed ``[ix, iy]``. Raises ``ValueError`` naming ``image`` when its shape is not the camera's."""
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float64)
    if img.shape != tuple(camera.size_px):
        raise ValueError(f"image: shape {img.shape} is not the camera's size_px {tuple(camera.size_px)}")
    if camera.is_canonical(grid):
        return img.astype(np.float32)
    ratio = grid.rad_per_px / camera.rad_per_px            # canonical pixel in camera pixels
    if ratio > 1.0:
        img = ndimage.gaussian_filter(img, 0.5 * ratio, mode="nearest")
    out = ndimage.map_coordinates(img, camera_coordinates(camera, grid), order=order, mode="constant",
                                  cval=0.0, prefilter=order > 1)
    return (out * ratio**2).astype(np.float32)


class CanonicalEstimator:
    """An :class:`~beamloop.controller.estimation.inference.Estimator` for another camera: maps every
    frame of a pair onto the canonical grid, then asks ``inner``. Same attributes as ``inner``."""

    def __init__(self, inner, camera: CameraGeometry, grid: CanonicalGrid = CanonicalGrid()):
        self.inner, self.camera, self.grid = inner, camera, grid
        for name in ("axes", "delta_c10", "label_scale", "feature_mean", "feature_std", "features"):
            setattr(self, name, getattr(inner, name))

    def canonical_pairs(self, pairs: np.ndarray) -> np.ndarray:
        p = np.asarray(pairs)
        if p.ndim != 4 or p.shape[1] != 2:
            raise ValueError(f"pairs: expected (N, 2, H, W), got shape {p.shape}")
        out = np.empty((p.shape[0], 2, self.grid.size_px, self.grid.size_px), np.float32)
        for i in range(p.shape[0]):
            for j in range(2):
                out[i, j] = to_canonical(p[i, j], self.camera, self.grid)
        return out

    def predict(self, pairs: np.ndarray):
        return self.inner.predict(self.canonical_pairs(pairs))

    def predict_features(self, features: np.ndarray):
        return self.inner.predict_features(features)

    @property
    def last_used_fine(self):
        return getattr(self.inner, "last_used_fine", None)
