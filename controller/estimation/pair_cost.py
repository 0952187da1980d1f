"""Through-focus pair cost: the two-fold aberrations measured from frames at C1 +- a known offset.

Physics. In a geometric shadow image the sample point seen at beam angle ``theta`` is
``x = x0 + M theta`` with ``M = N + C1_offset * I`` and ``N = [[C1 + A1x, A1y], [A1y, C1 - A1x]]``
the residual (metres per radian). Near focus (``|N|`` small) the frame sees a patch of the
sample so small that it is one ramp, and a single frame then depends only on ``N^T grad S``:
one combination of C1 and A1 is invisible (nionswift-usim: ``C1 - A1x`` for a ramp along x).

An operator breaks that with a through-focus pair. Take one frame at ``+d`` and one at ``-d``
of deliberate defocus (``d`` large enough that each frame holds many sample features):

    I+(theta)  = S(x0 + (d I + N) theta)
    I-(-theta) = S(x0 + (d I - N) theta)        (the under-focus frame, point-reflected)

so the point-reflected under-focus frame *is* the over-focus frame exactly when ``N = 0``, for
any texture (the two frames sample the same points of the sample, at the same pixels), and
otherwise differs by ``-2 (N theta) . grad S``: a focus error as a radial magnification
difference, astigmatism as a quadrupolar one. Both are seen by every sample feature whose edges
are not all parallel, so no combination of C1 and A1 is blind. With the focus-change image
``B = theta . grad_theta I / d`` (what ``dI/dC1`` is) the mismatch in metres is

    cost = (d / 2) * rms(I+ - R I-) / rms(theta . grad_theta I)

exactly ``|C1|`` for a pure focus error and ``~|A1|`` for pure astigmatism (the same for an
isotropic texture), in the linear range (the displacement ``2 |N theta|`` below the texture's
edge width); beyond it it grows more slowly (``~sqrt``) until the two frames decorrelate.
The under-focus frame is fitted as ``a I+ + b`` first, so a contrast reversal (weak-phase
contrast changes sign with defocus) or a gain change is absorbed (``a`` is reported). Shot
noise in both frames is estimated from each frame's second differences (robust median) and
removed from the mismatch's variance.

Units: ``defocus_m`` and the cost in metres; pixel coordinates relative to the optical axis
(``axis_px``, default the frame centre, as nionswift-usim and the twin's square cameras).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beamloop.controller.estimation.cost import _check_image, illumination_taper


class PairFrameError(ValueError):
    """The two frames of a through-focus pair cannot be compared (shape, no common lit disc, no texture)."""


@dataclass(frozen=True)
class PairFeatures:
    """What :func:`pair_mismatch` measured.

    mismatch_m: the pointwise mismatch in metres (see the module docstring); vector_m:
    least-squares estimate of ``(C1, A1x, A1y)`` (m) in the *image's* axes (x = column, y = row)
    from the linear model, valid only in the linear range; tensor_vector_m: the same from the two
    frames' gradient structure tensors (:func:`tensor_estimate`: coarse, but no pointwise
    correspondence needed, so it keeps its sign far out); gain: the fitted ``a`` of
    ``R I- ~ a I+ + b`` (1 for an amplitude texture, negative for reversed contrast); noise_rel:
    the removed noise variance over the raw mismatch variance (near 1: the pair agrees to the noise)."""

    mismatch_m: float
    vector_m: tuple[float, float, float]
    gain: float
    noise_rel: float
    tensor_vector_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    linear_m: float = 4e-8

    @property
    def tensor_m(self) -> float:
        """Norm of :attr:`tensor_vector_m` (m)."""
        return float(np.linalg.norm(self.tensor_vector_m))

    @property
    def cost_m(self) -> float:
        """The pair cost (m): the pointwise mismatch while it is in its linear range (``<= linear_m``),
        beyond it ``max(mismatch_m, tensor_m)``. The mismatch is the accurate measure near focus
        (``~|N|``; the tensor's depends on how uniform the few features in view are) but saturates
        once ``2 |N theta|`` exceeds the sample's feature size (usim: ~75-160 nm for ``|N|`` of
        150-300 nm), where the tensor still grows; so the cost keeps a single minimum."""
        if self.mismatch_m <= self.linear_m:
            return float(self.mismatch_m)
        return float(max(self.mismatch_m, self.tensor_m))


def point_reflect(image: np.ndarray, axis_px: tuple[float, float] | None = None) -> np.ndarray:
    """``image(-theta)``: the frame point-reflected through the optical axis (row, column in px)."""
    img = np.asarray(image, float)
    out = img[::-1, ::-1]
    if axis_px is None:
        return out
    from scipy import ndimage

    shift = [2.0 * axis_px[0] - (img.shape[0] - 1), 2.0 * axis_px[1] - (img.shape[1] - 1)]
    if not any(shift):
        return out
    return ndimage.shift(out, shift, order=1, mode="nearest")


def pixel_noise_var(image: np.ndarray) -> float:
    """White pixel-noise variance from second differences along both axes (median, robust to edges).

    For white noise of variance ``s^2`` the second difference ``x_i - (x_{i-1} + x_{i+1}) / 2``
    has variance ``1.5 s^2``; a linear ramp has none and a sparse set of kinks barely moves the median."""
    img = np.asarray(image, float)
    d2 = np.concatenate([(img[1:-1, :] - 0.5 * (img[:-2, :] + img[2:, :])).ravel(),
                         (img[:, 1:-1] - 0.5 * (img[:, :-2] + img[:, 2:])).ravel()])
    sigma = 1.4826 * float(np.median(np.abs(d2 - np.median(d2))))
    return sigma**2 / 1.5


def pair_mismatch(over: np.ndarray, under: np.ndarray, defocus_m: float,
                  axis_px: tuple[float, float] | None = None, linear_m: float = 4e-8) -> PairFeatures:
    """The through-focus pair cost of ``over`` (frame at C1 + d) and ``under`` (at C1 - d), ``d = defocus_m``.

    linear_m: the pointwise mismatch (m) up to which it is trusted alone (see :attr:`PairFeatures.cost_m`).

    Raises :class:`PairFrameError` naming the problem for frames of different shape, without a
    common lit region, or without texture (nothing to compare)."""
    if not (np.isfinite(defocus_m) and defocus_m > 0):
        raise PairFrameError(f"defocus_m: the pair's defocus offset must be > 0 m, got {defocus_m!r}")
    p = _check_image(over)
    m = _check_image(under)
    if p.shape != m.shape:
        raise PairFrameError(f"under: shape {m.shape} differs from the over-focus frame's {p.shape}")
    r = point_reflect(m, axis_px)
    w = illumination_taper(p) * illumination_taper(r)
    sw = float(w.sum())
    if sw <= 0:
        raise PairFrameError("over/under: no common illuminated region")
    mean_p = float(np.sum(w * p) / sw)
    mean_r = float(np.sum(w * r) / sw)
    dp, dr = p - mean_p, r - mean_r
    var_p = float(np.sum(w * dp * dp) / sw)
    if not var_p > 0:
        raise PairFrameError("over: no texture in the lit region")
    a = float(np.sum(w * dp * dr) / sw) / var_p
    if a == 0:
        raise PairFrameError("over/under: the two frames are uncorrelated (no common texture)")
    e = (dr - a * dp) / a                                  # mismatch in the over-focus frame's units
    avg = 0.5 * (dp + dr / a)
    gy, gx = np.gradient(avg)
    cy = (p.shape[0] - 1) / 2.0 if axis_px is None else axis_px[0]
    cx = (p.shape[1] - 1) / 2.0 if axis_px is None else axis_px[1]
    ty, tx = np.meshgrid(np.arange(p.shape[0]) - cy, np.arange(p.shape[1]) - cx, indexing="ij")
    b_c1 = tx * gx + ty * gy                               # d I / d C1, times d
    raw = float(np.sum(w * e * e) / sw)
    noise = pixel_noise_var(m) / a**2 + pixel_noise_var(p)
    e2 = max(raw - noise, 0.0)
    b2 = float(np.sum(w * b_c1 * b_c1) / sw)
    if not b2 > 0:
        raise PairFrameError("over/under: no intensity gradient (no texture to compare)")
    cost = 0.5 * defocus_m * np.sqrt(e2 / b2)
    # Linear model: e = -(2 / d) (C1 b_c1 + A1x (tx gx - ty gy) + A1y (ty gx + tx gy)).
    basis = np.stack([b_c1, tx * gx - ty * gy, ty * gx + tx * gy], axis=-1).reshape(-1, 3)
    sq = np.sqrt(w).ravel()
    vec, *_ = np.linalg.lstsq(basis * sq[:, None], -0.5 * defocus_m * e.ravel() * sq, rcond=None)
    return PairFeatures(float(cost), (float(vec[0]), float(vec[1]), float(vec[2])), a,
                        float(noise / raw) if raw > 0 else 1.0, tensor_estimate(p, m, defocus_m), float(linear_m))


def gradient_tensor(image: np.ndarray) -> np.ndarray:
    """The lit disc's mean intensity-gradient structure tensor over its mean intensity squared (1/px^2),
    with the pixel noise's contribution (``s^2 / 2`` per central-difference component) removed."""
    img = np.asarray(image, float)
    w = illumination_taper(img)
    sw = float(w.sum())
    mean = float(np.sum(w * img) / sw)
    gy, gx = np.gradient(img)
    t = np.array([[np.sum(w * gx * gx), np.sum(w * gx * gy)], [np.sum(w * gx * gy), np.sum(w * gy * gy)]]) / sw
    t -= np.eye(2) * pixel_noise_var(img) / 2.0
    return t / mean**2


