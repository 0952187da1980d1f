"""Where the focus is, in metres, from the Fourier ellipses of a few frames (the shadow-magnification model).

Physics. With defocus C1 and two-fold astigmatism A1 the Ronchigram is the sample seen through the
linear map ``x = M theta``, ``M = [[C1 + A1x, A1y], [A1y, C1 - A1x]]`` (metres per radian), so the
speckle's power spectrum is the sample's stretched by ``M``: its frequency covariance is
``s^2 M^2`` (``s``: the sample's own bandwidth, unknown, the same for every frame of one sample).
Two more terms decide what a camera measures:

* a floor ``f^2 I``: at focus the frame still has coarse structure (the aperture, the sample's
  long-range texture), so the width does not go to zero;
* the detector: the spectrum is multiplied by the camera's transfer (pixel + PSF), whose power
  falls off over a width ``w_cam`` (cycles/px). For Gaussians the product's covariance is the
  harmonic sum, ``C_meas = (C^-1 + I / w_cam^2)^-1``. This is what makes the plain
  Fourier-ellipse cost saturate ~100 nm out (the speckle is finer than the pixels), and why its
  inverse keeps growing: ``1 / w_meas^2 - 1 / w_cam^2 = 1 / w^2``.

So one frame's ellipse (three numbers: the 2 x 2 covariance) fixes ``|M|`` along both principal
axes in units of ``1/s``; two frames at a known knob offset fix ``s`` as well (the ratio of the two
widths is the ratio of the two local magnifications, whatever the sample's length scale), and
every further frame over-determines the fit. :func:`fit_focus` fits the knob setting ``x*`` of
zero ``M`` (plus ``s``, ``f``, ``w_cam``, the latter two with weak priors) to all resolved frames by
least squares from a multi-start grid (one frame alone leaves the sign of each axis open: the
starts cover every branch). No training and nothing tuned to a seed: the only numbers are the
priors' centres (the twin's camera: ``w_cam`` ~ 0.19, ``f`` ~ 0.025 cycles/px) and their widths.

Units: knob values and ``x*`` in metres; widths in cycles per pixel; ``s`` in cycles/px per metre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

#: Aberrations of the linear shadow map (a knob driving anything else has no place in this model).
LINEAR_ABERRATIONS = ("C10", "C12.x", "C12.y")


class MagnificationFitError(ValueError):
    """The magnification model cannot be fitted (names the problem: axes, too few frames ...)."""


@dataclass(frozen=True)
class FitConfig:
    """Priors and noise model of :func:`fit_focus`.

    camera_width: prior centre of ``w_cam`` (cycles/px; the twin's box pixel and 0.6 px Gaussian PSF give
    0.17: power transfer ``sinc^2`` ~ variance ``3 / (2 pi^2)``, PSF ``1 / (8 pi^2 sigma^2)``, harmonic sum;
    fits on twin frames give 0.12-0.19); floor_width: prior centre of ``f``
    (cycles/px); prior_sigma: their prior widths in log units; noise_abs / noise_rel: the
    standard deviation of a measured width, ``noise_abs + noise_rel * width`` (cycles/px);
    camera_axes: ``"xy"`` when the image's row axis is the instrument's x (beamloop's twin:
    A1x then changes sign in image axes), ``"yx"`` when rows are y (numpy images of Nion/usim);
    grid: starts per axis of the multi-start search; unresolved_fraction: a frame without resolvable
    speckle says its speckle is finer than the camera in every direction: the model's narrower width
    there must be at least this fraction of ``w_cam`` (a one-sided residual); loss: scipy's
    ``least_squares`` loss on the normalised residuals (``"linear"``: plain least squares,
    ``"soft_l1"``: a frame the model does not describe, e.g. an unflagged unresolved one, pulls less)."""

    camera_width: float = 0.16
    floor_width: float = 0.025
    prior_sigma: float = 0.5
    noise_abs: float = 0.003
    noise_rel: float = 0.05
    camera_axes: str = "xy"
    grid: int = 9
    unresolved_fraction: float = 0.7
    loss: str = "linear"


@dataclass(frozen=True)
class FocusFit:
    """Result of :func:`fit_focus`: ``x_star`` (knob values of zero ``M``, m, one per axis),
    ``scale`` (``s``, cycles/px per metre), ``floor`` and ``camera`` widths (cycles/px), ``chi2``
    (sum of squared normalised residuals), ``n_frames`` used, and ``spread_m``: the largest
    distance (m, Euclidean over the axes) of another start's solution whose chi2 is within 1 of
    the best (0 when the fit is unique: the sign branches are decided)."""

    x_star: np.ndarray
    scale: float
    floor: float
    camera: float
    chi2: float
    n_frames: int
    spread_m: float


def ellipse_covariance(major: float, minor: float, angle: float) -> np.ndarray:
    """The 2 x 2 frequency covariance (cycles/px)^2 in image axes (x = column, y = row) of a
    Fourier ellipse with standard deviations ``major``, ``minor`` along ``angle`` (rad, from x to y)."""
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, -s], [s, c]])
    return r @ np.diag([major**2, minor**2]) @ r.T


def _components(aberrations: list[str], camera_axes: str) -> np.ndarray:
    """(d, 3) map from knob offsets to the image-frame (C1, A1x', A1y) of the shadow map."""
    bad = [a for a in aberrations if a not in LINEAR_ABERRATIONS]
    if bad:
        raise MagnificationFitError(f"axes: the magnification model covers C10, C12.x, C12.y only, not {bad}")
    if camera_axes not in ("xy", "yx"):
        raise MagnificationFitError(f"camera_axes: must be 'xy' or 'yx', got {camera_axes!r}")
    sign = -1.0 if camera_axes == "xy" else 1.0
    rows = {"C10": (1.0, 0.0, 0.0), "C12.x": (0.0, sign, 0.0), "C12.y": (0.0, 0.0, 1.0)}
    return np.array([rows[a] for a in aberrations], float)


def predicted_covariance(offsets_m: np.ndarray, components: np.ndarray, scale: float, floor: float,
                         camera: float) -> np.ndarray:
    """Model covariances (n, 2, 2) for knob offsets ``x - x*`` (n, d) in metres (see the module doc)."""
    c1, a1x, a1y = (np.asarray(offsets_m, float) @ components).T
    a = np.hypot(a1x, a1y)
    phi = 0.5 * np.arctan2(a1y, a1x)
    out = np.empty((len(c1), 2, 2))
    lam = []
    for ev in (c1 + a, c1 - a):   # eigenvalues of M along (cos phi, sin phi) and across it
        w2 = (scale * ev) ** 2 + floor**2
        lam.append(1.0 / (1.0 / w2 + 1.0 / camera**2))
    c, s = np.cos(phi), np.sin(phi)
    out[:, 0, 0] = lam[0] * c * c + lam[1] * s * s
    out[:, 1, 1] = lam[0] * s * s + lam[1] * c * c
    out[:, 0, 1] = out[:, 1, 0] = (lam[0] - lam[1]) * c * s
    return out


def _sqrtm2(cov: np.ndarray) -> np.ndarray:
    """Matrix square roots of symmetric PSD 2 x 2 matrices (n, 2, 2): widths, not variances."""
    det = np.sqrt(np.clip(cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] ** 2, 0.0, None))
    tr = np.sqrt(np.clip(cov[:, 0, 0] + cov[:, 1, 1] + 2.0 * det, 1e-30, None))
    return (cov + det[:, None, None] * np.eye(2)) / tr[:, None, None]


