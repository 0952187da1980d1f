"""Beam-quality metrics: how far a probe is from the aligned goal.

Explicit (needs the true coefficients; for the twin and for training):
  ``aberration_distance`` - scaled L2 norm of the coefficient error, each coefficient scaled by
  how it enters chi at a reference angle: w_nm = (2 pi / lambda) theta_ref^(n+1) / (n+1), so
  each term is the peak phase (rad) that coefficient produces at the aperture edge.

Implicit (properties of the probe itself):
  ``pi4_aperture`` - radius (rad) of the largest centred aperture over which the aberration
  phase varies by less than pi/4 peak-to-peak (the classic "pi/4 criterion"), and
  ``rayleigh_resolution`` 0.61 lambda / alpha (m); `probe_metrics` uses the usable aperture
  min(alpha_pi4, convergence semi-angle) and also gives Angstrom.
  ``strehl_ratio`` - peak probe intensity relative to the unaberrated probe, same aperture.
  ``probe_d50`` - diameter (m) of the circle about the probe's centroid that holds 50 % of
  the probe current.

SI units throughout (m, rad).
"""

from __future__ import annotations

import math

import numpy as np

from beamloop.sim.aberrations import NAMES, Aberrations, coefficient_matrix, chi, chi_gradient

__all__ = [
    "order_weights",
    "aberration_distance",
    "pi4_aperture",
    "rayleigh_resolution",
    "strehl_ratio",
    "probe_intensity",
    "probe_d50",
    "probe_metrics",
]

_ORDER = np.array([int(n[1]) for n in NAMES])


def order_weights(wavelength_m: float, theta_ref_rad: float) -> np.ndarray:
    """Per-coefficient weights (rad/m) in :data:`NAMES` order: (2 pi / lambda) theta^(n+1)/(n+1)."""
    if not (wavelength_m > 0 and theta_ref_rad > 0):
        raise ValueError("wavelength_m and theta_ref_rad must be positive")
    return 2 * math.pi / wavelength_m * theta_ref_rad ** (_ORDER + 1) / (_ORDER + 1)


def aberration_distance(ab, goal: Aberrations | None = None, *, wavelength_m: float,
                        theta_ref_rad: float, names=None) -> np.ndarray | float:
    """Scaled L2 distance (rad) between ``ab`` and ``goal`` (default: all zero).

    ``ab`` may be one :class:`Aberrations` (-> float) or a batch (-> (N,) array). ``names``
    restricts the sum to some coefficients (e.g. the ones being aligned).
    """
    C, single = coefficient_matrix(ab)
    if goal is not None:
        C = C - goal.vector[None, :]
    w = order_weights(wavelength_m, theta_ref_rad)
    if names is not None:
        idx = [NAMES.index(_canon(n)) for n in names]
        C, w = C[:, idx], w[idx]
    d = np.sqrt(np.sum((C * w) ** 2, axis=1))
    return float(d[0]) if single else d


def _canon(name: str) -> str:
    from beamloop.sim.aberrations import canonical_name

    return canonical_name(name)


def pi4_aperture(ab: Aberrations, wavelength_m: float, max_angle_rad: float = 0.1,
                 n_radii: int = 400, n_phi: int = 128) -> float:
    """Largest centred aperture semi-angle (rad) with peak-to-peak chi below pi/4.

    chi is sampled on a polar grid (``n_radii`` radii up to ``max_angle_rad``, ``n_phi``
    azimuths); the answer is accurate to ``max_angle_rad / n_radii``. Tilt (C01) is not part
    of :class:`Aberrations`, so nothing is subtracted but the piston chi(0) = 0.
    """
    r = np.linspace(0, max_angle_rad, n_radii + 1)[1:]
    ph = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    R, P = np.meshgrid(r, ph, indexing="ij")
    c = chi(ab, R * np.cos(P), R * np.sin(P), wavelength_m)
    hi = np.maximum.accumulate(np.maximum(c.max(axis=1), 0.0))
    lo = np.minimum.accumulate(np.minimum(c.min(axis=1), 0.0))
    ok = (hi - lo) < math.pi / 4
    if ok.all():
        return float(max_angle_rad)
    first_bad = int(np.argmin(ok))
    return float(r[first_bad - 1]) if first_bad > 0 else 0.0


def rayleigh_resolution(alpha_rad: float, wavelength_m: float) -> float:
    """0.61 lambda / alpha (m); infinite for alpha = 0."""
    return math.inf if alpha_rad <= 0 else 0.61 * wavelength_m / alpha_rad


