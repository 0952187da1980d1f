"""Ronchigram -> local-magnification features: the alignment network's input.

Physics. In a Ronchigram the sample point seen at beam angle ``theta`` (rad) is
``x = grad W(theta)`` (m), ``W`` the wave aberration in metres. Around a patch centred at
``theta_p`` the map is linear, ``x ~ x_p + H(theta_p) dtheta``, with ``H`` the Hessian of ``W``
(m/rad): ``C1 I + [[A1x, A1y], [A1y, -A1x]]`` plus terms linear in ``theta_p`` from axial coma
B2 (and quadratic from C3, ...). The camera therefore shows the sample's speckle
*demagnified* by ``H``: the intensity gradient is ``grad_theta I = H grad_x s``, so the patch's
**structure tensor** ``T = <grad I grad I^T>`` (Parseval: the second moment of its power
spectrum) is ``sigma_s^2 H^2`` for an isotropic sample, while the patch variance does not depend
on ``H``. ``T / var`` measures the local magnification squared, its anisotropy and orientation
give A1, its change across the aperture gives B2, and a *pair* of frames at ``C1 -/+ delta``
gives ``T+ - T- = 4 delta sigma_s^2 H``: linear in ``H``, with its sign (one frame cannot tell
over- from under-focus). Where the speckle is finer than a pixel the gradients average out;
a few smoothing scales tell resolved from unresolved structure.

Features per frame (all dimensionless, independent of dose, camera gain and offset-free
scaling): on a ``grid x grid`` array of square patches covering ``+-span`` convergence
semi-angles, for each Gaussian smoothing scale ``s`` (camera pixels):

* ``log(tr T / var)``, ``(Txx - Tyy) / tr T``, ``2 Txy / tr T`` (magnification squared in
  pixels^-2, anisotropy, orientation), and
* ``0.5 log(var / mean^2)`` (relative speckle contrast; drops where it is unresolved).

Defaults: grid 3, span 0.75 alpha, scales (0.7, 1.5, 3.0) px -> 108 numbers per frame, 216 per
pair (``C10 - delta`` first). The camera is assumed to span ``+-camera_half_range_alpha`` convergence
semi-angles about its centre (the twin's default 1.4; the value used is recorded with the
model). Pure numpy/scipy, no torch: the controller's inference uses it too. Cost ~1.5 ms per
128 x 128 frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

PER_PATCH = 4  # log(tr/var), anisotropy, orientation, log contrast


@dataclass(frozen=True)
class FeatureConfig:
    """Patch layout and smoothing scales (see the module docstring).

    grid: patches per side; span: half-width of the patch array in convergence semi-angles;
    scales: Gaussian smoothing sigmas in camera pixels; camera_half_range_alpha: the camera's
    half-width in convergence semi-angles (where the aperture edge lies on the image).
    """

    grid: int = 3
    span: float = 0.75
    scales: tuple[float, ...] = (0.7, 1.5, 3.0)
    camera_half_range_alpha: float = 1.4

    def __post_init__(self):
        if int(self.grid) < 1:
            raise ValueError(f"grid must be >= 1, got {self.grid!r}")
        if not 0 < self.span <= self.camera_half_range_alpha:
            raise ValueError(f"span must be in (0, camera_half_range_alpha], got {self.span!r}")
        if not self.scales or any(not s > 0 for s in self.scales):
            raise ValueError(f"scales must be positive pixel sigmas, got {self.scales!r}")

    @property
    def n_per_frame(self) -> int:
        return self.grid * self.grid * len(self.scales) * PER_PATCH

    @property
    def n_features(self) -> int:
        return 2 * self.n_per_frame

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scales"] = list(self.scales)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        return cls(**{**d, "scales": tuple(d["scales"])})


def check_frame(img: np.ndarray) -> np.ndarray:
    """A Ronchigram as float64 (H, W); refuses NaN/inf, negative, empty or tiny images by name."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"Ronchigram must be 2-D (H, W), got shape {img.shape}")
    if min(img.shape) < 32:
        raise ValueError(f"Ronchigram must be at least 32 x 32 pixels, got {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ValueError("Ronchigram contains NaN or inf")
    if np.any(img < 0):
        raise ValueError("Ronchigram has negative intensities")
    if img.mean() <= 0:
        raise ValueError("Ronchigram is empty (mean intensity <= 0)")
    return img


def _edges(n: int, cfg: FeatureConfig) -> np.ndarray:
    c = n / 2.0
    half = cfg.span * (n / 2.0) / cfg.camera_half_range_alpha
    return np.linspace(c - half, c + half, cfg.grid + 1).round().astype(int)


def frame_features(img: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Features of one Ronchigram (any non-negative intensity), float64 ``(n_per_frame,)``.

    Order: scale-major, then patch row, patch column, then the four per-patch numbers.
    """
    e = check_frame(img)
    n = min(e.shape)
    if e.shape[0] != e.shape[1]:  # centre-crop to square
        y0, x0 = (e.shape[0] - n) // 2, (e.shape[1] - n) // 2
        e = e[y0:y0 + n, x0:x0 + n]
    ed = _edges(n, cfg)
    if np.any(np.diff(ed) < 4):
        raise ValueError(f"Ronchigram of {n} px is too small for a {cfg.grid}x{cfg.grid} patch grid")
    roi = e[ed[0]:ed[-1], ed[0]:ed[-1]]
    mu = roi.mean()
    if mu <= 0:
        raise ValueError("Ronchigram is dark inside the aperture (mean intensity <= 0)")
    e = e / mu
    out = np.empty((len(cfg.scales), cfg.grid, cfg.grid, PER_PATCH))
    tiny = 1e-12
    for k, s in enumerate(cfg.scales):
        g = gaussian_filter(e, s)
        gy, gx = np.gradient(g)
        for i in range(cfg.grid):
            for j in range(cfg.grid):
                sl = (slice(ed[i], ed[i + 1]), slice(ed[j], ed[j + 1]))
                var = g[sl].var() + tiny
                xx, yy, xy = (gx[sl] ** 2).mean(), (gy[sl] ** 2).mean(), (gx[sl] * gy[sl]).mean()
                tr = xx + yy + tiny
                out[k, i, j] = (np.log(tr / var), (xx - yy) / tr, 2.0 * xy / tr, 0.5 * np.log(var))
    return out.reshape(-1)


def pair_features(img_minus: np.ndarray, img_plus: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Features of a pair (frames at ``C10 - delta`` then ``C10 + delta``), float32 ``(n_features,)``."""
    return np.concatenate([frame_features(img_minus, cfg), frame_features(img_plus, cfg)]).astype(np.float32)


def pairs_features(pairs: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """A batch of pairs ``(N, 2, H, W)`` -> ``(N, n_features)`` float32."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 4 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (N, 2, H, W), got {pairs.shape}")
    return np.stack([pair_features(p[0], p[1], cfg) for p in pairs]) if len(pairs) else np.zeros((0, cfg.n_features), np.float32)
