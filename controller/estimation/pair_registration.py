"""Aberrations from a through-focus pair by registration: the sample is the same, only the rays move.

Physics (geometric shadow image, valid when the sample's features are resolved on the camera).
A frame taken with a deliberate focus offset ``d`` (metres) shows at beam angle ``theta`` (rad)
the sample point

    x(theta) = grad W0(theta) + d theta            (metres)

with ``W0`` the residual aberration function (Krivanek ``Cnm``, metres; ``grad W0`` is the ray's
displacement on the sample). Two frames at ``d1`` and ``d2`` of the same region therefore obey
``I2(theta2) = a I1(theta1) + b`` wherever ``x1(theta1) = x2(theta2)``: frame 2 is frame 1 warped
by a map that depends only on ``W0`` and the two known offsets - not on the sample, its texture
scale, its contrast (``a``, ``b`` absorb gain, contrast reversal and offset). :func:`fit_pair`
finds the ``W0`` whose warp makes the two frames agree (least squares over every usable pixel,
coarse-to-fine in smoothing, the gain and offset solved in closed form at each step).

Which pair. Odd aberrations (coma C21, trefoil C23) have an even ``grad W0``; for a *symmetric*
pair ``d2 = -d1`` the point-reflected frames then agree for any coma (``x1(-theta) = x2(theta)``),
so coma is invisible at focus. An asymmetric pair (default ``d1 = -D``, ``d2 = +2 D``) sees it:
``theta1 = -2 theta2`` to first order and ``grad W0(theta1) = 4 grad W0(theta2)``, a shift of
``3 grad W0 / D``. The usable field of frame 2 is then the part that maps inside frame 1
(``|theta2| < field / 2``).

Where it holds: the shadow-image picture needs sample features larger than a camera pixel at
both offsets (nionswift-usim's flakes and amorphous film, a real thick film or crystal edge at a
few hundred nm of defocus). The twin's and multislice a-C speckle near focus is ~1 px and not a
geometric image of the sample (docs/alignment.md): there the network estimates instead.

Units: offsets and coefficients in metres, angles in radians, images in camera counts; images on
an angular grid ``[ix, iy]`` (axis 0 = theta_x, optical axis at ``centre_px``) as produced by
:func:`~beamloop.controller.estimation.canonical_grid.to_canonical`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import itertools

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares

__all__ = ["FIT_TERMS", "PairGeometry", "PairFit", "PairRegistrationError", "ray_map", "fit_pair"]

#: aberrations the registration fits (metres), Nion / Krivanek names
FIT_TERMS = ("C10", "C12.x", "C12.y", "C21.x", "C21.y", "C23.x", "C23.y", "C30")
#: beyond these (m) a fit is not trusted (reported as lost, residual_rel = inf): far outside what the
#: coarse searches cover, such a "match" is a degenerate warp (most of the frame folded away)
CAPTURE_M = np.array([1.2e-6, 6e-7, 6e-7, 6e-6, 6e-6, 6e-6, 6e-6, 1e-2])
#: nuisance parameters fitted with them: the optical axis's position on the grid (rad)
AXIS_TERMS = ("axis.x", "axis.y")
_NT = len(FIT_TERMS)
_SCALE = np.array([1e-7, 1e-7, 1e-7, 1e-6, 1e-6, 1e-6, 1e-6, 1e-4, 1e-3, 1e-3])   # typical sizes (m, rad)


class PairRegistrationError(ValueError):
    """The pair cannot be registered (shapes differ, too few usable pixels, no texture)."""


def _terms_grad(tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d/dtheta_x and d/dtheta_y of the FIT_TERMS basis (``theta^(n+1) cos(m phi) / (n+1)``), (8, ...)."""
    r2 = tx * tx + ty * ty
    gx = np.stack([tx, tx, ty, (3 * tx * tx + ty * ty) / 3, 2 * tx * ty / 3, tx * tx - ty * ty, 2 * tx * ty, r2 * tx])
    gy = np.stack([ty, -ty, tx, 2 * tx * ty / 3, (tx * tx + 3 * ty * ty) / 3, -2 * tx * ty, tx * tx - ty * ty, r2 * ty])
    return gx, gy


