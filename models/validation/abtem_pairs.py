"""abTEM multislice validation pairs (300 keV, a-C 1-3 nm, the twin's camera). Foreign physics:
validation only, never training data.

Films: ``n_films`` hard-core a-C slabs (:func:`beamloop.sim.abtem_reference.amorphous_carbon_atoms`)
with thicknesses spread over ``spec.thickness_m``, each one abTEM ``Potential`` (Lobato, infinite
projection, 2 A slices) built once on a periodic cell of ``s`` twin fields of view (``s`` from the
twin's footprint check of the largest frame of the set, + 1), cycled over the pairs; each pair
has its own random probe position on its film (both frames of the pair at the same position),
drawn from ``(spec.seed, pair index)`` alone. ``Probe.multislice`` at C10 -/+ 80 nm, diffraction
pattern binned ``s x s`` to camera pixels, scaled to ``dose_e``; coherent (abTEM has no source
size here). ~1-3 s per frame on one core.

Resumable: pairs are made in chunks of ``chunk_pairs`` (every pair depends only on the spec and
its index), each chunk saved to ``<cache stem>.parts/`` as it completes; ``max_seconds`` stops
before a chunk that would not fit and raises :class:`GenerationIncomplete` (call again to go on);
the last call merges the chunks into the cache file and removes the parts.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from beamloop.models.validation.common import ValidationSpec, cache_path, load_set, pair_states, save_set, validation_labels

CHUNK_PAIRS = 10


class GenerationIncomplete(RuntimeError):
    """The time budget ran out before every chunk was made; ``done`` of ``total`` pairs are saved."""

    def __init__(self, done: int, total: int, parts_dir: Path):
        super().__init__(f"abTEM validation set incomplete: {done}/{total} pairs saved in {parts_dir}; call again to resume")
        self.done, self.total, self.parts_dir = done, total, parts_dir


def _oversample_needed(spec: ValidationSpec, labels: np.ndarray) -> int:
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    sim = RonchigramSimulator(RonchigramConfig(size_px=spec.size_px, energy_eV=spec.energy_eV,
                                               convergence_semiangle_rad=spec.convergence_semiangle_rad,
                                               rad_per_px=spec.rad_per_px, sample_patch_px=512, max_oversample=64,
                                               source_size_m=0.0), seed=0)
    abs_ = [Aberrations(**d) for d in pair_states(labels, spec.delta_c10_m)]
    return int(sim.required_oversample(abs_).max()) + 1


def probe_position_m(spec: ValidationSpec, index: int, extent_m: float) -> np.ndarray:
    """Probe position (x, y) in metres on the film cell of pair ``index`` (seeded per pair)."""
    return np.random.default_rng([spec.seed, 5, int(index)]).uniform(0, extent_m, 2)


def parts_dir(path: Path) -> Path:
    return path.with_name(path.stem + ".parts")


def _chunk_file(parts: Path, start: int) -> Path:
    return parts / f"pairs_{start:06d}.npz"


class _Films:
    """The abTEM potentials of the set's films, built on first use."""

    def __init__(self, spec: ValidationSpec, s: int, n_films: int):
        from beamloop.sim.optics import electron_wavelength

        self.spec, self.s, self.n = spec, s, n_films
        self.extent_m = s * electron_wavelength(spec.energy_eV) / spec.rad_per_px
        self.thick = np.linspace(*spec.thickness_m, n_films)
        self._pots = None

    def potentials(self):
        if self._pots is None:
            import abtem

            from beamloop.sim.abtem_reference import amorphous_carbon_atoms

            n = self.spec.size_px * self.s
            self._pots = [abtem.Potential(amorphous_carbon_atoms(self.extent_m, float(t), seed=1000 * self.spec.seed + f),
                                          gpts=(n, n), slice_thickness=2.0, parametrization="lobato",
                                          projection="infinite").build().compute()
                          for f, t in enumerate(self.thick)]
        return self._pots


def _render_pair(spec: ValidationSpec, films: _Films, index: int, states: list[dict]) -> np.ndarray:
    """(2, S, S) expected electrons of pair ``index``."""
    import abtem

    from beamloop.sim.aberrations import Aberrations

    pot = films.potentials()[index % films.n]
    pos = tuple(probe_position_m(spec, index, films.extent_m) * 1e10)
    out = np.zeros((2, spec.size_px, spec.size_px), np.float32)
    for j in (0, 1):
        ab = Aberrations(**states[2 * index + j])
        probe = abtem.Probe(energy=spec.energy_eV, semiangle_cutoff=spec.convergence_semiangle_rad * 1e3, **ab.to_abtem())
        dp = probe.multislice(pot, scan=pos).diffraction_patterns(max_angle=None, fftshift=True).compute()
        a = np.asarray(dp.array, np.float64).reshape(spec.size_px, films.s, spec.size_px, films.s).sum(axis=(1, 3))
        out[j] = a * (spec.dose_e / a.sum())
    return out


