"""Throughput of the Ronchigram simulator, and a speed comparison with abTEM.

Measures Ronchigrams per second with fresh aberrations and fresh noise every frame, batched,
default instrument (amorphous carbon, 300 kV, 30 mrad). Two aberration windows:

- ``fine``: the fine-alignment window (C1, A1 +-20 nm; B2, A2 +-200 nm): the probe footprint
  mostly fits the camera's own field of view (oversample 1, corners of the window 2);
- ``wide``: the coarse window (C1, A1 +-200 nm; B2, A2 +-2 um): frames need 2-7x internal
  oversampling, the cost grows with its square. Measured with the exact far field and again
  with the tiled one (``method="tiled"``, ``ronchigrams_per_s_128_wide_tiled``).

abTEM comparison: the same Ronchigram (same grid, probe, aberrations, projected single-slice
amorphous carbon potential, no noise) with abTEM's ``Probe.multislice`` on a precomputed
potential array, versus our noiseless ``expected``. Wall-clock numbers on a shared machine
are noisy; CPU time per frame is reported too.
"""

from __future__ import annotations

import time

import numpy as np

from beamloop.sim.aberrations import Aberrations

__all__ = ["WINDOWS", "random_aberrations", "throughput", "abtem_ratio", "tiled_agreement", "run"]

WINDOWS = {  # half-widths (m) of uniform windows per coefficient group
    "fine": {"C10": 20e-9, "C12": 20e-9, "C21": 200e-9, "C23": 200e-9},
    "wide": {"C10": 200e-9, "C12": 200e-9, "C21": 2e-6, "C23": 2e-6},
}


def random_aberrations(rng: np.random.Generator, n: int, window: str = "fine") -> np.ndarray:
    """(n, 25) coefficient matrix, uniform in the window, in Aberrations.NAMES order."""
    w = WINDOWS[window]
    out = np.zeros((n, len(Aberrations.NAMES)))
    for j, name in enumerate(Aberrations.NAMES):
        half = w.get(name.split(".")[0], 0.0)
        if half:
            out[:, j] = rng.uniform(-half, half, n)
    return out


def throughput(size_px: int = 128, n_frames: int = 512, batch: int = 64, window: str = "fine",
               seed: int = 0, **cfg_kwargs) -> dict[str, float]:
    """Frames/s (wall and per CPU-second) for ``n_frames`` fresh frames in batches."""
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    cfg = RonchigramConfig(size_px=size_px, **cfg_kwargs)
    sim = RonchigramSimulator(cfg, seed=seed)
    rng = np.random.default_rng(seed + 1)
    sim.simulate_batch(random_aberrations(rng, batch, window), rng=rng)          # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    oversample = []
    while done < n_frames:
        C = random_aberrations(rng, batch, window)
        oversample.append(sim.required_oversample(C))
        imgs = sim.simulate_batch(C, rng=rng)
        assert imgs.shape == (batch, size_px, size_px) and np.isfinite(imgs).all()
        done += batch
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = np.concatenate(oversample)
    return {"per_s": done / wall, "per_cpu_s": done / cpu, "frames": done,
            "mean_oversample": float(s.mean()), "max_oversample": int(s.max())}