def _min_width(cov: np.ndarray) -> np.ndarray:
    """Square root of the smaller eigenvalue of each symmetric 2 x 2 matrix (n, 2, 2)."""
    m = 0.5 * (cov[:, 0, 0] + cov[:, 1, 1])
    r = np.hypot(0.5 * (cov[:, 0, 0] - cov[:, 1, 1]), cov[:, 0, 1])
    return np.sqrt(np.clip(m - r, 0.0, None))


def _residuals(p: np.ndarray, x: np.ndarray, meas_w: np.ndarray, sigma: np.ndarray, comp: np.ndarray,
               cfg: FitConfig, x_scale: float, x_flat: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    xs = p[:d] * x_scale
    scale, floor, cam = np.exp(p[d:d + 3])
    pred = _sqrtm2(predicted_covariance(x - xs, comp, scale, floor, cam))
    r = (pred - meas_w) / sigma[:, None, None]
    res = np.concatenate([r[:, 0, 0], r[:, 1, 1], np.sqrt(2.0) * r[:, 0, 1]])
    if len(x_flat):
        w = _min_width(predicted_covariance(x_flat - xs, comp, scale, floor, cam))
        res = np.concatenate([res, np.clip(cfg.unresolved_fraction * cam - w, 0.0, None)
                              / (cfg.noise_abs + cfg.noise_rel * cam)])
    prior = np.array([(p[d + 1] - np.log(cfg.floor_width)) / cfg.prior_sigma,
                      (p[d + 2] - np.log(cfg.camera_width)) / cfg.prior_sigma])
    return np.concatenate([res, prior])


def fit_focus(settings_m: np.ndarray, covariances: np.ndarray, aberrations: list[str], lo: np.ndarray,
              hi: np.ndarray, config: FitConfig | None = None, unresolved_m: np.ndarray | None = None) -> FocusFit:
    """Fit the knob setting of zero shadow magnification to frames' Fourier-ellipse covariances.

    settings_m: (n, d) knob values (m) of resolved frames; covariances: (n, 2, 2) their ellipse
    covariances in image axes (:func:`ellipse_covariance`); aberrations: the aberration each axis
    drives (C10, C12.x, C12.y); lo, hi: the search box (m) in which ``x*`` is sought (starts on a
    grid over it; the solution may leave it by at most half its width); unresolved_m: (k, d) knob
    values of frames without resolvable speckle (one-sided constraint, see ``unresolved_fraction``).
    Needs at least two resolved frames.
    """
    cfg = config or FitConfig()
    x = np.atleast_2d(np.asarray(settings_m, float))
    cov = np.asarray(covariances, float).reshape(-1, 2, 2)
    n, d = x.shape
    if len(cov) != n:
        raise MagnificationFitError(f"covariances: {len(cov)} for {n} settings")
    if n < 2:
        raise MagnificationFitError(f"frames: need at least two resolved frames, got {n}")
    comp = _components(list(aberrations), cfg.camera_axes)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    x_scale = float(np.max(hi - lo))  # optimise x* in units of the box: well conditioned
    meas_w = _sqrtm2(cov)
    sigma = cfg.noise_abs + cfg.noise_rel * np.sqrt(np.clip(cov[:, 0, 0] + cov[:, 1, 1], 0.0, None))
    # s from the widest frame, assuming it is half a box width out (the fit corrects it)
    w_top = float(np.sqrt(np.max(cov[:, 0, 0] + cov[:, 1, 1])))
    s0 = np.log(max(w_top, cfg.floor_width) / (0.25 * x_scale))
    g = np.linspace(0.0, 1.0, cfg.grid)
    starts = np.stack(np.meshgrid(*[lo[i] + g * (hi[i] - lo[i]) for i in range(d)], indexing="ij"), -1).reshape(-1, d)
    bounds_lo = np.concatenate([(lo - 0.5 * (hi - lo)) / x_scale, [-np.inf] * 3])
    bounds_hi = np.concatenate([(hi + 0.5 * (hi - lo)) / x_scale, [np.inf] * 3])
    # rank the starts by their residual with the prior widths and s fixed, polish the best few
    x_flat = np.zeros((0, d)) if unresolved_m is None else np.asarray(unresolved_m, float).reshape(-1, d)
    args = (x, meas_w, sigma, comp, cfg, x_scale, x_flat)
    p0 = [np.concatenate([s / x_scale, [s0, np.log(cfg.floor_width), np.log(cfg.camera_width)]]) for s in starts]
    first = np.array([np.sum(_residuals(p, *args) ** 2) for p in p0])
    sols = []
    for i in np.argsort(first)[: max(4, cfg.grid)]:
        r = least_squares(_residuals, np.clip(p0[i], bounds_lo, bounds_hi), args=args, loss=cfg.loss, f_scale=2.0,
                          bounds=(bounds_lo, bounds_hi), x_scale="jac", max_nfev=200)
        sols.append((2.0 * r.cost, r.x))
    sols.sort(key=lambda t: t[0])
    chi2, best = sols[0]
    xs = best[:d] * x_scale
    spread = max((float(np.linalg.norm(p[:d] * x_scale - xs)) for c2, p in sols if c2 <= chi2 + 1.0), default=0.0)
    scale, floor, cam = (float(v) for v in np.exp(best[d:d + 3]))
    return FocusFit(xs, scale, floor, cam, float(chi2), n, spread)
