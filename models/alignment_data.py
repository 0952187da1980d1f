"""Training data for the alignment network, made with the twin (``beamloop.sim.ronchigram``).

Each example is a Ronchigram *pair* at ``C10 - delta`` and ``C10 + delta`` (same sample region,
same instrument), reduced at once to its local-magnification features
(:mod:`beamloop.models.ronchigram_features`), with labels = the aberrations
``(C10, C12.x, C12.y, C21.x, C21.y)`` at the centre of the pair, in metres, in the corrector's
frame (Krivanek cartesian, as Nion names them).

Domain randomisation (ranges in :class:`Randomisation`, recorded in every shard and the model
card): sample type and thickness, dose (shot + readout noise, camera gain), convergence
semi-angle, camera length (angular pixel size), camera rotation relative to the corrector (a
small nuisance), source size and focal spread, higher-order aberrations (C23, C30, C32, C34) as
nuisances, sample region. The instrument geometry is randomised *around* the twin's (30 mrad,
camera +-1.4 alpha, 128 px): the network is calibrated for that class of instrument, as a
real autotuner is calibrated for its camera (retrain with other ranges for another one).

Generation runs in worker processes (``multiprocessing``, one torch thread each); each worker
writes one HDF5 shard: ``features`` float32 (N, 216), ``labels`` float64 (N, 5) metres (attrs
``axes``, ``unit="m"``), ``nuisance`` float64 (N, k) metres (attrs ``names``), per-example
conditions (``cond_*``), optionally the raw ``pairs`` uint16 (N, 2, S, S) camera counts, and
attrs ``delta_c10_m``, the randomisation and the feature configuration as JSON. A simulator
(it builds a sample patch) is reused for ``group`` examples that share an instrument and sample
kind; positions, aberrations, dose, gain and rotation change per example.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from beamloop.models.preprocess import AXES
from beamloop.models.ronchigram_features import FeatureConfig, pair_features

NUISANCE = ("C23.x", "C23.y", "C30", "C32.x", "C32.y", "C34.x", "C34.y")
SAMPLE_KINDS = ("amorphous_carbon", "si100", "si110")


@dataclass
class Randomisation:
    """Ranges of the domain randomisation (SI units; ``(lo, hi)`` uniform unless noted).

    label_halfwidth_m: aberrations at the pair centre, uniform in +-w per axis (``AXES`` order)
    for a fraction ``1 - small_fraction``; the rest is drawn in ``+-f w`` with ``f``
    log-uniform in ``[small_min_factor, 1]`` per example, so every scale between the start of
    an alignment and its last re-measure (residuals of a few nm) is equally well represented:
    an iterative corrector needs a *relative* accuracy at every scale.
    """

    label_halfwidth_m: tuple[float, ...] = (200e-9, 200e-9, 200e-9, 2.5e-6, 2.5e-6)
    small_fraction: float = 0.6
    small_min_factor: float = 1.0 / 40.0
    nuisance_halfwidth_m: tuple[float, ...] = (30e-9, 30e-9, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6)
    sample_probs: tuple[float, ...] = (0.9, 0.05, 0.05)  # SAMPLE_KINDS
    thickness_m: tuple[float, float] = (5e-9, 20e-9)
    dose_e: tuple[float, float] = (3e5, 3e6)  # log-uniform, electrons per frame
    convergence_semiangle_rad: tuple[float, float] = (28e-3, 32e-3)
    camera_half_range_alpha: tuple[float, float] = (1.35, 1.45)  # camera half range / alpha
    rotation_rad: tuple[float, float] = (-math.radians(2), math.radians(2))
    source_size_m: tuple[float, float] = (0.3e-10, 0.5e-10)
    focal_spread_m: tuple[float, float] = (0.5e-9, 2e-9)
    focal_spread_fraction: float = 0.1  # examples simulated with 3-point focal spread
    detector_gain: tuple[float, float] = (4.0, 12.0)
    readout_noise: tuple[float, float] = (0.5, 4.0)
    size_px: int = 128
    delta_c10_m: float = 80e-9
    max_oversample: int = 16  # internal sampling of the twin (cost grows with it)
    sample_patch_px: int | None = None  # None: the twin's default patch for max_oversample

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, s: str) -> "Randomisation":
        d = json.loads(s)
        names = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def sample_labels(rng: np.random.Generator, n: int, rnd: Randomisation) -> np.ndarray:
    """Aberrations at the pair centre (n, 5) in metres (see :class:`Randomisation`)."""
    f = np.exp(rng.uniform(np.log(rnd.small_min_factor), 0.0, (n, 1)))
    f = np.where(rng.random((n, 1)) < rnd.small_fraction, f, 1.0)
    return rng.uniform(-1, 1, (n, len(AXES))) * f * np.array(rnd.label_halfwidth_m)


def _instrument(rng: np.random.Generator, rnd: Randomisation) -> dict:
    alpha = rng.uniform(*rnd.convergence_semiangle_rad)
    half = rng.uniform(*rnd.camera_half_range_alpha) * alpha
    kind = SAMPLE_KINDS[rng.choice(len(SAMPLE_KINDS), p=np.array(rnd.sample_probs) / sum(rnd.sample_probs))]
    fs = rng.random() < rnd.focal_spread_fraction
    return dict(
        size_px=rnd.size_px,
        convergence_semiangle_rad=float(alpha),
        rad_per_px=float(2 * half / rnd.size_px),
        sample=kind,
        sample_thickness_m=float(rng.uniform(*rnd.thickness_m)),
        sample_rotation_rad=float(rng.uniform(0, 2 * math.pi)),
        source_size_m=float(rng.uniform(*rnd.source_size_m)),
        focal_spread_m=float(rng.uniform(*rnd.focal_spread_m)) if fs else 0.0,
        focal_spread_samples=3 if fs else 1,
        detector_gain=float(rng.uniform(*rnd.detector_gain)),
        readout_noise=float(rng.uniform(*rnd.readout_noise)),
        max_oversample=rnd.max_oversample,
        sample_patch_px=rnd.sample_patch_px,
    )


def _config(kwargs: dict):
    """A RonchigramConfig from ``kwargs``, dropping fields this sim version does not have."""
    import dataclasses

    from beamloop.sim.ronchigram import RonchigramConfig

    names = {f.name for f in dataclasses.fields(RonchigramConfig)}
    return RonchigramConfig(**{k: v for k, v in kwargs.items() if k in names})


def simulate_pairs(n: int, seed: int, rnd: Randomisation | None = None, group: int = 256,
                   labels: np.ndarray | None = None, keep_pairs: bool = False,
                   features: FeatureConfig = FeatureConfig()) -> dict[str, np.ndarray]:
    """Simulate ``n`` pairs with the twin; returns arrays (see the module docstring).

    ``features`` of every pair are always computed; the raw ``pairs`` only with ``keep_pairs``.
    """
    import torch

    from beamloop.models.symmetry import rotate_coefficients
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.ronchigram import RonchigramSimulator

    torch.set_num_threads(1)
    rnd = rnd or Randomisation()
    rng = np.random.default_rng(seed)
    labs = sample_labels(rng, n, rnd) if labels is None else np.asarray(labels, dtype=np.float64)
    S = rnd.size_px
    pairs = np.zeros((n if keep_pairs else 0, 2, S, S), np.uint16)
    feats = np.zeros((n, features.n_features), np.float32)
    nuis = rng.uniform(-1, 1, (n, len(NUISANCE))) * np.array(rnd.nuisance_halfwidth_m)
    cond = {k: np.zeros(n) for k in ("alpha_rad", "rad_per_px", "thickness_m", "source_size_m", "focal_spread_m",
                                     "dose_e", "rotation_rad", "sample_id", "gain")}
    for g0 in range(0, n, group):
        idx = np.arange(g0, min(n, g0 + group))
        inst = _instrument(rng, rnd)
        sim = RonchigramSimulator(_config(inst), seed=int(rng.integers(2**31)))
        cfg = sim.cfg
        margin = cfg.size_px * cfg.max_oversample / 2 + 2
        span_m = max(sim.patch_px / 2 - margin, 0) * cfg.pixel_m
        abs_, shifts, psis = [], [], []
        for i in idx:
            psi = rng.uniform(*rnd.rotation_rad)
            vals = dict(zip(AXES, labs[i]))
            vals.update(zip(NUISANCE, nuis[i]))
            vals = rotate_coefficients(vals, psi)  # what a camera rotated by psi sees
            shift = rng.uniform(-span_m, span_m, 2) if span_m > 0 else np.zeros(2)
            abs_ += [Aberrations(**{**vals, "C10": vals["C10"] + s * rnd.delta_c10_m}) for s in (-1, 1)]
            shifts += [shift, shift]
            psis.append(psi)
        expected = sim.expected(abs_, scan_shift_m=np.stack(shifts))
        for k, i in enumerate(idx):
            dose = math.exp(rng.uniform(math.log(rnd.dose_e[0]), math.log(rnd.dose_e[1])))
            img = sim.camera.expose(expected[2 * k:2 * k + 2] * np.float32(dose / cfg.dose_e), rng)
            pair = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
            feats[i] = pair_features(pair[0], pair[1], features)
            if keep_pairs:
                pairs[i] = pair
            cond["alpha_rad"][i] = cfg.convergence_semiangle_rad
            cond["rad_per_px"][i] = cfg.camera_rad_per_px
            cond["thickness_m"][i] = cfg.sample_thickness_m
            cond["source_size_m"][i] = cfg.source_size_m
            cond["focal_spread_m"][i] = inst["focal_spread_m"]
            cond["dose_e"][i] = dose
            cond["rotation_rad"][i] = psis[k]
            cond["sample_id"][i] = SAMPLE_KINDS.index(cfg.sample)
            cond["gain"][i] = cfg.detector_gain
    out = {"features": feats, "labels": labs, "nuisance": nuis, **{f"cond_{k}": v for k, v in cond.items()}}
    if keep_pairs:
        out["pairs"] = pairs
    return out


def write_shard(path: str | Path, data: dict[str, np.ndarray], rnd: Randomisation,
                features: FeatureConfig = FeatureConfig()) -> Path:
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=data["features"])
        if "pairs" in data:
            f.create_dataset("pairs", data=data["pairs"], compression="gzip", compression_opts=1)
        d = f.create_dataset("labels", data=data["labels"])
        d.attrs["axes"] = list(AXES)
        d.attrs["unit"] = "m"
        d = f.create_dataset("nuisance", data=data["nuisance"])
        d.attrs["names"] = list(NUISANCE)
        d.attrs["unit"] = "m"
        for k, v in data.items():
            if k.startswith("cond_"):
                f.create_dataset(k, data=v)
        f.attrs["delta_c10_m"] = rnd.delta_c10_m
        f.attrs["randomisation"] = rnd.to_json()
        f.attrs["features"] = json.dumps(features.to_dict())
        f.attrs["pair_order"] = "C10 - delta, C10 + delta"
    os.replace(tmp, path)
    return path


def read_shards(paths) -> tuple[dict[str, np.ndarray], dict]:
    """Concatenate shards; returns (arrays, attrs of the first shard). Checks labels are SI and
    that every shard was made with the same feature configuration and defocus offset."""
    import h5py

    out: dict[str, list] = {}
    attrs: dict = {}
    for p in sorted(paths):
        with h5py.File(p, "r") as f:
            if f["labels"].attrs["unit"] != "m" or list(f["labels"].attrs["axes"]) != list(AXES):
                raise ValueError(f"{p}: labels must be metres in axes {AXES}")
            if "features" not in f:
                raise ValueError(f"{p}: no 'features' dataset (a shard from an older data format); delete it and regenerate")
            if not attrs:
                attrs = {k: f.attrs[k] for k in f.attrs}
            elif f.attrs.get("features") != attrs.get("features") or f.attrs["delta_c10_m"] != attrs["delta_c10_m"]:
                raise ValueError(f"{p}: made with a different feature configuration or delta than {sorted(paths)[0]}")
            for k in f.keys():
                out.setdefault(k, []).append(f[k][...])
    if not out:
        raise FileNotFoundError(f"no shards in {list(paths)}")
    return {k: np.concatenate(v) for k, v in out.items()}, attrs


def _shard_job(args):
    path, n, seed, rnd_json = args
    rnd = Randomisation.from_json(rnd_json)
    t0 = time.time()
    write_shard(path, simulate_pairs(n, seed, rnd), rnd)
    return str(path), time.time() - t0


def generate(out_dir: str | Path, n: int, shard_size: int = 256, seed: int = 0, workers: int = 2,
             rnd: Randomisation | None = None, prefix: str = "train") -> list[Path]:
    """Generate ``n`` pairs into ``out_dir/<prefix>-XXXX.h5`` shards with ``workers`` processes.

    Shards that already exist (same name) are kept, so an interrupted run resumes.
    """
    import multiprocessing as mp

    rnd = rnd or Randomisation()
    out_dir = Path(out_dir)
    jobs = []
    for k, start in enumerate(range(0, n, shard_size)):
        p = out_dir / f"{prefix}-{k:04d}.h5"
        if not p.exists():
            jobs.append((p, min(shard_size, n - start), seed * 100003 + k, rnd.to_json()))
    done = [out_dir / f"{prefix}-{k:04d}.h5" for k in range(math.ceil(n / shard_size))]
    if jobs:
        if workers <= 1:
            for j in jobs:
                _shard_job(j)
        else:
            with mp.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_shard_job, jobs):
                    pass
    return done


def sample_network_inputs(n: int, rng: np.random.Generator, meta: dict) -> np.ndarray:
    """``n`` realistic network inputs ``(n, 216)`` (standardised, not yet on the grid), from the
    twin with the training randomisation, half from the full box and half near-aligned."""
    from beamloop.models.preprocess import standardise

    rnd = Randomisation.from_json(json.dumps(meta["randomisation"])) if "randomisation" in meta else Randomisation()
    data = simulate_pairs(n, int(rng.integers(2**31)), rnd, group=max(n, 1))
    if "feature_mean" not in meta:
        raise ValueError("alignment model metadata lacks feature_mean/feature_std; retrain with `beamloop train alignment`")
    return standardise(data["features"], meta["feature_mean"], meta["feature_std"])