def _terms_hess(tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second derivatives (xx, xy, yy) of the FIT_TERMS basis, (8, ...)."""
    one, zero = np.ones_like(tx), np.zeros_like(tx)
    r2 = tx * tx + ty * ty
    hxx = np.stack([one, one, zero, 2 * tx, 2 * ty / 3, 2 * tx, 2 * ty, r2 + 2 * tx * tx])
    hxy = np.stack([zero, zero, one, 2 * ty / 3, 2 * tx / 3, -2 * ty, 2 * tx, 2 * tx * ty])
    hyy = np.stack([one, -one, zero, 2 * tx / 3, 2 * ty, -2 * tx, -2 * ty, r2 + 2 * ty * ty])
    return hxx, hxy, hyy


def ray_map(coeffs: np.ndarray, tx: np.ndarray, ty: np.ndarray, offset_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample-plane position (m) of the ray at angle ``(tx, ty)`` (rad): ``grad W0 + offset theta``."""
    gx, gy = _terms_grad(tx, ty)
    c = np.asarray(coeffs, float)
    return np.tensordot(c, gx, 1) + offset_m * tx, np.tensordot(c, gy, 1) + offset_m * ty


def _invert(coeffs, x, y, offset_m, iterations=5):
    """Angles whose rays land at ``(x, y)`` for a frame at ``offset_m`` (Newton from ``x / offset``),
    and where the iteration converged (beyond a caustic fold it does not: those rays are dropped)."""
    tx, ty = x / offset_m, y / offset_m
    c = np.asarray(coeffs, float)
    for _ in range(iterations):
        fx, fy = ray_map(c, tx, ty, offset_m)
        fx, fy = fx - x, fy - y
        hxx, hxy, hyy = (np.tensordot(c, h, 1) for h in _terms_hess(tx, ty))
        a, b, d = hxx + offset_m, hxy, hyy + offset_m
        det = a * d - b * b
        det = np.where(np.abs(det) < 1e-3 * offset_m**2, np.sign(det + 1e-300) * 1e-3 * offset_m**2, det)
        tx, ty = tx - (d * fx - b * fy) / det, ty - (a * fy - b * fx) / det
    fx, fy = ray_map(c, tx, ty, offset_m)
    converged = np.hypot(fx - x, fy - y) < 1e-7 * abs(offset_m)     # rays beyond a fold do not converge
    return tx, ty, converged


@dataclass(frozen=True)
class PairGeometry:
    """The angular grid of both frames: ``rad_per_px``, ``centre_px`` (axis 0 = theta_x)."""

    shape: tuple[int, int]
    rad_per_px: float
    centre_px: tuple[float, float] | None = None

    def angles(self) -> tuple[np.ndarray, np.ndarray]:
        c0, c1 = self.centre_px if self.centre_px is not None else (self.shape[0] // 2, self.shape[1] // 2)
        i = (np.arange(self.shape[0]) - c0) * self.rad_per_px
        j = (np.arange(self.shape[1]) - c1) * self.rad_per_px
        return np.meshgrid(i, j, indexing="ij")


@dataclass
class PairFit:
    """What :func:`fit_pair` found: ``coeffs_m`` (FIT_TERMS order, metres), the relative rms
    mismatch left (``residual_rel``: rms(I2 - a I1 - b) / rms(I2 - mean)), the gain ``a`` and the
    number of pixels compared."""

    coeffs_m: np.ndarray
    residual_rel: float
    gain: float
    n_px: int
    info: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FIT_TERMS, map(float, self.coeffs_m)))


def _stage(f1, f2, lit1, use, tx, ty, d1, d2, geom, mask, p, smooth):
    """One least-squares stage over the pixels ``use`` and the terms ``mask``; the others stay at ``p``."""
    i1s, i2s = _prepare(f1, smooth), _prepare(f2, smooth)
    scale = float(np.std(i2s[use]))
    if not scale > 0:
        raise PairRegistrationError("frames: no texture (frame 2 is flat where lit)")
    fixed = p * _SCALE * ~mask
    fn = _residual_fn(i1s, i2s, lit1, use, tx[use], ty[use], d1, d2, geom, mask, fixed)
    best = least_squares(lambda v: fn(v)[0] / scale, p[mask], method="trf", diff_step=0.05,
                         max_nfev=30 * (int(mask.sum()) + 1))
    out = p.copy()
    out[mask] = best.x
    return out, float(best.cost), fn, scale


