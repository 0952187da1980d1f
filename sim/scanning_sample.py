"""A sample worth scanning: a crystalline film with precipitates, some of them charged.

Mesoscale model for autonomous 4D-STEM experiments (docs/explore.md). A film of smoothly
varying thickness (random wedge + correlated roughness) of a square-lattice matrix holds
spherical precipitates of a heavier phase, each wrapped in a solute-depleted shell. What
differs, per precipitate, and what a 4D-STEM measurement sees:

* **charge.** Segregation at the shell leaves a space-charge double layer: the projected
  potential steps by ``Phi0`` (V m) across the shell (an erfc profile centred mid-shell, width
  the shell's), which deflects the beam radially there, so the centre of mass (CoM) of the
  diffraction pattern shows a ring on the shell. ``Phi0`` grows with the
  shell's depletion ``s`` (in [0, 1]) times a random factor: the survey shows the shell as a
  dark rim, so HAADF patches are *correlated with* the field, not identical to it.
* **mean inner potential.** Every precipitate (charged or not) has a higher mean inner
  potential than the matrix, so all of them also deflect the beam at their rims (weaker,
  sharper): a decoy signal the survey cannot tell from the real one by brightness.
* **order.** Some precipitates are chemically ordered (order parameter ``eta``): a
  superlattice of twice the matrix period adds half-order diffraction disks (a disk
  intensity ratio), independent of the charge.

Fields are built on a fine real-space grid (projection approximation, single slice):
projected potential ``v_z`` (V m) split into a smooth part (mean inner potential x chord
length + space charge) and lattice Fourier amplitudes (V m) of the matrix fundamental and
of the superlattice; and the fraction of electrons scattered incoherently to high angles
(thermal diffuse scattering, ``yield_per_m`` x chord length), which is what an HAADF
detector collects in the incoherent-imaging approximation (Z-contrast ~ Z^1.7 folded into
the per-phase yields). Pure physics: numpy only, SI units (m, V, V m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Precipitate", "FilmParams", "PrecipitateFilm", "SampleFields", "random_film", "chord"]


def chord(r: np.ndarray, radius: float) -> np.ndarray:
    """Projected chord length (m) through a sphere of ``radius`` (m) at distance ``r`` (m)."""
    return 2.0 * np.sqrt(np.clip(radius * radius - r * r, 0.0, None))


@dataclass(frozen=True)
class Precipitate:
    """One spherical precipitate. Positions/lengths in metres (scan-field coordinates).

    depletion: 0..1, how solute-depleted the shell is (dark rim in HAADF, and what the
    space charge follows); charge_Vm: peak projected space-charge potential (V m, signed);
    order: 0..1 superlattice order parameter; z_ratio: HAADF yield relative to the matrix.
    """

    x_m: float
    y_m: float
    radius_m: float
    shell_m: float
    depletion: float
    charge_Vm: float
    order: float
    z_ratio: float


@dataclass(frozen=True)
class FilmParams:
    """Material constants of the film (SI). Defaults: a generic oxide-like matrix at 300 kV."""

    thickness_m: float = 25e-9              # mean film thickness
    thickness_rms_m: float = 2e-9           # correlated roughness
    wedge_m_per_m: float = 0.08             # max thickness slope of the random wedge (dimensionless)
    roughness_corr_m: float = 10e-9         # correlation length of the roughness
    lattice_m: float = 0.4e-9               # square matrix lattice constant
    lattice_V: float = 2.0                  # matrix lattice Fourier coefficient (V) per {10} reflection
    superlattice_V: float = 0.8             # superlattice coefficient (V) at full order
    mip_matrix_V: float = 15.0              # mean inner potential of the matrix
    mip_excess_V: float = 1.5               # precipitate MIP above the matrix
    mip_shell_V: float = -0.5               # shell MIP relative to the matrix
    yield_per_m: float = 3.0e6              # HAADF (high-angle incoherent) scattering per metre of matrix
    shell_yield_drop: float = 0.6           # shell yield = matrix x (1 - drop x depletion)
    max_charge_Vm: float = 1.2e-7           # space-charge potential step at depletion 1 (V m)
    edge_blur_m: float = 0.3e-9             # interfaces are this sharp (Gaussian sigma)


@dataclass
class SampleFields:
    """The sample on a fine grid (axis 0 = x, axis 1 = y), pixel ``pixel_m``, origin
    ``origin_m`` = position of pixel (0, 0) in scan-field coordinates.

    vz_smooth_Vm: mesoscale projected potential (V m); lattice_Vm / superlattice_Vm: local
    Fourier amplitudes (V m) of the matrix and superlattice cosines; diffuse_yield: fraction
    of electrons scattered incoherently to high angles (dimensionless)."""

    pixel_m: float
    origin_m: tuple[float, float]
    vz_smooth_Vm: np.ndarray
    lattice_Vm: np.ndarray
    superlattice_Vm: np.ndarray
    diffuse_yield: np.ndarray
    thickness_m: np.ndarray
    lattice_m: float

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        n0, n1 = self.vz_smooth_Vm.shape
        x = self.origin_m[0] + np.arange(n0) * self.pixel_m
        y = self.origin_m[1] + np.arange(n1) * self.pixel_m
        return np.meshgrid(x, y, indexing="ij")

    def projected_potential(self, window: tuple[slice, slice] | None = None) -> np.ndarray:
        """Full projected potential v_z (V m) on the grid (or a window of it)."""
        w = window or (slice(None), slice(None))
        X, Y = self.coords()
        X, Y = X[w], Y[w]
        k = 2 * math.pi / self.lattice_m
        return (self.vz_smooth_Vm[w] + self.lattice_Vm[w] * (np.cos(k * X) + np.cos(k * Y))
                + self.superlattice_Vm[w] * (np.cos(0.5 * k * X) + np.cos(0.5 * k * Y)))


def _erfc(x: np.ndarray) -> np.ndarray:
    from scipy.special import erfc

    return erfc(x)


def _gauss_blur(a: np.ndarray, sigma_px: float) -> np.ndarray:
    if sigma_px <= 0:
        return a
    f0 = np.fft.fftfreq(a.shape[0])[:, None]
    f1 = np.fft.fftfreq(a.shape[1])[None, :]
    g = np.exp(-2 * (math.pi * sigma_px) ** 2 * (f0 ** 2 + f1 ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(a) * g))


@dataclass
class PrecipitateFilm:
    """The sample: film parameters, the scan field it covers, its precipitates and the
    seed of its thickness roughness."""

    field_m: tuple[float, float]
    precipitates: tuple[Precipitate, ...]
    params: FilmParams = field(default_factory=FilmParams)
    wedge: tuple[float, float] = (0.0, 0.0)       # thickness slope (dimensionless) along x, y
    roughness_seed: int = 0

    def fields(self, pixel_m: float, shape: tuple[int, int], origin_m: tuple[float, float]) -> SampleFields:
        """Evaluate the sample on a fine grid of ``shape`` pixels of ``pixel_m`` (m) whose
        pixel (0, 0) sits at ``origin_m`` (m, scan-field coordinates)."""
        if not (pixel_m > 0 and math.isfinite(pixel_m)):
            raise ValueError(f"pixel_m must be positive (m), got {pixel_m!r}")
        p = self.params
        if pixel_m > p.lattice_m / 3:
            raise ValueError(f"pixel_m {pixel_m!r} m under-samples the {p.lattice_m} m lattice (need <= a/3)")
        n0, n1 = shape
        X, Y = np.meshgrid(origin_m[0] + np.arange(n0) * pixel_m, origin_m[1] + np.arange(n1) * pixel_m, indexing="ij")
        cx, cy = 0.5 * self.field_m[0], 0.5 * self.field_m[1]
        rng = np.random.default_rng(self.roughness_seed)
        rough = _gauss_blur(rng.standard_normal(shape), p.roughness_corr_m / pixel_m)
        rough *= p.thickness_rms_m / max(rough.std(), 1e-30)
        t = p.thickness_m + self.wedge[0] * (X - cx) + self.wedge[1] * (Y - cy) + rough
        t = np.clip(t, 0.3 * p.thickness_m, None)

        core_len = np.zeros(shape)       # chord through precipitate cores (m)
        shell_len = np.zeros(shape)      # chord through shells (m)
        core_yield = np.zeros(shape)     # sum of z_ratio x core chord
        shell_yield = np.zeros(shape)    # sum of (1 - drop depletion) x shell chord
        order_len = np.zeros(shape)      # sum of order x core chord
        charge = np.zeros(shape)         # V m
        for q in self.precipitates:
            r = np.hypot(X - q.x_m, Y - q.y_m)
            c_core = chord(r, q.radius_m)
            c_shell = chord(r, q.radius_m + q.shell_m) - c_core
            core_len += c_core
            shell_len += c_shell
            core_yield += q.z_ratio * c_core
            shell_yield += (1.0 - p.shell_yield_drop * q.depletion) * c_shell
            order_len += q.order * c_core
            # space-charge double layer across the shell: a potential step of charge_Vm
            charge += q.charge_Vm * 0.5 * _erfc((r - q.radius_m - 0.5 * q.shell_m) / (math.sqrt(2) * 0.5 * q.shell_m))
        inc_len = np.minimum(core_len + shell_len, 0.95 * t)   # precipitates live inside the film
        scale = np.where(core_len + shell_len > 0, inc_len / np.maximum(core_len + shell_len, 1e-30), 1.0)
        core_len, shell_len = core_len * scale, shell_len * scale
        core_yield, shell_yield, order_len = core_yield * scale, shell_yield * scale, order_len * scale
        matrix_len = t - core_len - shell_len

        sig = p.edge_blur_m / pixel_m
        vz = (p.mip_matrix_V * t + p.mip_excess_V * core_len + p.mip_shell_V * shell_len)
        vz = _gauss_blur(vz, sig) + charge
        lattice = _gauss_blur(p.lattice_V * t, sig)          # the precipitates are coherent with the matrix
        superl = _gauss_blur(p.superlattice_V * order_len, sig)
        y = p.yield_per_m * _gauss_blur(matrix_len + core_yield + shell_yield, sig)
        return SampleFields(pixel_m=pixel_m, origin_m=tuple(map(float, origin_m)), vz_smooth_Vm=vz,
                            lattice_Vm=lattice, superlattice_Vm=superl, diffuse_yield=np.clip(y, 0.0, 0.5),
                            thickness_m=t, lattice_m=p.lattice_m)


def random_film(seed: int, field_m: tuple[float, float] = (64e-9, 64e-9), n_precipitates: int = 9,
                radius_m: tuple[float, float] = (3.5e-9, 6.5e-9), shell_m: tuple[float, float] = (1.5e-9, 2.5e-9),
                params: FilmParams | None = None, charge_noise: float = 0.4) -> PrecipitateFilm:
    """A random film: ``n_precipitates`` placed uniformly (non-overlapping, inside the field
    with a margin), random radius, shell, HAADF brightness (z_ratio 1.5..2.3, uncorrelated
    with the charge), depletion uniform in [0, 1], charge = max_charge x depletion x
    (1 - charge_noise + charge_noise x u) with a random sign, order 0 or 0.5..1 (40 %)."""
    if n_precipitates < 0:
        raise ValueError(f"n_precipitates must be >= 0, got {n_precipitates}")
    params = params or FilmParams()
    rng = np.random.default_rng(seed)
    out: list[Precipitate] = []
    tries = 0
    while len(out) < n_precipitates:
        tries += 1
        if tries > 20000:
            raise ValueError(f"cannot place {n_precipitates} precipitates of radius {radius_m} m in a {field_m} m field")
        R = rng.uniform(*radius_m)
        w = rng.uniform(*shell_m)
        margin = R + w + 1e-9
        x = rng.uniform(margin, field_m[0] - margin)
        y = rng.uniform(margin, field_m[1] - margin)
        if any(math.hypot(x - q.x_m, y - q.y_m) < R + w + q.radius_m + q.shell_m + 2e-9 for q in out):
            continue
        s = rng.uniform(0.0, 1.0)
        q_amp = params.max_charge_Vm * s * (1.0 - charge_noise + charge_noise * rng.uniform())
        order = rng.uniform(0.5, 1.0) if rng.uniform() < 0.4 else 0.0
        out.append(Precipitate(x, y, R, w, s, q_amp * rng.choice([-1.0, 1.0]), order, rng.uniform(1.5, 2.3)))
    slope = params.wedge_m_per_m * rng.uniform(0, 1)
    ang = rng.uniform(0, 2 * math.pi)
    return PrecipitateFilm(field_m=tuple(map(float, field_m)), precipitates=tuple(out), params=params,
                           wedge=(slope * math.cos(ang), slope * math.sin(ang)), roughness_seed=int(rng.integers(2**31)))
