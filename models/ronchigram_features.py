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
pair (``C10 - delta`` first).

Sample invariance (``invariant=True``, the default since version 4; docs/models.md). For an
isotropic texture of correlation length ``L`` and contrast ``c``, ``log(tr T / var)`` is
``log(H^2) - 2 log L + const`` and ``0.5 log(var / mean^2)`` is ``log c + const``: the sample
enters both as one additive constant shared by every patch of *both* frames. ``pair_features``
therefore subtracts, per smoothing scale, the mean of each of the two over the 2 x grid x grid
patches of the pair. What is left - ratios between the two defoci of the same patch
(``H+ = H0 + delta I`` against ``H- = H0 - delta I``: the known step fixes ``H0``), ratios between
patches (the gradient of ``H``: coma), the scale-free anisotropy and orientation - does not
depend on ``L`` or ``c`` wherever the speckle is resolved (tested with textures scaled 2x and
contrast changed 5x, tests/models/test_invariance.py). With ``invariant`` the patch sums also
skip pixels within ``4 s + 2`` px of the aperture edge (at most 0.35 alpha) (the corner patches of the 0.75 alpha
grid reach 1.06 alpha; the edge is a fixed step whose gradients do not scale with the sample's
contrast) - a fixed per-pixel mask per scale. Still streamable: the per-patch sums are
those of version 3; the centring is 2 x 3 means of 18 logs after them. The camera is assumed to span ``+-camera_half_range_alpha`` convergence
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
    half-width in convergence semi-angles (where the aperture edge lies on the image);
    invariant: centre the magnification and contrast features of a pair per scale (sample
    texture scale and contrast cancel; see the module docstring). Metadata written before
    version 4 lacks the field and means ``False``.
    """

    grid: int = 3
    span: float = 0.75
    scales: tuple[float, ...] = (0.7, 1.5, 3.0)
    camera_half_range_alpha: float = 1.4
    invariant: bool = True

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
        return cls(**{"invariant": False, **d, "scales": tuple(d["scales"])})


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
    lo, hi = ed[0], ed[-1]
    starts = ed[:-1] - lo
    cnt = np.outer(np.diff(ed), np.diff(ed)).astype(np.float64)

    def patch_mean(a: np.ndarray) -> np.ndarray:   # per-patch means: the sums an FPGA accumulates
        return np.add.reduceat(np.add.reduceat(a[lo:hi, lo:hi], starts, axis=0), starts, axis=1) / cnt

    if cfg.invariant:   # radius from the centre beyond which the smoothed aperture edge would leak in
        ii = np.arange(n) - n // 2   # the optical axis is pixel n // 2 (the twin)
        r = np.hypot(ii[:, None], ii[None, :])
        alpha_px = (n / 2) / cfg.camera_half_range_alpha

    for k, s in enumerate(cfg.scales):
        g = gaussian_filter(e, s)
        gy, gx = np.gradient(g)
        if cfg.invariant:
            # only pixels >= 4 sigma + 2 px inside the aperture edge (but at least within 0.65 alpha):
            # the edge is a fixed 100 % step whose gradients would not scale with the sample's contrast
            w = (r <= max(alpha_px - 4.0 * s - 2.0, 0.65 * alpha_px)).astype(np.float64)
            wn = patch_mean(w)
            if np.any(wn <= 0.2):
                raise ValueError(f"Ronchigram of {n} px: a patch lies outside the aperture margin at scale {s} px")

            def pm(a, w=w, wn=wn):
                return patch_mean(a * w) / wn
        else:
            pm = patch_mean
        m1 = pm(g)
        var = np.maximum(pm(g * g) - m1 * m1, 0.0) + tiny
        xx, yy, xy = pm(gx * gx), pm(gy * gy), pm(gx * gy)
        tr = xx + yy + tiny
        # relative contrast: version 3 against the frame's mean, invariant against the patch's own
        lc = 0.5 * np.log(var / np.maximum(m1 * m1, tiny)) if cfg.invariant else 0.5 * np.log(var)
        out[k] = np.stack([np.log(tr / var), (xx - yy) / tr, 2.0 * xy / tr, lc], axis=-1)
    return out.reshape(-1)


def centre_pair(raw: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Invariant pair features from raw ones ``(..., n_features)``: per smoothing scale, the mean
    over both frames and all patches is subtracted from ``log(tr T / var)`` and from the log
    contrast (the sample's texture scale and contrast are such a common offset)."""
    r = np.array(raw, dtype=np.float64).reshape(raw.shape[:-1] + (2, len(cfg.scales), cfg.grid, cfg.grid, PER_PATCH))
    for q in (0, 3):
        v = r[..., q]
        v -= v.mean(axis=(-4, -2, -1), keepdims=True)  # frames and patches, per scale
    return r.reshape(raw.shape)


def pair_features(img_minus: np.ndarray, img_plus: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Features of a pair (frames at ``C10 - delta`` then ``C10 + delta``), float32 ``(n_features,)``."""
    raw = np.concatenate([frame_features(img_minus, cfg), frame_features(img_plus, cfg)])
    return (centre_pair(raw, cfg) if cfg.invariant else raw).astype(np.float32)


def pairs_features(pairs: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """A batch of pairs ``(N, 2, H, W)`` -> ``(N, n_features)`` float32."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 4 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (N, 2, H, W), got {pairs.shape}")
    return np.stack([pair_features(p[0], p[1], cfg) for p in pairs]) if len(pairs) else np.zeros((0, cfg.n_features), np.float32)
