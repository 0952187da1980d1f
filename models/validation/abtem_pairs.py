"""abTEM multislice validation pairs (300 keV, a-C 1-3 nm, the twin's camera). Foreign physics:
validation only, never training data.

Films: ``n_films`` hard-core a-C slabs (:func:`beamloop.sim.abtem_reference.amorphous_carbon_atoms`)
with thicknesses spread over ``spec.thickness_m``, each one abTEM ``Potential`` (Lobato, infinite
projection, 2 A slices) built once on a periodic cell of ``s`` twin fields of view (``s`` from the
twin's footprint check of the largest frame of the set, + 1), cycled over the pairs; each pair
has its own random probe position on its film (both frames of the pair at the same position).
``Probe.multislice`` at C10 -/+ 80 nm, diffraction pattern binned ``s x s`` to camera pixels,
scaled to ``dose_e``; coherent (abTEM has no source size here). ~1-3 s per frame on one core.
"""

from __future__ import annotations

import numpy as np

from beamloop.models.validation.common import ValidationSpec, cache_path, load_set, pair_states, save_set, validation_labels


def _oversample_needed(spec: ValidationSpec, labels: np.ndarray) -> int:
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    sim = RonchigramSimulator(RonchigramConfig(size_px=spec.size_px, energy_eV=spec.energy_eV,
                                               convergence_semiangle_rad=spec.convergence_semiangle_rad,
                                               rad_per_px=spec.rad_per_px, sample_patch_px=512, max_oversample=64,
                                               source_size_m=0.0), seed=0)
    abs_ = [Aberrations(**d) for d in pair_states(labels, spec.delta_c10_m)]
    return int(sim.required_oversample(abs_).max()) + 1


def generate(spec: ValidationSpec = ValidationSpec(), data_dir=None, force: bool = False, n_films: int = 3,
             progress=None):
    """Cached (expected (N, 2, S, S) electrons, labels (N, 5) m, meta). ``progress(i, n)`` is
    called after each pair."""
    import abtem

    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.abtem_reference import amorphous_carbon_atoms
    from beamloop.sim.optics import electron_wavelength

    path = cache_path("abtem", spec, data_dir)
    if path.exists() and not force:
        return load_set(path)
    abtem.config.set({"diagnostics.progress_bar": False, "precision": "float32"})
    labels = validation_labels(spec)
    s = _oversample_needed(spec, labels)
    lam = electron_wavelength(spec.energy_eV)
    extent = s * lam / spec.rad_per_px
    n = spec.size_px * s
    thick = np.linspace(*spec.thickness_m, n_films)
    pots = [abtem.Potential(amorphous_carbon_atoms(extent, float(t), seed=1000 * spec.seed + f), gpts=(n, n),
                            slice_thickness=2.0, parametrization="lobato", projection="infinite").build().compute()
            for f, t in enumerate(thick)]
    rng = np.random.default_rng([spec.seed, 5])
    states = pair_states(labels, spec.delta_c10_m)
    out = np.zeros((spec.n_pairs, 2, spec.size_px, spec.size_px), np.float32)
    pos = rng.uniform(0, extent * 1e10, (spec.n_pairs, 2))
    for i in range(spec.n_pairs):
        for j in (0, 1):
            ab = Aberrations(**states[2 * i + j])
            probe = abtem.Probe(energy=spec.energy_eV, semiangle_cutoff=spec.convergence_semiangle_rad * 1e3,
                                **ab.to_abtem())
            dp = probe.multislice(pots[i % n_films], scan=tuple(pos[i])).diffraction_patterns(
                max_angle=None, fftshift=True).compute()
            a = np.asarray(dp.array, np.float64).reshape(spec.size_px, s, spec.size_px, s).sum(axis=(1, 3))
            out[i, j] = a * (spec.dose_e / a.sum())
        if progress:
            progress(i + 1, spec.n_pairs)
    meta = {"source": "abtem", "abtem_version": abtem.__version__, "oversample": s, "films_thickness_m": thick.tolist(),
            "spec": spec.__dict__, "axes_order": "xy", "coherent": True}
    save_set(path, out, labels, meta)
    return out, labels, meta
