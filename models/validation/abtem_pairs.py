"""abTEM multislice validation pairs (300 keV, a-C 1-3 nm, the twin's camera). Foreign physics:
validation only, never training data.

Films: ``n_films`` hard-core a-C slabs (:func:`beamloop.sim.abtem_reference.amorphous_carbon_atoms`)
with thicknesses spread over ``spec.thickness_m``, cycled over the pairs. Each pair has its own
cell of ``s`` twin fields of view (``s`` = the twin's footprint check of the pair's larger frame
+ 1, :func:`pair_oversample`); one abTEM ``Potential`` (Lobato, infinite projection, 2 A slices)
per (film, s) on an :func:`beamloop.sim.abtem_reference.abtem_gpts` grid (1.5 x the camera's
angular range: abTEM's 2/3-Nyquist band limit then reaches the camera edge; a grid of exactly the
camera's range cut the 30 mrad disc at 28 mrad), built when first needed; a random probe
position per pair from ``(spec.seed, pair index)`` alone (both frames of a pair at the same
position). ``Probe.multislice`` at C10 -/+ 80 nm, the exit wave's far field binned ``s x s``
with zero angle at the centre of the camera's pixel ``size_px // 2``
(:func:`beamloop.sim.abtem_reference.camera_pattern`), scaled to ``dose_e``; coherent (abTEM has
no source size here).

Resumable: pairs are made in chunks of ``chunk_pairs`` (in order of (s, film, index), so a chunk
needs one or two potentials; every pair depends only on the spec and its index), each chunk saved
to ``<cache stem>.parts/`` as it completes; ``max_seconds`` stops before a chunk that would not
fit and raises :class:`GenerationIncomplete` (call again to go on); the last call merges the
chunks into the cache file and removes the parts.
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


def pair_oversample(spec: ValidationSpec, labels: np.ndarray) -> np.ndarray:
    """(N,) cell size per pair in twin fields of view: the twin's footprint check (box x 1.1
    fits the field of view) of the larger frame of the pair, + 1."""
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    sim = RonchigramSimulator(RonchigramConfig(size_px=spec.size_px, energy_eV=spec.energy_eV,
                                               convergence_semiangle_rad=spec.convergence_semiangle_rad,
                                               rad_per_px=spec.rad_per_px, sample_patch_px=512, max_oversample=64,
                                               source_size_m=0.0), seed=0)
    abs_ = [Aberrations(**d) for d in pair_states(labels, spec.delta_c10_m)]
    return np.asarray(sim.required_oversample(abs_), int).reshape(-1, 2).max(axis=1) + 1


def probe_position_m(spec: ValidationSpec, index: int, extent_m: float) -> np.ndarray:
    """Probe position (x, y) in metres on the film cell of pair ``index`` (seeded per pair)."""
    return np.random.default_rng([spec.seed, 5, int(index)]).uniform(0, extent_m, 2)


def parts_dir(path: Path) -> Path:
    return path.with_name(path.stem + ".parts")


def _chunk_file(parts: Path, start: int) -> Path:
    return parts / f"pairs_{start:06d}.npz"


class _Films:
    """abTEM potentials per (film, s), built when first needed; only the latest s is kept."""

    def __init__(self, spec: ValidationSpec, n_films: int):
        self.spec, self.n = spec, n_films
        self.thick = np.linspace(*spec.thickness_m, n_films)
        self._s, self._pots = None, {}

    def extent_m(self, s: int) -> float:
        from beamloop.sim.optics import electron_wavelength

        return s * electron_wavelength(self.spec.energy_eV) / self.spec.rad_per_px

    def potential(self, film: int, s: int):
        import abtem

        from beamloop.sim.abtem_reference import abtem_gpts, amorphous_carbon_atoms

        if s != self._s:
            self._s, self._pots = s, {}
        if film not in self._pots:
            n = abtem_gpts(self.spec.size_px, s)
            atoms = amorphous_carbon_atoms(self.extent_m(s), float(self.thick[film]), seed=1000 * self.spec.seed + 10 * film + s)
            self._pots[film] = abtem.Potential(atoms, gpts=(n, n), slice_thickness=2.0, parametrization="lobato",
                                               projection="infinite").build().compute()
        return self._pots[film]


def _render_pair(spec: ValidationSpec, films: _Films, index: int, s: int, states: list[dict]) -> np.ndarray:
    """(2, S, S) expected electrons of pair ``index`` on a cell of ``s`` fields of view."""
    import abtem

    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.abtem_reference import camera_pattern

    pot = films.potential(index % films.n, s)
    pos = tuple(probe_position_m(spec, index, films.extent_m(s)) * 1e10)
    out = np.zeros((2, spec.size_px, spec.size_px), np.float32)
    for j in (0, 1):
        ab = Aberrations(**states[2 * index + j])
        probe = abtem.Probe(energy=spec.energy_eV, semiangle_cutoff=spec.convergence_semiangle_rad * 1e3, **ab.to_abtem())
        wave = np.asarray(probe.multislice(pot, scan=pos).compute().array)
        out[j] = camera_pattern(wave, spec.size_px, s, spec.dose_e)
    return out


def _save_chunk(file: Path, idx: np.ndarray, exp: np.ndarray, key: str) -> None:
    tmp = file.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, expected=exp, index=idx, key=key)
    tmp.replace(file)


def _load_chunks(parts: Path, spec: ValidationSpec, order: np.ndarray, chunk_pairs: int) -> np.ndarray:
    out = np.zeros((spec.n_pairs, 2, spec.size_px, spec.size_px), np.float32)
    for start in range(0, spec.n_pairs, chunk_pairs):
        idx = order[start:start + chunk_pairs]
        with np.load(_chunk_file(parts, start)) as z:
            if str(z["key"]) != spec.key() or not np.array_equal(z["index"], idx):
                raise ValueError(f"chunk {_chunk_file(parts, start)} belongs to another set (key/pair indices)")
            e = z["expected"]
        if e.shape != (len(idx), 2, spec.size_px, spec.size_px):
            raise ValueError(f"chunk {_chunk_file(parts, start)} has shape {e.shape}, expected {len(idx)} pairs")
        out[idx] = e
    return out


def generate(spec: ValidationSpec = ValidationSpec(), data_dir=None, force: bool = False, n_films: int = 3,
             progress=None, max_seconds: float | None = None, chunk_pairs: int = CHUNK_PAIRS):
    """Cached (expected (N, 2, S, S) electrons, labels (N, 5) m, meta). ``progress(i, n)`` is
    called after each chunk (``i`` pairs of ``n`` made). ``max_seconds``: wall-time budget of this call (s); chunks already
    saved are kept and :class:`GenerationIncomplete` is raised when the next chunk would not fit
    (estimate: 1.5 x the last one; every call makes at least one chunk, so repeated calls always finish)."""
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
        out = load_set(path)
        if "grid" in out[2]:            # sets made before the 1.5 x grid fix had a 28 mrad disc: remade
            return out
        path.unlink()
    abtem.config.set({"diagnostics.progress_bar": False, "precision": "float32"})
    labels = validation_labels(spec)
    s_pair = pair_oversample(spec, labels)
    idx = np.arange(spec.n_pairs)
    order = np.lexsort((idx, idx % n_films, s_pair))          # by s, then film, then index
    films = _Films(spec, n_films)
    states = pair_states(labels, spec.delta_c10_m)
    _check_parts(parts, {"key": spec.key(), "n_films": n_films, "chunk_pairs": chunk_pairs,
                         "s_max": int(s_pair.max()), "grid": "1.5x camera, centred bins"})
    last_chunk_s = 0.0
    for start in range(0, spec.n_pairs, chunk_pairs):
        file = _chunk_file(parts, start)
        stop = min(start + chunk_pairs, spec.n_pairs)
        if file.exists():
            continue
        if max_seconds is not None and last_chunk_s > 0 and time.monotonic() - t0 + 1.5 * last_chunk_s > max_seconds:
            raise GenerationIncomplete(_done(parts, spec, chunk_pairs), spec.n_pairs, parts)
        tc = time.monotonic()
        sel = order[start:stop]
        exp = np.stack([_render_pair(spec, films, int(i), int(s_pair[i]), states) for i in sel])
        _save_chunk(file, sel, exp, spec.key())
        last_chunk_s = time.monotonic() - tc
        if progress:
            progress(stop, spec.n_pairs)
    out = _load_chunks(parts, spec, order, chunk_pairs)
    meta = {"source": "abtem", "abtem_version": abtem.__version__, "oversample_per_pair": s_pair.tolist(),
            "grid": "abtem_gpts: 1.5 x the camera range (2/3-Nyquist band limit at the camera edge)",
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