def tensor_estimate(over: np.ndarray, under: np.ndarray, defocus_m: float) -> tuple[float, float, float]:
    """``(C1, A1x, A1y)`` (m, image axes) from the pair's gradient structure tensors.

    ``T+- = (d I +- N)^T G (d I +- N)`` with ``G`` the sample's own gradient tensor (the same for
    both frames when the texture is statistically uniform): ``N`` is the symmetric matrix for which
    ``P^-1 T+ P^-1 = Q^-1 T- Q^-1`` (``P = I + N/d``, ``Q = I - N/d``), solved by least squares
    from ``N = 0`` inside ``|N| < 0.95 d``. Measured on nionswift-usim (d = 400 nm): A1 within ~10 %
    out to 300 nm, C1 with the right sign but ~half its size (the sample regions of the two frames
    differ in size by ``(d + C1) / (d - C1)``); an estimate for stepping towards focus, not a
    measurement."""
    from scipy.optimize import least_squares

    tp, tm = gradient_tensor(over), gradient_tensor(under)

    def residual(q: np.ndarray) -> list[float]:
        n = np.array([[q[0] + q[1], q[2]], [q[2], q[0] - q[1]]])
        pi, qi = np.linalg.inv(np.eye(2) + n), np.linalg.inv(np.eye(2) - n)
        gp, gm = pi @ tp @ pi, qi @ tm @ qi
        dd = 2.0 * (gp - gm) / np.trace(gp + gm)
        return [dd[0, 0], dd[1, 1], dd[0, 1]]

    if not (np.trace(tp) > 0 and np.trace(tm) > 0):
        return (0.0, 0.0, 0.0)
    sol = least_squares(residual, np.zeros(3), bounds=([-0.95] * 3, [0.95] * 3))
    return (float(sol.x[0] * defocus_m), float(sol.x[1] * defocus_m), float(sol.x[2] * defocus_m))


def knob_step(vector_m: tuple[float, float, float], aberrations: list[str], camera_axes: str = "yx") -> np.ndarray:
    """The knob change (m, one per aberration) that cancels a pair's ``(C1, A1x, A1y)`` estimate.

    ``vector_m`` is in the image's axes (x = column, y = row). camera_axes ``"yx"``: rows are the
    instrument's y (numpy images, Nion/usim), so the image axes are the instrument's; ``"xy"``:
    axis 0 is x (beamloop's twin), i.e. x and y swapped, which changes the sign of A1x
    (``theta_x^2 - theta_y^2``) and leaves C1 and A1y. A rotated or flipped camera is not handled
    here (the policy verifies each step with the next pair, so a wrong mapping costs frames, not
    the result). Aberrations other than C10/C12.x/C12.y get 0."""
    if camera_axes not in ("yx", "xy"):
        raise ValueError(f"camera_axes: must be 'yx' or 'xy', got {camera_axes!r}")
    c1, a1x, a1y = vector_m
    if camera_axes == "xy":
        a1x = -a1x
    comp = {"C10": c1, "C12.x": a1x, "C12.y": a1y}
    return -np.array([comp.get(a, 0.0) for a in aberrations], float)
