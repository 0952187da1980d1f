"""The twin's own validation pairs on the same labels (the reference row of every table).

a-C films of ``spec.thickness_m`` (three simulators: low, middle and high end of the range,
cycled over the pairs), default instrument otherwise (source 0.4 A, no focal spread), a random
sample region per pair (both frames of a pair see the same region, as on a microscope).
"""

from __future__ import annotations

import numpy as np

from beamloop.models.validation.common import ValidationSpec, cache_path, load_set, pair_states, save_set, validation_labels


class TwinRenderer:
    """Noiseless pair renderer on the twin (``render(states)`` -> (N, 2, S, S) expected electrons)."""

    def __init__(self, spec: ValidationSpec, seed: int = 0, n_films: int = 3, sample_patch_px: int | None = None):
        from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

        self.spec = spec
        lo, hi = spec.thickness_m
        self.sims = [RonchigramSimulator(RonchigramConfig(
            size_px=spec.size_px, energy_eV=spec.energy_eV, convergence_semiangle_rad=spec.convergence_semiangle_rad,
            rad_per_px=spec.rad_per_px, sample_thickness_m=float(t), dose_e=spec.dose_e,
            sample_patch_px=sample_patch_px), seed=seed + i)
            for i, t in enumerate(np.linspace(lo, hi, n_films))]
        self.seed = int(seed)
        self._pos = {}

    def render(self, labels: np.ndarray, ids=None) -> np.ndarray:
        """Pairs at ``labels`` (N, 5) m. ``ids`` (N,) fixes film and sample region per trial
        (closed loop: the same region at every step); default ``range(N)``."""
        from beamloop.sim.aberrations import Aberrations

        labels = np.atleast_2d(labels)
        ids = np.arange(len(labels)) if ids is None else np.asarray(ids)
        out = np.zeros((len(labels), 2, self.spec.size_px, self.spec.size_px), np.float32)
        states = pair_states(labels, self.spec.delta_c10_m)
        for f, sim in enumerate(self.sims):
            sel = np.flatnonzero(ids % len(self.sims) == f)
            if not len(sel):
                continue
            span = max(sim.patch_px / 2 - sim.cfg.size_px * 12 / 2 - 2, 0) * sim.cfg.pixel_m
            shifts = []
            for i in ids[sel]:
                if int(i) not in self._pos:      # per trial id: the same region at every step
                    self._pos[int(i)] = np.random.default_rng([self.seed, 3, int(i)]).uniform(-span, span, 2)
                shifts += [self._pos[int(i)]] * 2
            abs_ = [Aberrations(**states[2 * k + j]) for k in sel for j in (0, 1)]
            e = sim.expected(abs_, scan_shift_m=np.stack(shifts))
            out[sel] = e.reshape(len(sel), 2, *e.shape[1:])
        return out


def generate(spec: ValidationSpec = ValidationSpec(), data_dir=None, force: bool = False):
    """Cached (expected (N, 2, S, S), labels (N, 5), meta)."""
    path = cache_path("twin", spec, data_dir)
    if path.exists() and not force:
        return load_set(path)
    labels = validation_labels(spec)
    exp = TwinRenderer(spec, seed=spec.seed).render(labels)
    meta = {"source": "twin", "spec": spec.__dict__, "axes_order": "xy"}
    save_set(path, exp, labels, meta)
    return exp, labels, meta
