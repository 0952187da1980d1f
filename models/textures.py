"""Sample textures for the domain randomisation: isotropic random fields of chosen spectrum.

The alignment network must not learn one sample's texture scale as physics (issue 12: the twin's
amorphous carbon has one; usim's and multislice's speckle are 2.5x coarser and 2x finer). So the
training data also use samples that are *random fields* with a randomised correlation length
``L`` (metres) and spectrum kind:

* ``gaussian``: ``S(q) ~ exp(-(pi L q)^2)`` (smooth blobs, correlation length ~ L);
* ``exponential``: ``S(q) ~ (1 + (2 pi L q)^2)^-1.5`` (exponential correlation, fine detail to the
  band limit: rough films);
* ``ring``: a shell at ``|q| = 1/L`` of relative width 0.2 (amorphous short-range order, like the
  2 A^-1 ring of carbon at L ~ 2 A);
* ``power``: ``S(q) ~ q^-2.5`` above ``0.2 / L`` (fractal-like, all scales).

``q`` is the spatial frequency (1/m) at the sample. Two uses: :func:`phase_object` builds a
wave-optical transmission ``exp(i phi)`` on a periodic grid for the twin; :class:`PlaneWaves`
draws a random Fourier series (``n`` plane waves, frequencies importance-sampled from ``q S(q)``)
that can be evaluated anywhere, for the geometric renderer
(:mod:`beamloop.models.geometric_ronchigram`). Both have zero mean and unit variance before any
blur. Pure numpy/scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("gaussian", "exponential", "ring", "power")


def spectrum(kind: str, q_per_m: np.ndarray, corr_len_m: float) -> np.ndarray:
    """Unnormalised isotropic 2-D power spectral density ``S(|q|)`` of texture ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"texture kind must be one of {KINDS}, got {kind!r}")
    if not (math.isfinite(corr_len_m) and corr_len_m > 0):
        raise ValueError(f"corr_len_m must be positive metres, got {corr_len_m!r}")
    q = np.abs(np.asarray(q_per_m, dtype=np.float64))
    L = float(corr_len_m)
    if kind == "gaussian":
        return np.exp(-((math.pi * L * q) ** 2))
    if kind == "exponential":
        return (1.0 + (2 * math.pi * L * q) ** 2) ** -1.5
    if kind == "ring":
        return np.exp(-0.5 * ((q * L - 1.0) / 0.2) ** 2)
    q0 = 0.2 / L
    qs = np.maximum(q, 1e-3 * q0)
    return qs**-2.5 * qs**4 / (qs**4 + q0**4)


def phase_object(n_px: int, pixel_m: float, kind: str, corr_len_m: float, phase_rms_rad: float,
                 rng: np.random.Generator, blur_sigma_m: float = 0.0) -> np.ndarray:
    """Periodic phase-object transmission ``exp(i phi)`` (complex64, ``n_px x n_px``).

    ``phi`` is a Gaussian random field of spectrum ``kind`` with correlation length
    ``corr_len_m`` and rms ``phase_rms_rad`` (before ``blur_sigma_m``, a Gaussian source-size
    envelope), band-limited to 2/3 of the grid Nyquist like the twin's atomic samples
    (``beamloop.sim.samples.transmission``).
    """
    from scipy import fft as sfft

    if n_px < 8:
        raise ValueError(f"n_px must be >= 8, got {n_px!r}")
    q0 = np.fft.fftfreq(n_px, d=pixel_m)
    q1 = np.fft.rfftfreq(n_px, d=pixel_m)
    qq = np.sqrt(q0[:, None] ** 2 + q1[None, :] ** 2)
    band = qq <= (2.0 / 3.0) * (0.5 / pixel_m)
    amp = np.sqrt(spectrum(kind, qq, corr_len_m)) * band
    amp[0, 0] = 0.0
    noise = sfft.rfft2(rng.standard_normal((n_px, n_px)))
    field = sfft.irfft2(noise * amp, s=(n_px, n_px))
    field *= phase_rms_rad / max(float(field.std()), 1e-30)
    if blur_sigma_m > 0:
        field = sfft.irfft2(sfft.rfft2(field) * np.exp(-2 * (math.pi * blur_sigma_m * qq) ** 2), s=(n_px, n_px))
    t = np.exp(1j * field)
    keep = (q0[:, None] ** 2 + q0[None, :] ** 2) <= ((2.0 / 3.0) * (0.5 / pixel_m)) ** 2
    return sfft.ifft2(sfft.fft2(t) * keep).astype(np.complex64)


@dataclass
class PlaneWaves:
    """A random Fourier series ``n(x) = sqrt(2 / N) sum_j a_j cos(2 pi q_j . x + p_j)``.

    ``q`` (N, 2) in 1/m, ``phase`` (N,), ``amp`` (N,) (1 before any envelope): unit variance,
    zero mean, isotropic, spectrum ``kind`` up to ``q_max_per_m``.
    """

    q: np.ndarray
    phase: np.ndarray
    amp: np.ndarray

    @classmethod
    def draw(cls, kind: str, corr_len_m: float, rng: np.random.Generator, n_waves: int = 128,
             q_max_per_m: float | None = None) -> "PlaneWaves":
        qmax = q_max_per_m or 6.0 / corr_len_m
        tab = np.linspace(0.0, qmax, 4097)[1:]
        cdf = np.cumsum(tab * spectrum(kind, tab, corr_len_m))
        cdf /= cdf[-1]
        r = np.interp(rng.random(n_waves), cdf, tab)
        ang = rng.uniform(0, 2 * math.pi, n_waves)
        q = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
        return cls(q=q, phase=rng.uniform(0, 2 * math.pi, n_waves), amp=np.ones(n_waves))

    def blurred(self, sigma_m: float) -> "PlaneWaves":
        """The texture seen through a Gaussian blur of rms ``sigma_m`` (source size, probe)."""
        q2 = np.sum(self.q**2, axis=1)
        return PlaneWaves(self.q, self.phase, self.amp * np.exp(-2 * (math.pi * sigma_m) ** 2 * q2))
