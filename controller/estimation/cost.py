"""Fourier-ellipse cost of a Ronchigram (the ASIMOV D1.2 section 3 feature), pure numpy.

Physics: in the shadow image of an amorphous sample, the sample position seen at beam angle
``theta`` is ``x(theta) = grad chi(theta) / k``. With defocus C1 and two-fold astigmatism A1 the
map is linear, ``x = M theta`` with ``M = [[C1 + A1x, A1y], [A1y, C1 - A1x]]`` (metres per
radian), so the sample's speckle appears demagnified by ``M``: the Ronchigram's spatial
frequencies spread in proportion to ``M``. Its power spectrum is therefore an ellipse whose
axes are ``|C1 +- |A1||`` times the sample's own bandwidth: a small circle when both are small.
Axial coma B2 (and C3) make ``M`` vary across the aperture, which widens the ellipse further.

Recipe (as ASIMOV): take the Fourier transform of the Ronchigram, express its amplitude in dB,
interpret it as a 2-D Gaussian (weights = dB above the noise floor), compute its covariance
and take the ellipse axes from the covariance eigenvalues. The cost penalises both axes (their
root-sum-square, see :attr:`EllipseFeatures.cost`).

Units: frequencies are in cycles per pixel of the Ronchigram; the cost is dimensionless
(cycles per pixel). It is a monotonic proxy for the aberration magnitude, not a measurement in
metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EllipseFeatures:
    """The Gaussian/ellipse fit of a Ronchigram's Fourier amplitude.

    major/minor: standard deviations (square roots of the covariance eigenvalues) along the
    ellipse axes, in cycles per pixel (major >= minor); angle: direction of the major axis (rad,
    from the image's second array axis towards the first, in (-pi/2, pi/2]); resolved: False
    when the frame shows no resolvable speckle (see :func:`fourier_ellipse`); lowk_snr: mean
    low-frequency power over the noise level; cost: ``hypot(major, minor)``.
    """

    major: float
    minor: float
    angle: float
    resolved: bool = True
    lowk_snr: float = float("nan")

    @property
    def cost(self) -> float:
        """Root-sum-square of the axes, ``sqrt(major^2 + minor^2)`` (cycles/px).

        For ``x = M theta`` this is proportional to ``sqrt(C1^2 + |A1|^2)``, the Euclidean
        residual. (The plain sum of the axes is ``2 max(|C1|, |A1|)`` and so blind to A1
        while ``|A1| < |C1|``.)"""
        return float(np.hypot(self.major, self.minor))

    @property
    def ellipticity(self) -> float:
        """``1 - minor / major``: 0 for a circle (no astigmatism), towards 1 for a line."""
        return 0.0 if self.major <= 0 else 1.0 - self.minor / self.major


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"image: expected a 2-D Ronchigram, got shape {img.shape}")
    if min(img.shape) < 8:
        raise ValueError(f"image: too small for a Fourier fit ({img.shape}); need at least 8x8")
    img = img.astype(float, copy=False)
    if not np.all(np.isfinite(img)):
        raise ValueError("image: contains NaN or infinite pixels")
    if np.ptp(img) == 0:
        raise ValueError("image: is constant (no beam or saturated camera); no cost can be computed")
    return img


def illumination_taper(image: np.ndarray, erode_px: int = 2, soften_px: float = 2.0) -> np.ndarray:
    """A soft mask (0..1) of the illuminated disc of a Ronchigram.

    The condenser aperture's sharp edge would put streaks at all frequencies into the Fourier
    transform; tapering it off over ``soften_px`` pixels (after eroding by ``erode_px``) leaves
    only the speckle. Pixels brighter than a quarter of the bright pixels' median count as lit.
    """
    from scipy import ndimage

    img = _check_image(image)
    smooth = ndimage.uniform_filter(img, 5)
    bright = smooth[smooth > np.quantile(smooth, 0.5)]
    lit = smooth > 0.25 * float(np.median(bright))
    if erode_px > 0:
        lit = ndimage.binary_erosion(lit, iterations=erode_px)
    taper = ndimage.gaussian_filter(lit.astype(float), soften_px) if soften_px > 0 else lit.astype(float)
    return taper * lit


def speckle_power_spectrum(image: np.ndarray, counts_per_electron: float = 1.0,
                           smooth_bins: float = 1.5) -> tuple[np.ndarray, float]:
    """Centred power spectrum of a Ronchigram's speckle and its shot-noise level (both in electrons^2).

    The image (counts) is divided by ``counts_per_electron`` (the camera gain), reduced to its
    lit disc with a soft taper (:func:`illumination_taper`), its mean inside the disc removed,
    Fourier transformed, and the periodogram smoothed with a Gaussian of ``smooth_bins``
    frequency bins (which averages down the noise of single bins). Poisson noise is white with
    power ``sum(electrons * taper^2)`` per bin: that is returned as the noise level (an upper
    bound where a detector PSF damps high frequencies). Zero frequency is at ``(ny//2, nx//2)``.
    """
    from scipy import ndimage

    if not (np.isfinite(counts_per_electron) and counts_per_electron > 0):
        raise ValueError(f"counts_per_electron: camera gain must be > 0, got {counts_per_electron!r}")
    img = _check_image(image) / float(counts_per_electron)
    taper = illumination_taper(img)
    if taper.sum() <= 0:
        raise ValueError("image: no illuminated region found")
    mean = float(np.sum(img * taper) / np.sum(taper))
    power = np.abs(np.fft.fft2((img - mean) * taper)) ** 2
    if smooth_bins > 0:
        power = ndimage.gaussian_filter(power, smooth_bins, mode="wrap")
    noise = float(np.sum(np.clip(img, 0, None) * taper**2))
    return np.fft.fftshift(power), max(noise, 1e-30)


def fourier_ellipse(
    image: np.ndarray,
    counts_per_electron: float = 1.0,
    weighting: str = "power",
    margin_db: float = 3.0,
    dc_radius: float = 1.5,
    min_lowk_snr: float = 4.0,
) -> EllipseFeatures:
    """Fit the Fourier transform of ``image`` (a Ronchigram in counts) as a 2-D Gaussian.

    counts_per_electron: camera gain, needed to know the shot-noise level. weighting:
    ``"power"`` (default) takes the smoothed spectral power in excess of ``margin_db`` above
    the shot-noise level as the Gaussian's density, so the covariance is the second moment of
    the speckle's power spectrum (for ``x = M theta`` it is ``M^T Sigma_sample M``: its trace
    grows as ``C1^2 + |A1|^2``); ``"db"`` (ASIMOV's figure 7) takes the amplitude in dB above
    that level instead. dc_radius: frequencies within this many bins of zero are ignored
    (illumination, not speckle).

    Far from focus the shadow image's speckle becomes finer than the camera resolves and the
    Ronchigram looks flat again, which would fake a small ellipse (a false minimum hundreds of
    nm out). Near focus the Ronchigram always carries coarse structure (the magnified sample,
    the diffuse halo), so: if the mean power at low frequencies (``dc_radius`` to 8 bins) is
    less than ``min_lowk_snr`` times the noise level, or nothing rises above the noise at all,
    the frame counts as unresolved and its spectrum as flat: axes ``1/sqrt(12)`` cycles/px
    each (the largest cost there is), ``resolved = False``.

    Returns the ellipse axes in cycles per pixel. Raises ``ValueError`` naming ``image`` for
    NaN, constant or non-2-D input.
    """
    if weighting not in ("power", "db"):
        raise ValueError(f"weighting: must be 'power' or 'db', got {weighting!r}")
    power, noise = speckle_power_spectrum(image, counts_per_electron)
    ny, nx = power.shape
    ky = (np.arange(ny) - ny // 2) / ny
    kx = (np.arange(nx) - nx // 2) / nx
    KX, KY = np.meshgrid(kx, ky)
    thr = noise * 10.0 ** (margin_db / 10.0)
    if weighting == "db":
        w = 10.0 * np.log10(np.maximum(power, 1e-30) / thr)
    else:
        w = (power - thr) / noise
    w[w < 0] = 0.0
    w[(KX * nx) ** 2 + (KY * ny) ** 2 <= dc_radius**2] = 0.0
    r2 = (KX * nx) ** 2 + (KY * ny) ** 2
    lowk = (r2 > dc_radius**2) & (r2 < 64.0)
    lowk_snr = float(power[lowk].mean() / noise) if lowk.any() else 0.0
    total = w.sum()
    if total <= 1e-9 * w.size or lowk_snr < min_lowk_snr:
        flat = float(1.0 / np.sqrt(12.0))
        return EllipseFeatures(flat, flat, 0.0, resolved=False, lowk_snr=lowk_snr)
    cxx = float(np.sum(w * KX * KX) / total)
    cyy = float(np.sum(w * KY * KY) / total)
    cxy = float(np.sum(w * KX * KY) / total)
    evals, evecs = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    evals = np.clip(evals, 0.0, None)
    vx, vy = evecs[:, 1]
    angle = float(np.arctan2(vy, vx))
    if angle <= -np.pi / 2:
        angle += np.pi
    elif angle > np.pi / 2:
        angle -= np.pi
    return EllipseFeatures(float(np.sqrt(evals[1])), float(np.sqrt(evals[0])), angle, True, lowk_snr)


def ellipse_cost(image: np.ndarray, **kwargs) -> float:
    """The scalar alignment cost of a Ronchigram: root-sum-square of the Fourier-ellipse axes (cycles/pixel)."""
    return fourier_ellipse(image, **kwargs).cost


@dataclass(frozen=True)
class ShadowFeatures:
    """The shadow-image cost of a Ronchigram (see :func:`shadow_cost`).

    width: the Fourier-ellipse root-sum-square width without the unresolved flag (cycles/px);
    gradient: the lit disc's RMS intensity gradient over its mean intensity (1/px); cost:
    ``width * gradient**0.25`` (dimensionless proxy, grows with the local magnification error).
    """

    width: float
    gradient: float
    ellipse: EllipseFeatures
    power: float = 0.25

    @property
    def cost(self) -> float:
        """``width * gradient**power`` (power 1/4 by default, see :func:`shadow_cost`)."""
        return float(self.width * max(self.gradient, 0.0) ** self.power)


def relative_gradient(image: np.ndarray) -> float:
    """RMS intensity gradient of the lit disc over its mean intensity (1/px), shot noise included.

    For a geometric shadow ``I(theta) = S(M theta)`` the gradient is ``M^T grad S``, so its RMS is
    proportional to ``|M|`` (``sqrt(C1^2 + |A1|^2)``) whatever the sample's texture scale, as long
    as the camera resolves it: it tracks defocus where the spectrum's *shape* does not (a
    scale-free sample, e.g. usim's flakes, whose spectrum only changes in amplitude)."""
    img = _check_image(image)
    taper = illumination_taper(img)
    if taper.sum() <= 0:
        raise ValueError("image: no illuminated region found")
    mean = float(np.sum(img * taper) / np.sum(taper))
    if not mean > 0:
        raise ValueError("image: mean intensity of the lit disc is not positive")
    gy, gx = np.gradient(img)
    return float(np.sqrt(np.sum(taper * (gx**2 + gy**2)) / np.sum(taper)) / mean)


def shadow_cost(image: np.ndarray, counts_per_electron: float = 1.0, power: float = 0.25) -> ShadowFeatures:
    """A Ronchigram cost that works whether or not the sample's texture has a length scale.

    Two measures of the local magnification error ``|M|`` of the shadow image: the spectral
    width (the Fourier ellipse, power weighting, no unresolved flag) grows with ``|M|`` when the
    texture has a scale (amorphous films: the twin, multislice); the relative RMS gradient
    (:func:`relative_gradient`) grows with ``|M|`` for any resolved texture, including
    scale-free ones whose spectral width stays flat (measured on nionswift-usim: width
    0.012-0.014 cycles/px from 10 to 300 nm, gradient x10). Beyond the camera's resolution the
    gradient falls again (pixels average the speckle away: twin ~ ``|M|^-0.4`` past 100 nm) while
    the width keeps growing (twin, 100 -> 250 nm: width ~ r^0.18, gradient ~ r^-0.29), so the
    gradient enters with the power 1/4: ``log cost = log width + log(gradient) / 4`` keeps a
    positive slope out to the search window's edge on both (usim: width flat, gradient ~ r) and a
    single minimum at focus (docs/alignment.md, "A cost for any texture"). A frame with nothing
    above the noise (usim at focus) gets the width of one frequency bin, the finest the frame
    can show (not the flat-spectrum maximum: within a search window a featureless frame is the
    focus, not a fake)."""
    feat = fourier_ellipse(image, counts_per_electron, min_lowk_snr=0.0)
    width = float(feat.cost) if feat.resolved else float(np.hypot(1.0, 1.0) / max(np.shape(image)))
    if not (np.isfinite(power) and power >= 0):
        raise ValueError(f"power: gradient exponent must be finite and >= 0, got {power!r}")
    return ShadowFeatures(width, relative_gradient(image), feat, float(power))


def gradient_anisotropy(image: np.ndarray) -> tuple[float, float]:
    """Direction and anisotropy of the lit disc's intensity gradient (its structure tensor).

    Returns ``(phi, ratio)``: ``phi`` the principal gradient direction (rad, from the image's
    column axis x towards its row axis y), ``ratio`` the smaller over the larger eigenvalue
    (0: every gradient parallel, a single ramp; 1: isotropic). For ``I = S(M theta)`` the
    tensor is ``M^T <grad S grad S^T> M``: rank one when the frame shows one ramp of the
    sample, and then one combination of C1/A1 is invisible in the frame."""
    img = _check_image(image)
    taper = illumination_taper(img)
    gy, gx = np.gradient(img)
    t = np.array([[np.sum(taper * gx * gx), np.sum(taper * gx * gy)],
                  [np.sum(taper * gx * gy), np.sum(taper * gy * gy)]])
    # White pixel noise adds var/2 to each central-difference component: estimate the pixel
    # variance from second differences along both axes (a ramp has none) and remove it.
    d2 = np.concatenate([(img[1:-1, :] - 0.5 * (img[:-2, :] + img[2:, :])).ravel(),
                         (img[:, 1:-1] - 0.5 * (img[:, :-2] + img[:, 2:])).ravel()])
    t -= np.eye(2) * (np.var(d2) / 1.5) / 2.0 * np.sum(taper)
    evals, evecs = np.linalg.eigh(t)
    vx, vy = evecs[:, 1]
    return float(np.arctan2(vy, vx)), float(max(evals[0], 0.0) / max(evals[1], 1e-300))


def blind_direction(phi: float, aberrations: list[str]) -> np.ndarray | None:
    """The knob direction (unit vector over ``aberrations``) that leaves ``M^T u`` unchanged.

    ``u = (cos phi, sin phi)`` is a single ramp's gradient direction; C10 moves ``M^T u`` by
    ``(cos, sin)``, C12.x by ``(cos, -sin)``, C12.y by ``(sin, cos)`` (``M = [[C1 + A1x, A1y],
    [A1y, C1 - A1x]]``). Returns the null vector of that 2 x n map, or None if there is none
    (other aberrations, or the map has full column rank)."""
    cols = {"C10": (np.cos(phi), np.sin(phi)), "C12.x": (np.cos(phi), -np.sin(phi)),
            "C12.y": (np.sin(phi), np.cos(phi))}
    if not aberrations or any(a not in cols for a in aberrations):
        return None
    j = np.array([cols[a] for a in aberrations]).T  # 2 x n
    _, sv, vt = np.linalg.svd(j)
    if len(aberrations) <= 2 and sv[-1] > 0.2 * sv[0]:
        return None
    n = vt[-1]
    return n / np.linalg.norm(n)
