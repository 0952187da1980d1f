"""abTEM multislice reference Ronchigrams in the twin's camera geometry (validation only).

abTEM (PyPI ``abtem``, a dev/test dependency, imported lazily) is a foreign simulator: its
frames check the twin's physics (``sim.speckle_stats``, docs/sim.md "Speckle statistics") and
make foreign validation pairs (``beamloop.models.validation.abtem_pairs``). Never training data.

- :func:`amorphous_carbon_atoms`: an a-C slab as atom positions: a random packing at
  2.0 g/cm^3 with a hard-core minimum distance (default 1.3 A: no two C atoms of a real film
  are closer than ~1.3 A; bonds are 1.42-1.54 A), relaxed from uniform random positions by
  pushing overlapping pairs apart (periodic in x and y); ``min_distance_m=0`` gives the ideal
  gas (uniform random atoms).
- :func:`abtem_ronchigram`: abTEM ``Probe.multislice`` through ``Potential(atoms)`` (Lobato,
  infinite projection, slices of ``slice_thickness_m``) on a grid whose angular pitch is the
  camera's divided by ``s`` (cell = ``s`` twin fields of view), the exit wave's far field
  (:func:`camera_pattern`) binned ``s x s`` to camera pixels and scaled to electrons (sum =
  ``dose_e``), the optical axis at the centre of pixel ``(n // 2, n // 2)``, first axis theta_x
  as the twin. Coherent (no source size, no focal spread), no camera: apply
  ``CameraModel.expose`` for that.
- The grid (:func:`abtem_gpts`) is 1.5 x the camera's extent in angle: abTEM band-limits every
  wave to 2/3 of the grid's Nyquist angle (``antialias.cutoff``), so a grid of exactly the
  camera's range (the first version) cut the bright-field disc at 28 mrad instead of the
  30 mrad aperture; with 1.5 x the band limit is the camera's half range (42 mrad at 128 px),
  and the camera's corners beyond it get no dark-field signal.

Units: SI at the interface (m, rad, eV); abTEM gets Angstrom and mrad inside.
"""

from __future__ import annotations

import math

import numpy as np

from beamloop.sim.samples import CARBON_MIN_DISTANCE_M, carbon_positions

__all__ = ["amorphous_carbon_atoms", "abtem_ronchigram", "abtem_gpts", "camera_pattern", "CARBON_MIN_DISTANCE_M"]

ANTIALIAS_MARGIN = 1.5      # 1 / abTEM's default antialias.cutoff (2/3 of the Nyquist angle)


def abtem_gpts(size_px: int, s: int) -> int:
    """Grid points per side of an abTEM grid at ``s`` fine samples per camera pixel whose band
    limit (2/3 Nyquist) reaches the camera's half range: ``1.5 * size_px * s``, rounded up to even."""
    if size_px < 2 or s < 1:
        raise ValueError(f"size_px must be >= 2 and s >= 1, got {size_px}, {s}")
    return 2 * math.ceil(ANTIALIAS_MARGIN * size_px * s / 2)