def _stride_mask(shape, stride: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[::stride, ::stride] = True
    return m


def _grid(f1, f2, lit1, use, tx, ty, d1, d2, geom, mask, p, smooth, half, n):
    """Exhaustive search of the terms ``mask`` on an ``n``-point grid of +-``half`` typical sizes
    around ``p`` (the others held): the coarse stage that finds the basin of the least squares."""
    i1s, i2s = _prepare(f1, smooth), _prepare(f2, smooth)
    scale = float(np.std(i2s[use])) or 1.0
    fixed = p * _SCALE * ~mask
    fn = _residual_fn(i1s, i2s, lit1, use, tx[use], ty[use], d1, d2, geom, mask, fixed)
    axes = [np.linspace(-half, half, n) + c for c in p[mask]]
    best, best_q = np.inf, p[mask]
    for q in itertools.product(*axes):
        r, _, cnt = fn(np.array(q))
        if cnt < 0.25 * use.sum():
            continue
        c = np.sum(r**2) / cnt / scale**2
        if c < best:
            best, best_q = c, np.array(q)
    out = p.copy()
    out[mask] = best_q
    return out


def _prepare(img: np.ndarray, smooth_px: float) -> np.ndarray:
    return ndimage.gaussian_filter(np.asarray(img, float), smooth_px, mode="nearest") if smooth_px > 0 else np.asarray(img, float)


def _residual_fn(i1s, i2s, lit1, sel, tx2, ty2, d1, d2, geom, fit_mask, fixed=None):
    c0, c1 = geom.centre_px if geom.centre_px is not None else (geom.shape[0] // 2, geom.shape[1] // 2)
    v2 = i2s[sel]

    def full(p):
        c = np.zeros(len(_SCALE)) if fixed is None else fixed.copy()
        c[fit_mask] = p * _SCALE[fit_mask]
        ab, (ax, ay) = c[:_NT], c[_NT:]
        x, y = ray_map(ab, tx2 - ax, ty2 - ay, d2)
        t1x, t1y, conv = _invert(ab, x, y, d1)
        coords = np.stack([(t1x + ax) / geom.rad_per_px + c0, (t1y + ay) / geom.rad_per_px + c1])
        v1 = ndimage.map_coordinates(i1s, coords, order=1, mode="constant", cval=np.nan)
        ok = conv & np.isfinite(v1) & (ndimage.map_coordinates(lit1, coords, order=0, mode="constant", cval=0) > 0)
        w = ok.astype(float)
        v1 = np.where(ok, v1, 0.0)
        n = max(w.sum(), 1.0)
        m1, m2 = (w * v1).sum() / n, (w * v2).sum() / n
        cov = (w * (v1 - m1) * (v2 - m2)).sum()
        var1 = (w * (v1 - m1) ** 2).sum()
        a = cov / var1 if var1 > 0 else 0.0
        r = w * ((v2 - m2) - a * (v1 - m1))
        return r, a, n
    return full


def fit_pair(frame1: np.ndarray, frame2: np.ndarray, offset1_m: float, offset2_m: float, geom: PairGeometry,
             terms: tuple[str, ...] = FIT_TERMS[:5], smoothing_px: tuple[float, ...] = (6.0, 3.0, 1.5),
             start_m: dict[str, float] | None = None, lit_fraction: float = 0.3, stride: int = 1,
             grid_points: int = 7, grid_half_width: tuple[float, float] = (1.5, 2.0),
             accept_residual: float = 0.3, fit_axis: bool = True, focus_search_m: float = 600e-9) -> PairFit:
    """Fit the residual aberrations ``terms`` (others held at 0) that warp ``frame1`` (taken at
    focus offset ``offset1_m``) onto ``frame2`` (``offset2_m``). Both frames on ``geom``'s grid.

    smoothing_px: the coarse-to-fine schedule (Gaussian sigma, pixels); start_m: a starting guess
    (m); lit_fraction: pixels below this fraction of the frame's median lit level are outside
    the illuminated disc and not compared; stride: compare every ``stride``-th pixel of frame 2;
    grid_points / grid_half_width: the coarse exhaustive search (points per term; half-widths in
    typical sizes, 100 nm for the two-fold terms and 1 um for coma), first over (C10, C12) then over
    C21, and, when the result still mismatches by more than ``accept_residual`` (relative rms), in the
    other order (the better of the two is kept); fit_axis: also fit where the optical axis sits on
    the grid (two nuisance angles, reported in ``info["axis_rad"]``: a camera centre off by a
    fraction of a pixel otherwise shows up as coma); focus_search_m: before the grids, C10 alone is
    searched over +-this (m) in 50 nm steps (an instrument may start far from focus). Raises :class:`PairRegistrationError` naming the problem."""
    f1, f2 = np.asarray(frame1, float), np.asarray(frame2, float)
    if f1.shape != f2.shape or f1.shape != tuple(geom.shape):
        raise PairRegistrationError(f"frames: shapes {f1.shape} and {f2.shape} must both be the grid's {tuple(geom.shape)}")
    if not (offset1_m and offset2_m) or offset1_m == offset2_m:
        raise PairRegistrationError(f"offsets: need two different non-zero focus offsets (m), got {offset1_m}, {offset2_m}")
    unknown = [t for t in terms if t not in FIT_TERMS]
    if unknown:
        raise PairRegistrationError(f"terms: unknown {unknown}; known {FIT_TERMS}")
    fit_mask = np.array([t in terms for t in FIT_TERMS] + [bool(fit_axis)] * len(AXIS_TERMS))
    tx, ty = geom.angles()
    lit = []
    for f in (f1, f2):
        pos = f[f > 0]
        if pos.size < 16:
            raise PairRegistrationError("frames: fewer than 16 lit pixels")
        lit.append(ndimage.binary_erosion(f > lit_fraction * np.median(pos), iterations=2).astype(np.uint8))
    sel = lit[1].astype(bool)
    if stride > 1:
        sel &= _stride_mask(sel.shape, stride)
    if sel.sum() < 64:
        raise PairRegistrationError(f"frames: only {int(sel.sum())} usable pixels in frame 2")
    p0 = np.array([(start_m or {}).get(t, 0.0) for t in FIT_TERMS + AXIS_TERMS]) / _SCALE
    r_px = np.hypot(tx, ty)
    # what frame 2 can see of frame 1: |theta2| < |d1 / d2| x frame 1's lit radius
    reach = min(1.0, abs(offset1_m / offset2_m)) * float(r_px[lit[0].astype(bool)].max())
    focus = fit_mask & np.isin(FIT_TERMS + AXIS_TERMS, ("C10",))
    two_fold = fit_mask & np.isin(FIT_TERMS + AXIS_TERMS, ("C10", "C12.x", "C12.y"))
    odd = fit_mask & np.isin(FIT_TERMS + AXIS_TERMS, ("C21.x", "C21.y"))
    info: dict = {"stages": []}
    use = sel & (r_px <= reach)
    if use.sum() < 64:
        raise PairRegistrationError(f"frames: only {int(use.sum())} usable pixels where frame 2 sees frame 1")
    orders = [(two_fold, odd), (odd, two_fold)] if grid_points else [()]
    coarse = use & _stride_mask(use.shape, 2)
    origins = [p0]
    if focus_search_m and fit_mask[0] and grid_points:   # an instrument can start far from focus
        wide = _grid(f1, f2, lit[0], coarse, tx, ty, offset1_m, offset2_m, geom, focus, p0, smoothing_px[0],
                     focus_search_m / _SCALE[0], int(round(2 * focus_search_m / 50e-9)) + 1)
        if abs(wide[0] - p0[0]) * _SCALE[0] > grid_half_width[0] * _SCALE[0]:
            origins.append(wide)           # outside the first grid: try from there too
    best = None
    for origin, order in ((o, od) for o in origins for od in orders):
        p = origin.copy()
        for mask in order:
            if mask.any():
                half = grid_half_width[0] if mask is two_fold else grid_half_width[1]
                p = _grid(f1, f2, lit[0], coarse, tx, ty, offset1_m, offset2_m, geom, mask, p, smoothing_px[0],
                          half, grid_points)
        stages = []
        no_axis = fit_mask & ~np.isin(FIT_TERMS + AXIS_TERMS, AXIS_TERMS)
        schedule = [(sm, no_axis) for sm in smoothing_px] + ([(smoothing_px[-1], fit_mask)] if fit_axis else [])
        for smooth, mask in schedule:      # the axis (a nuisance) only once the aberrations are in their basin
            p, cost, fn, scale = _stage(f1, f2, lit[0], use, tx, ty, offset1_m, offset2_m, geom, mask, p, smooth)
            stages.append({"smooth_px": smooth, "cost": cost})
        r, a, n = fn(p[mask])
        rel = float(np.sqrt(np.sum(r**2) / max(n, 1)) / scale)
        if n < 0.1 * use.sum() or np.any(np.abs(np.where(fit_mask, p, 0.0) * _SCALE)[:_NT] > CAPTURE_M):
            rel = np.inf               # most pixels thrown out of frame 1, or beyond the capture range: not a match
        if best is None or rel < best[0]:
            best = (rel, p, r, a, n, stages)
        if rel <= accept_residual:
            break                      # registered: the other orders / origins are only for a lost first try
    rel, p, r, a, n, stages = best
    info["stages"] = stages
    full = np.where(fit_mask, p, 0.0) * _SCALE
    coeffs = full[:_NT]
    info["axis_rad"] = full[_NT:].tolist()
    return PairFit(coeffs, rel, float(a), int(n), info)
