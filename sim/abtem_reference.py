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
  camera's divided by ``s`` (cell = ``s`` twin fields of view, pitch = the twin's ``pixel_m``),
  the diffraction pattern binned ``s x s`` to camera pixels and scaled to electrons (sum =
  ``dose_e``), the optical axis at pixel ``(n // 2, n // 2)``, first axis theta_x as the twin.
  Coherent (no source size, no focal spread), no camera: apply ``CameraModel.expose`` for that.

Units: SI at the interface (m, rad, eV); abTEM gets Angstrom and mrad inside.
"""

from __future__ import annotations


import numpy as np

from beamloop.sim.samples import CARBON_MIN_DISTANCE_M, carbon_positions

__all__ = ["amorphous_carbon_atoms", "abtem_ronchigram", "CARBON_MIN_DISTANCE_M"]


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
    multislice Ronchigram; ``atoms`` must span ``s * lambda / rad_per_px`` in x and y (its cell);
    ``ab`` a :class:`beamloop.sim.aberrations.Aberrations`; ``probe_xy_m`` the probe position in
    the cell (default its centre)."""
    import abtem

    from beamloop.sim.optics import electron_wavelength

    lam = electron_wavelength(energy_eV)
    n = size_px * s
    extent_a = lam / rad_per_px * s * 1e10
    cell = np.asarray(atoms.cell.lengths())
    if abs(cell[0] - extent_a) > 1e-6 * extent_a or abs(cell[1] - extent_a) > 1e-6 * extent_a:
        raise ValueError(f"atoms cell {cell[:2]} A must be the grid extent {extent_a:.4f} A (s={s})")
    abtem.config.set({"diagnostics.progress_bar": False})
    pot = abtem.Potential(atoms, gpts=(n, n), slice_thickness=slice_thickness_m * 1e10,
                          parametrization="lobato", projection="infinite")
    probe = abtem.Probe(energy=energy_eV, semiangle_cutoff=convergence_semiangle_rad * 1e3, **ab.to_abtem())
    pos = (extent_a / 2, extent_a / 2) if probe_xy_m is None else tuple(np.asarray(probe_xy_m) * 1e10)
    dp = probe.multislice(pot, scan=pos).diffraction_patterns(max_angle=None, fftshift=True).compute()
    a = np.asarray(dp.array, dtype=np.float64)
    if a.shape != (n, n):
        raise RuntimeError(f"abTEM returned a {a.shape} pattern, expected {(n, n)}")
    a = a.reshape(size_px, s, size_px, s).sum(axis=(1, 3))
    return (a * (dose_e / a.sum())).astype(np.float32)
