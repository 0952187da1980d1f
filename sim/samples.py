"""Sample transmission functions (phase-object approximation) on a real-space grid.

A sample is a set of atoms; its projected potential ``v_z(x, y)`` (V m) is the sum of the
atoms' projected potentials, built in Fourier space from Lobato's electron scattering
factors (Lobato & Van Dyck, Acta Cryst. A70 (2014) 636; the parameters abTEM ships):

    V_z(q) = (h^2 / (2 pi m0 e)) * f_e(q) * sum_j exp(-2 pi i q.r_j)          (V m^3 -> V m after /area)

The atoms are deposited on the grid with bilinear (cloud-in-cell) weights, whose transfer
function sinc^2 is divided out, so the result is band-limited but positioned sub-pixel.
Amorphous carbon has short-range order (no two atoms closer than ~1.3 A): the atoms are
deposited as an ideal gas (uniform random, cheap for millions of atoms) and the deposit's
fluctuations are scaled in Fourier space by ``sqrt(S(q))``, the projected structure factor of
a hard-core slab of the same thickness (:func:`carbon_structure_factor`, measured once per
thickness on explicitly relaxed atoms, :func:`carbon_positions`), which makes the potential's
second-order statistics those of the hard-core film (issue 12, docs/sim.md "Speckle statistics").
The transmission is ``t = exp(i sigma v_z)`` with sigma the interaction constant: a single
slice (projection) approximation, valid for thin samples (a few nm of Si, ~20 nm of carbon
at 200-300 kV); see docs/sim.md.

Units: metres for all lengths (grid pixel size, thickness, positions), radians for angles.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import constants as _c

from beamloop.sim.optics import interaction_constant

__all__ = ["SAMPLES", "SampleSpec", "projected_potential", "transmission", "sample_atoms", "scattering_factor",
           "carbon_positions", "carbon_structure_factor", "CARBON_MIN_DISTANCE_M"]

SAMPLES = ("amorphous_carbon", "si100", "si110")

# Lobato parameters: rows a_i (Angstrom^-1 ... as in abTEM's lobato.json), b_i (Angstrom^2).
_LOBATO = {
    "C": (
        (124.466088621343, -220.352857078963, 195.235352280479, -98.1079361269799, 0.0142023041213623),
        (2.42120849256005, 2.30537943752425, 2.04851932106564, 1.93352552917547, 0.0768976818478339),
    ),
    "Si": (
        (2.87189142611612, -2.06173501195173, 2.17114024204478, -0.0663073633058801, 0.00301070709670513),
        (5.08487103642989, 0.429178185305126, 0.366485434192162, 0.119710611296903, 0.0143994536128397),
    ),
}
SI_LATTICE_M = 5.431e-10          # diamond-cubic Si lattice constant
CARBON_DENSITY_KG_M3 = 2000.0     # amorphous carbon film (2.0 g/cm^3)
CARBON_MIN_DISTANCE_M = 1.3e-10   # no two C atoms of a real film closer (bonds 1.42-1.54 A)
_H2_2PI_M0_E = _c.h**2 / (2 * math.pi * _c.m_e * _c.e)   # V m^2  (= 47.88 V A^2)


def scattering_factor(element: str, q_per_m: np.ndarray) -> np.ndarray:
    """Electron scattering factor f_e(q) in metres for spatial frequency ``q`` (1/m)."""
    a, b = (np.asarray(v) for v in _LOBATO[element])
    q2 = (np.asarray(q_per_m) * 1e-10) ** 2          # A^-2
    f = np.zeros_like(q2, dtype=float)
    for ai, bi in zip(a, b):
        f += ai * (2 + bi * q2) / (1 + bi * q2) ** 2
    return f * 1e-10


@dataclass(frozen=True)
class SampleSpec:
    """What sample to build: kind (one of :data:`SAMPLES`), thickness (m), in-plane
    rotation about the beam (rad), and RNG seed for the amorphous structure."""

    kind: str = "amorphous_carbon"
    thickness_m: float = 10e-9
    rotation_rad: float = 0.0
    seed: int = 0
    min_distance_m: float = CARBON_MIN_DISTANCE_M   # a-C hard core (0: ideal gas, the pre-issue-12 model)

    def __post_init__(self):
        if self.kind not in SAMPLES:
            raise ValueError(f"sample must be one of {SAMPLES}, got {self.kind!r}")
        if not (math.isfinite(self.thickness_m) and self.thickness_m > 0):
            raise ValueError(f"sample_thickness_m must be positive (metres), got {self.thickness_m!r}")
        if not math.isfinite(self.rotation_rad):
            raise ValueError(f"sample_rotation_rad must be finite, got {self.rotation_rad!r}")
        if not (math.isfinite(self.min_distance_m) and 0 <= self.min_distance_m <= 2.5e-10):
            raise ValueError(f"sample_min_distance_m must be in [0, 2.5e-10] metres, got {self.min_distance_m!r}")


def _relax_hard_core(xyz: np.ndarray, box: np.ndarray, d: float, rng: np.random.Generator,
                     iters: int = 200) -> np.ndarray:
    """Push pairs closer than ``d`` apart until none is (periodic in x, y; z reflected into the
    slab); atoms still overlapping after 10 pushes are re-drawn at random (then pushed again)."""
    from scipy.spatial import cKDTree

    big = np.array([box[0], box[1], 1e3 * (box[2] + d)])
    for it in range(iters):
        xyz[:, :2] %= box[:2]
        pairs = cKDTree(xyz + np.array([0, 0, 1e2 * (box[2] + d)]), boxsize=big).query_pairs(d, output_type="ndarray")
        if len(pairs) == 0:
            break
        if it % 10 == 9:
            j = np.unique(pairs[:, 1])
            xyz[j] = rng.random((len(j), 3)) * box
            continue
        v = xyz[pairs[:, 1]] - xyz[pairs[:, 0]]
        v[:, :2] -= box[:2] * np.rint(v[:, :2] / box[:2])
        r = np.maximum(np.linalg.norm(v, axis=1), 1e-6 * d)
        push = (0.55 * (d - r) / r)[:, None] * v
        move = np.zeros_like(xyz)
        np.add.at(move, pairs[:, 1], push)
        np.add.at(move, pairs[:, 0], -push)
        xyz += move
        z = np.abs(xyz[:, 2])
        xyz[:, 2] = np.clip(np.where(z > box[2], 2 * box[2] - z, z), 0.0, box[2])
    xyz[:, :2] %= box[:2]
    return xyz


def carbon_positions(extent_m: float, thickness_m: float, seed: int = 0,
                     min_distance_m: float = CARBON_MIN_DISTANCE_M) -> np.ndarray:
    """Atom positions (N, 3) in metres of an a-C slab at 2.0 g/cm^3 in ``[0, extent)^2 x [0, thickness]``
    (periodic in x, y): uniform random atoms relaxed to a hard-core ``min_distance_m`` (0: ideal gas)."""
    rng = np.random.default_rng(seed)
    n_vol = CARBON_DENSITY_KG_M3 / (12.011 * _c.atomic_mass)
    box = np.array([extent_m, extent_m, thickness_m])
    xyz = rng.random((int(rng.poisson(n_vol * extent_m**2 * thickness_m)), 3)) * box
    if min_distance_m > 0:
        xyz = _relax_hard_core(xyz, box, min_distance_m, rng)
    return xyz


@functools.lru_cache(maxsize=16)
def _carbon_sq_table(thickness_m: float, min_distance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(q (1/m), S(q)) projected structure factor of :func:`carbon_positions` slabs, measured on
    3 nm cells (>= 12000 atoms over several seeds), radially binned (1/3 nm^-1) and smoothed."""
    cell, n_g = 3e-9, 256
    n_per = max(CARBON_DENSITY_KG_M3 / (12.011 * _c.atomic_mass) * cell**2 * thickness_m, 1.0)
    acc = np.zeros(n_g * (n_g // 2 + 1))
    q0 = np.fft.fftfreq(n_g, d=cell / n_g)
    q1 = np.fft.rfftfreq(n_g, d=cell / n_g)
    qq = np.hypot(q0[:, None], q1[None, :]).ravel()
    pix = cell / n_g
    cic = ((np.sinc(q0 * pix) ** 2)[:, None] * (np.sinc(q1 * pix) ** 2)[None, :]).ravel()
    n_tot, seeds = 0, int(min(24, max(2, math.ceil(12000 / n_per))))
    for sd in range(seeds):
        xyz = carbon_positions(cell, thickness_m, seed=10_000 + sd, min_distance_m=min_distance_m)
        u = xyz[:, :2] / pix
        i0 = np.floor(u).astype(np.int64)
        f = u - i0
        g = np.zeros(n_g * n_g)
        for di in (0, 1):
            for dj in (0, 1):
                w = (f[:, 0] if di else 1 - f[:, 0]) * (f[:, 1] if dj else 1 - f[:, 1])
                g += np.bincount(((i0[:, 0] + di) % n_g) * n_g + (i0[:, 1] + dj) % n_g, weights=w, minlength=n_g * n_g)
        acc += np.abs(np.fft.rfft2(g.reshape(n_g, n_g)).ravel()) ** 2
        n_tot += len(xyz)
    S = acc / max(n_tot, 1) / np.maximum(cic, 1e-3) ** 2
    b = np.rint(qq * cell).astype(np.int64)
    keep = (b > 0) & (qq < 0.3 / pix)
    prof = np.bincount(b[keep], weights=S[keep]) / np.maximum(np.bincount(b[keep]), 1)
    prof = prof[1:]
    sm = np.convolve(np.pad(prof, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    return np.arange(1, len(prof) + 1) / cell, sm


def carbon_structure_factor(q_per_m, thickness_m: float, min_distance_m: float = CARBON_MIN_DISTANCE_M) -> np.ndarray:
    """Projected structure factor S(q) of the hard-core a-C slab (1 for the ideal gas), at spatial
    frequencies ``q_per_m`` (1/m, > 0; beyond the table S = 1). Tables are made per 0.5 nm of
    thickness (~4 s each, cached); slabs thicker than 5 nm use the 5 nm table (the projection's
    S(q) has converged there)."""
    q = np.asarray(q_per_m, dtype=float)
    if min_distance_m <= 0:
        return np.ones_like(q)
    t = round(max(0.5, min(round(float(thickness_m) * 2e9) / 2, 5.0)) * 1e-9, 12)   # 0.5 nm steps
    qt, st = _carbon_sq_table(t, round(float(min_distance_m), 12))
    return np.interp(q, qt, st, left=st[0], right=1.0)


def _si_columns(zone: str, extent_m: float, thickness_m: float, rotation_rad: float):
    """Si atom columns viewed along ``zone``: ((N, 2) positions in m, atoms per column).

    A perfect crystal in zone axis projects to a 2-D lattice of columns; each column holds
    ``thickness / period`` atoms (period = repeat distance along the beam).
    si100: beam [001], rectangular cell a x a with 8 columns, period a.
    si110: beam [110], x along [1-10], y along [001]; cell a/sqrt2 x a with 4 columns
    (two dumbbells of 1.36 A spacing), period a/sqrt2.
    """
    a = SI_LATTICE_M
    if zone == "si100":
        cell = (a, a)
        frac = [(0, 0), (0, .5), (.5, 0), (.5, .5), (.25, .25), (.25, .75), (.75, .25), (.75, .75)]
        period = a
    else:
        cell = (a / math.sqrt(2), a)
        frac = [(0, 0), (0, .25), (.5, .5), (.5, .75)]
        period = a / math.sqrt(2)
    reach = extent_m / 2 * math.sqrt(2) + 2 * a
    ni, nj = int(math.ceil(reach / cell[0])), int(math.ceil(reach / cell[1]))
    ii, jj = np.meshgrid(np.arange(-ni, ni + 1), np.arange(-nj, nj + 1), indexing="ij")
    f = np.asarray(frac, float)
    x = ((ii.reshape(-1, 1) + f[None, :, 0]) * cell[0]).reshape(-1)
    y = ((jj.reshape(-1, 1) + f[None, :, 1]) * cell[1]).reshape(-1)
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    xy = np.stack([c * x - s * y, s * x + c * y], axis=1)
    inside = np.all((xy >= -extent_m / 2) & (xy < extent_m / 2), axis=1)   # no double count on wrap
    return xy[inside], thickness_m / period


def sample_atoms(spec: SampleSpec, extent_m: float) -> tuple[str, np.ndarray, float]:
    """(element, (N, 2) positions in metres centred on 0, atoms per position) for a square
    patch of side ``extent_m``. Amorphous carbon: uniformly random atoms at 2.0 g/cm^3
    (1 atom per position); Si: atom columns (thickness / period atoms per column)."""
    if spec.kind == "amorphous_carbon":
        rng = np.random.default_rng(spec.seed)
        n_vol = CARBON_DENSITY_KG_M3 / (12.011 * _c.atomic_mass)       # atoms / m^3
        n_atoms = rng.poisson(n_vol * spec.thickness_m * extent_m**2)
        xy = (rng.random((n_atoms, 2)) - 0.5) * extent_m
        return "C", xy, 1.0
    if spec.kind in ("si100", "si110"):
        xy, weight = _si_columns(spec.kind, extent_m, spec.thickness_m, spec.rotation_rad)
        return "Si", xy, weight
    raise ValueError(f"sample must be one of {SAMPLES}, got {spec.kind!r}")


def projected_potential(spec: SampleSpec, n_px: int, pixel_m: float, blur_sigma_m: float = 0.0) -> np.ndarray:
    """Projected potential v_z (V m) on an ``n_px x n_px`` grid of pitch ``pixel_m``, periodic.

    Pixel (i, j) is at ``x = (i - n_px/2) * pixel_m`` (first axis x), so the patch is centred.
    ``blur_sigma_m``: optional Gaussian blur (rms, m), e.g. the source-size envelope.
    """
    extent = n_px * pixel_m
    spec_ = spec
    element, xy, weight = sample_atoms(spec, extent)
    # Cloud-in-cell deposit (periodic wrap keeps the atom count right at the border).
    u = xy / pixel_m + n_px / 2
    i0 = np.floor(u).astype(np.int64)
    f = u - i0
    grid = np.zeros(n_px * n_px)
    for di in (0, 1):
        wx = f[:, 0] if di else 1 - f[:, 0]
        ix = (i0[:, 0] + di) % n_px
        for dj in (0, 1):
            wy = f[:, 1] if dj else 1 - f[:, 1]
            iy = (i0[:, 1] + dj) % n_px
            grid += np.bincount(ix * n_px + iy, weights=wx * wy, minlength=n_px * n_px)
    grid = grid.reshape(n_px, n_px) * (weight / pixel_m**2)                   # atoms / m^2
    from scipy import fft as sfft

    q0 = np.fft.fftfreq(n_px, d=pixel_m)
    q1 = np.fft.rfftfreq(n_px, d=pixel_m)
    qq = np.sqrt(q0[:, None] ** 2 + q1[None, :] ** 2)
    cic = (np.sinc(q0 * pixel_m) ** 2)[:, None] * (np.sinc(q1 * pixel_m) ** 2)[None, :]
    # f_e(|q|) through a fine 1-D table (it is smooth), the CIC transfer divided out
    q_tab = np.linspace(0.0, float(qq.max()) * 1.0001, 4096)
    kernel = np.interp(qq, q_tab, _H2_2PI_M0_E * scattering_factor(element, q_tab))
    kernel /= np.maximum(cic, 0.05)
    # band-limit to 2/3 of Nyquist along the radius (as multislice codes do) against aliasing
    kernel *= qq <= (2.0 / 3.0) * (0.5 / pixel_m)
    if blur_sigma_m > 0:
        kernel *= np.exp(-2 * (math.pi * blur_sigma_m * qq) ** 2)
    spec = sfft.rfft2(grid, workers=2)
    if element == "C" and spec_.min_distance_m > 0:
        # short-range order of a real film: the ideal-gas deposit's fluctuations (S = 1) scaled to
        # the hard-core slab's projected structure factor (second-order statistics exact; q = 0,
        # the mean inner potential, untouched)
        sq = carbon_structure_factor(np.where(qq > 0, qq, 1.0), spec_.thickness_m, spec_.min_distance_m)
        kernel *= np.where(qq > 0, np.sqrt(sq), 1.0)
    spec *= kernel
    return sfft.irfft2(spec, s=(n_px, n_px), workers=2)


def transmission(spec: SampleSpec, n_px: int, pixel_m: float, energy_eV: float,
                 blur_sigma_m: float = 0.0) -> np.ndarray:
    """Phase-object transmission ``exp(i sigma v_z)`` (complex64, ``n_px x n_px``), band-limited
    to 2/3 of the grid Nyquist like abTEM's anti-aliasing aperture (exp creates harmonics of
    v_z beyond its own band limit, which would otherwise alias into the far field)."""
    from scipy import fft as sfft

    vz = projected_potential(spec, n_px, pixel_m, blur_sigma_m)
    phase = interaction_constant(energy_eV) * vz
    phase -= phase.mean()
    t = np.exp(1j * phase)
    q = np.fft.fftfreq(n_px, d=pixel_m)
    keep = (q[:, None] ** 2 + q[None, :] ** 2) <= ((2.0 / 3.0) * (0.5 / pixel_m)) ** 2
    spec_t = sfft.fft2(t, workers=2)
    spec_t *= keep
    return sfft.ifft2(spec_t, workers=2).astype(np.complex64)