def abtem_ratio(size_px: int = 128, n_frames: int = 64, seed: int = 0) -> dict[str, float] | None:
    """Our noiseless Ronchigrams/s over abTEM's for the same Ronchigram, or None without abTEM."""
    try:
        import abtem
        from ase import Atoms
    except Exception:  # abTEM is a dev/test dependency
        return None
    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator
    from beamloop.sim.samples import SampleSpec, sample_atoms

    abtem.config.set({"device": "cpu", "precision": "float32", "diagnostics.progress_bar": False})
    cfg = RonchigramConfig(size_px=size_px, oversample=1, focal_spread_samples=1, source_size_m=0.0)
    sim = RonchigramSimulator(cfg, seed=seed)
    rng = np.random.default_rng(seed)
    C = 0.5 * random_aberrations(rng, n_frames, "fine")    # footprint within one FOV (oversample 1)
    # ours
    sim.expected(C[:8])
    t0 = time.perf_counter()
    sim.expected(C)
    ours = n_frames / (time.perf_counter() - t0)
    # abTEM: same FOV, grid, aperture, energy; single-slice carbon of the same thickness
    fov_a = cfg.fov_m * 1e10
    _, xy, _ = sample_atoms(SampleSpec("amorphous_carbon", cfg.sample_thickness_m, 0.0, seed), cfg.fov_m)
    z = rng.uniform(0, cfg.sample_thickness_m, len(xy))
    pos = np.column_stack([xy * 1e10 + fov_a / 2, z * 1e10])
    atoms = Atoms("C" * len(pos), positions=pos, cell=[fov_a, fov_a, cfg.sample_thickness_m * 1e10], pbc=True)
    potential = abtem.Potential(atoms, gpts=size_px, slice_thickness=cfg.sample_thickness_m * 1e10,
                                projection="infinite").build().compute()
    n_ab = max(4, n_frames // 8)

    def one(c):
        ab = Aberrations.from_vector(c)
        probe = abtem.Probe(energy=cfg.energy_eV, semiangle_cutoff=cfg.convergence_semiangle_rad * 1e3,
                            **ab.to_abtem())
        exit_wave = probe.multislice(potential)
        return exit_wave.diffraction_patterns(max_angle=None).compute()

    one(C[0])
    t0 = time.perf_counter()
    for c in C[:n_ab]:
        one(c)
    theirs = n_ab / (time.perf_counter() - t0)
    return {"ours_per_s": ours, "abtem_per_s": theirs, "ratio": ours / theirs}


def tiled_agreement(n_frames: int = 24, seed: int = 11, window: str = "wide", size_px: int = 128) -> dict:
    """Tiled vs exact far field (noiseless ``expected``) on random frames of ``window``, per sample
    (a-C 10 nm, Si [110] 3 nm): Pearson r over the image, inside 0.9 alpha, and inside 0.9 alpha
    after the camera PSF (0.6 px), and the largest relative difference in total electrons."""
    from scipy.ndimage import gaussian_filter

    from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

    out: dict = {}
    for sample, th in (("amorphous_carbon", 10e-9), ("si110", 3e-9)):
        kw = dict(size_px=size_px, sample=sample, sample_thickness_m=th)
        ex = RonchigramSimulator(RonchigramConfig(method="exact", **kw), seed=0)
        ti = RonchigramSimulator(RonchigramConfig(method="tiled", **kw), seed=0)
        C = random_aberrations(np.random.default_rng(seed), n_frames, window)
        E, T = ex.expected(C), ti.expected(C)
        cfg = ex.cfg
        k = (np.arange(size_px) - size_px // 2) * cfg.camera_rad_per_px
        m = np.hypot(*np.meshgrid(k, k, indexing="ij")) < 0.9 * cfg.convergence_semiangle_rad

        def r(a, b):
            return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

        img = [r(e, t) for e, t in zip(E, T)]
        disc = [r(e[m], t[m]) for e, t in zip(E, T)]
        psf = [r(gaussian_filter(e, 0.6)[m], gaussian_filter(t, 0.6)[m]) for e, t in zip(E, T)]
        s = ex.required_oversample(C)
        out[sample] = {
            "frames": n_frames, "oversample_min": int(s.min()), "oversample_max": int(s.max()),
            "r_image_min": min(img), "r_image_median": float(np.median(img)),
            "r_disc_min": min(disc), "r_disc_median": float(np.median(disc)),
            "r_disc_psf_min": min(psf), "r_disc_psf_median": float(np.median(psf)),
            "dose_rel_diff_max": float(np.abs(T.sum((1, 2)) / E.sum((1, 2)) - 1).max()),
        }
    return out


def run(n_frames: int = 512, with_abtem: bool = True, wide: bool = True) -> dict:
    """The numbers ``beamloop bench sim`` prints."""
    out: dict = {}
    r128 = throughput(128, n_frames)
    r256 = throughput(256, max(64, n_frames // 4))
    out["ronchigrams_per_s_128"] = r128["per_s"]
    out["ronchigrams_per_s_256"] = r256["per_s"]
    out["ronchigrams_per_cpu_s_128"] = r128["per_cpu_s"]
    out["ronchigrams_per_cpu_s_256"] = r256["per_cpu_s"]
    out["window"] = "fine: C1,A1 +-20 nm; B2,A2 +-200 nm (uniform, fresh every frame)"
    out["fine_mean_oversample_128"] = r128["mean_oversample"]
    if wide:
        rw = throughput(128, max(64, n_frames // 8), window="wide", max_oversample=16, method="exact")
        out["ronchigrams_per_s_128_wide"] = rw["per_s"]
        out["ronchigrams_per_cpu_s_128_wide"] = rw["per_cpu_s"]
        out["wide_mean_oversample_128"] = rw["mean_oversample"]
        # the tiled far field (sim/tiled_far_field.py) on the same window, same run
        rt = throughput(128, max(64, n_frames // 8), window="wide", max_oversample=16, method="tiled")
        out["ronchigrams_per_s_128_wide_tiled"] = rt["per_s"]
        out["ronchigrams_per_cpu_s_128_wide_tiled"] = rt["per_cpu_s"]
    if with_abtem:
        ab = abtem_ratio(128)
        out["abtem_speed_ratio_128"] = None if ab is None else ab["ratio"]
        if ab is not None:
            out["abtem_ronchigrams_per_s_128"] = ab["abtem_per_s"]
            out["ours_noiseless_per_s_128"] = ab["ours_per_s"]
    import os

    out["cpus"] = os.cpu_count()
    out["load_avg_1min"] = os.getloadavg()[0]
    return out