def _probe_grid(ab: Aberrations, wavelength_m: float, alpha_rad: float, pixel_m: float | None,
                max_px: int) -> tuple[int, float]:
    """(n, pixel) of a real-space grid that resolves the probe and holds its footprint."""
    th = alpha_rad * np.sqrt(np.linspace(0.02, 1, 10))
    phi = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    T, P = np.meshgrid(th, phi, indexing="ij")
    gx, gy = chi_gradient(ab, T * np.cos(P), T * np.sin(P), wavelength_m)
    r = float(np.sqrt(gx**2 + gy**2).max()) * wavelength_m / (2 * math.pi)
    extent = 2 * r * 1.3 + 40 * wavelength_m / alpha_rad
    # 2 to 4 px per lambda/alpha (the angular grid must still cover the aperture)
    pix = pixel_m or min(0.45 * wavelength_m / alpha_rad, max(0.25 * wavelength_m / alpha_rad, extent / max_px))
    n = int(2 ** math.ceil(math.log2(max(64, extent / pix))))
    if n > max_px:
        raise ValueError(
            f"probe footprint {extent * 1e9:.1f} nm needs a {n}-px grid (> max_px={max_px}); "
            "aberrations too large for a probe metric at this resolution"
        )
    return n, pix


def probe_intensity(ab: Aberrations, wavelength_m: float, alpha_rad: float,
                    pixel_m: float | None = None, max_px: int = 4096) -> tuple[np.ndarray, float]:
    """Probe intensity at the sample (sum = 1) and its pixel size (m), probe near the centre."""
    n, pix = _probe_grid(ab, wavelength_m, alpha_rad, pixel_m, max_px)
    q = np.fft.fftfreq(n, d=pix)
    qx, qy = np.meshgrid(q, q, indexing="ij")
    tx, ty = qx * wavelength_m, qy * wavelength_m
    dth = wavelength_m / (n * pix)
    amp = np.clip((alpha_rad - np.hypot(tx, ty)) / dth + 0.5, 0, 1)
    inside = amp > 0
    wave = np.zeros((n, n), complex)
    wave[inside] = amp[inside] * np.exp(-1j * chi(ab, tx[inside], ty[inside], wavelength_m))
    p = np.fft.fftshift(np.fft.ifft2(wave))
    inten = np.abs(p) ** 2
    return inten / inten.sum(), pix


def strehl_ratio(ab: Aberrations, wavelength_m: float, alpha_rad: float, max_px: int = 4096) -> float:
    """Peak probe intensity / peak of the unaberrated probe (same aperture, same grid), 0..1."""
    inten, pix = probe_intensity(ab, wavelength_m, alpha_rad, max_px=max_px)
    ref, _ = probe_intensity(Aberrations(), wavelength_m, alpha_rad, pixel_m=pix, max_px=max_px)
    # the reference must be on the same pixel grid; its n may differ, compare peak densities
    return float(inten.max() / ref.max())


def probe_d50(ab: Aberrations, wavelength_m: float, alpha_rad: float, max_px: int = 4096) -> float:
    """Diameter (m) about the intensity centroid that contains 50 % of the probe current."""
    inten, pix = probe_intensity(ab, wavelength_m, alpha_rad, max_px=max_px)
    n = inten.shape[0]
    ii = np.arange(n)
    cx = float((inten.sum(axis=1) * ii).sum())
    cy = float((inten.sum(axis=0) * ii).sum())
    X, Y = np.meshgrid(ii - cx, ii - cy, indexing="ij")
    r = np.hypot(X, Y).ravel()
    order = np.argsort(r)
    cum = np.cumsum(inten.ravel()[order])
    k = int(np.searchsorted(cum, 0.5))
    return float(2 * r[order][k] * pix)


def probe_metrics(ab: Aberrations, energy_eV: float, alpha_rad: float,
                  max_angle_rad: float = 0.1) -> dict[str, float | bool | str]:
    """All implicit metrics for a probe with aperture ``alpha_rad`` at ``energy_eV``.

    ``pi4_aperture_rad`` is searched up to ``max_angle_rad``; ``pi4_aperture_capped`` says the
    search hit that cap (the phase stays flat beyond it: no aberration limit found). The
    Rayleigh resolution uses the *usable* aperture, the smaller of the pi/4 aperture and the
    convergence semi-angle (``rayleigh_limited_by`` says which): an aligned probe is limited by
    its aperture, 0.61 lambda / alpha.
    """
    from beamloop.sim.optics import electron_wavelength

    lam = electron_wavelength(energy_eV)
    a4 = pi4_aperture(ab, lam, max_angle_rad=max_angle_rad)
    usable = min(a4, alpha_rad)
    res = rayleigh_resolution(usable, lam)
    return {
        "pi4_aperture_rad": a4,
        "pi4_aperture_capped": bool(a4 >= max_angle_rad),
        "pi4_search_cap_rad": float(max_angle_rad),
        "convergence_semiangle_rad": float(alpha_rad),
        "usable_aperture_rad": usable,
        "rayleigh_limited_by": "convergence aperture" if alpha_rad <= a4 else "aberrations (pi/4 aperture)",
        "rayleigh_resolution_m": res,
        "rayleigh_resolution_angstrom": res * 1e10,
        "strehl": strehl_ratio(ab, lam, alpha_rad),
        "d50_m": probe_d50(ab, lam, alpha_rad),
        "distance_rad": aberration_distance(ab, wavelength_m=lam, theta_ref_rad=alpha_rad),
    }