def _centred(psi: np.ndarray) -> np.ndarray:
    """The periodic wave rolled (whole samples: far-field intensity unchanged) so the circular
    centroid of its intensity is at the cell centre."""
    w = np.abs(psi) ** 2
    n = psi.shape[0]
    shifts = []
    for ax in (0, 1):
        prof = w.sum(axis=1 - ax)
        ang = np.angle(np.sum(prof * np.exp(2j * np.pi * np.arange(n) / n)))
        shifts.append(n // 2 - int(round(ang / (2 * np.pi) * n)))
    return np.roll(psi, shifts, axis=(0, 1))


def camera_pattern(exit_wave: np.ndarray, size_px: int, s: int, dose_e: float = 1e6) -> np.ndarray:
    """Expected electrons per camera pixel (float32 ``(size_px, size_px)``) of an exit wave on an
    ``(n, n)`` grid whose reciprocal pitch is 1/s camera pixel: ``|FFT|^2``, the ``size_px * s``
    central samples binned ``s x s`` so that zero angle is the centre of pixel ``size_px // 2``
    (even ``s``: the wave is rolled to the cell centre and the far field shifted by half a sample
    with a phase ramp; the wave's footprint must fit the cell), scaled to
    ``dose_e`` in the camera."""
    psi = np.asarray(exit_wave)
    n = psi.shape[0]
    if psi.shape != (n, n) or n % 2:
        raise ValueError(f"exit_wave must be square with an even side, got {psi.shape}")
    start = n // 2 - (size_px // 2) * s - (s - 1) // 2
    if start < 0 or start + size_px * s > n:
        raise ValueError(f"a {n} px grid does not hold {size_px} camera pixels at s={s}")
    if s % 2 == 0:                      # sample k -> frequency (k - n/2 - 1/2): bins centred on pixels
        psi = _centred(psi)             # the ramp needs a wave that does not straddle the cell edge
        ramp = np.exp(1j * np.pi * np.arange(n) / n)
        psi = psi * ramp[:, None] * ramp[None, :]
    f = np.fft.fftshift(np.abs(np.fft.fft2(psi.astype(np.complex128))) ** 2)
    a = f[start:start + size_px * s, start:start + size_px * s].reshape(size_px, s, size_px, s).sum(axis=(1, 3))
    return (a * (dose_e / a.sum())).astype(np.float32)


def amorphous_carbon_atoms(extent_m: float, thickness_m: float, seed: int = 0,
                           min_distance_m: float = CARBON_MIN_DISTANCE_M):
    """ase ``Atoms`` of an a-C slab (2.0 g/cm^3), cell ``extent_m x extent_m x thickness_m``
    (periodic in x, y), positions from :func:`beamloop.sim.samples.carbon_positions`
    (``min_distance_m``: hard-core distance, 0 = uniform random)."""
    from ase import Atoms

    if not (extent_m > 0 and thickness_m > 0 and min_distance_m >= 0):
        raise ValueError(f"extent_m, thickness_m must be > 0 and min_distance_m >= 0 (metres), got "
                         f"{extent_m!r}, {thickness_m!r}, {min_distance_m!r}")
    xyz = carbon_positions(extent_m, thickness_m, seed=seed, min_distance_m=min_distance_m) * 1e10
    box = np.array([extent_m, extent_m, thickness_m]) * 1e10
    return Atoms("C" * len(xyz), positions=xyz, cell=box, pbc=(True, True, False))


def abtem_ronchigram(atoms, ab, size_px: int, rad_per_px: float, s: int, energy_eV: float = 300e3,
                     convergence_semiangle_rad: float = 30e-3, dose_e: float = 1e6,
                     slice_thickness_m: float = 2e-10, probe_xy_m=None) -> np.ndarray:
    """Noiseless expected electrons per camera pixel (float32, ``(size_px, size_px)``) of an abTEM
    multislice Ronchigram on an :func:`abtem_gpts` grid; ``atoms`` must span
    ``s * lambda / rad_per_px`` in x and y (its cell);
    ``ab`` a :class:`beamloop.sim.aberrations.Aberrations`; ``probe_xy_m`` the probe position in
    the cell (default its centre)."""
    import abtem

    from beamloop.sim.optics import electron_wavelength

    lam = electron_wavelength(energy_eV)
    n = abtem_gpts(size_px, s)
    extent_a = lam / rad_per_px * s * 1e10
    cell = np.asarray(atoms.cell.lengths())
    if abs(cell[0] - extent_a) > 1e-6 * extent_a or abs(cell[1] - extent_a) > 1e-6 * extent_a:
        raise ValueError(f"atoms cell {cell[:2]} A must be the grid extent {extent_a:.4f} A (s={s})")
    abtem.config.set({"diagnostics.progress_bar": False})
    pot = abtem.Potential(atoms, gpts=(n, n), slice_thickness=slice_thickness_m * 1e10,
                          parametrization="lobato", projection="infinite")
    probe = abtem.Probe(energy=energy_eV, semiangle_cutoff=convergence_semiangle_rad * 1e3, **ab.to_abtem())
    pos = (extent_a / 2, extent_a / 2) if probe_xy_m is None else tuple(np.asarray(probe_xy_m) * 1e10)
    wave = np.asarray(probe.multislice(pot, scan=pos).compute().array)
    if wave.shape != (n, n):
        raise RuntimeError(f"abTEM returned a {wave.shape} exit wave, expected {(n, n)}")
    return camera_pattern(wave, size_px, s, dose_e)