def _save_chunk(file: Path, start: int, exp: np.ndarray, s: int, key: str) -> None:
    tmp = file.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, expected=exp, start=start, oversample=s, key=key)
    tmp.replace(file)


def _load_chunks(parts: Path, spec: ValidationSpec, s: int, chunk_pairs: int) -> np.ndarray:
    out = np.zeros((spec.n_pairs, 2, spec.size_px, spec.size_px), np.float32)
    for start in range(0, spec.n_pairs, chunk_pairs):
        with np.load(_chunk_file(parts, start)) as z:
            if str(z["key"]) != spec.key() or int(z["oversample"]) != s or int(z["start"]) != start:
                raise ValueError(f"chunk {_chunk_file(parts, start)} belongs to another set (key/oversample/start)")
            e = z["expected"]
        stop = min(start + chunk_pairs, spec.n_pairs)
        if e.shape != (stop - start, 2, spec.size_px, spec.size_px):
            raise ValueError(f"chunk {_chunk_file(parts, start)} has shape {e.shape}, expected {stop - start} pairs")
        out[start:stop] = e
    return out


def generate(spec: ValidationSpec = ValidationSpec(), data_dir=None, force: bool = False, n_films: int = 3,
             progress=None, max_seconds: float | None = None, chunk_pairs: int = CHUNK_PAIRS):
    """Cached (expected (N, 2, S, S) electrons, labels (N, 5) m, meta). ``progress(i, n)`` is
    called after each chunk (``i`` pairs of ``n`` made). ``max_seconds``: wall-time budget of this call (s); chunks already
    saved are kept and :class:`GenerationIncomplete` is raised when the next chunk would not fit
    (every call makes at least one chunk, so repeated calls always finish)."""
    import abtem

    if chunk_pairs < 1:
        raise ValueError(f"chunk_pairs must be >= 1, got {chunk_pairs}")
    t0 = time.monotonic()
    path = cache_path("abtem", spec, data_dir)
    parts = parts_dir(path)
    if force:
        shutil.rmtree(parts, ignore_errors=True)
        path.unlink(missing_ok=True)
    if path.exists():
        return load_set(path)
    abtem.config.set({"diagnostics.progress_bar": False, "precision": "float32"})
    labels = validation_labels(spec)
    s = _oversample_needed(spec, labels)
    films = _Films(spec, s, n_films)
    states = pair_states(labels, spec.delta_c10_m)
    _check_parts(parts, {"key": spec.key(), "oversample": s, "chunk_pairs": chunk_pairs})
    last_chunk_s = 0.0
    for start in range(0, spec.n_pairs, chunk_pairs):
        file = _chunk_file(parts, start)
        stop = min(start + chunk_pairs, spec.n_pairs)
        if file.exists():
            continue
        if max_seconds is not None and last_chunk_s > 0 and time.monotonic() - t0 + last_chunk_s > max_seconds:
            raise GenerationIncomplete(_done(parts, spec, chunk_pairs), spec.n_pairs, parts)
        tc = time.monotonic()
        exp = np.stack([_render_pair(spec, films, i, states) for i in range(start, stop)])
        _save_chunk(file, start, exp, s, spec.key())
        last_chunk_s = time.monotonic() - tc
        if progress:
            progress(stop, spec.n_pairs)
    out = _load_chunks(parts, spec, s, chunk_pairs)
    meta = {"source": "abtem", "abtem_version": abtem.__version__, "oversample": s,
            "films_thickness_m": films.thick.tolist(), "spec": spec.__dict__, "axes_order": "xy", "coherent": True,
            "probe_position": "per pair index"}
    save_set(path, out, labels, meta)
    shutil.rmtree(parts, ignore_errors=True)
    return out, labels, meta


def _check_parts(parts: Path, info: dict) -> None:
    """Create the parts dir, or refuse one left by a run with another key / oversample / chunking."""
    f = parts / "parts.json"
    if f.exists():
        old = json.loads(f.read_text())
        if old != info:
            raise ValueError(f"{parts} was made with {old}, this run needs {info}; remove it or use force=True")
        return
    parts.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(info))


def _done(parts: Path, spec: ValidationSpec, chunk_pairs: int) -> int:
    return sum(min(st + chunk_pairs, spec.n_pairs) - st for st in range(0, spec.n_pairs, chunk_pairs)
               if _chunk_file(parts, st).exists())
