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

Sample and instrument invariance (version 4, issue 12): three renderers per simulator group -
the twin with its atomic samples (``twin_atoms``), the twin with random-field phase objects of
randomised spectrum, correlation length and strength (``twin_field``,
:mod:`beamloop.models.textures`), and our own geometric-optics renderer (``geometric``,
:mod:`beamloop.models.geometric_ronchigram`) - so the texture scale spans over a decade and the
contrast < 1 % to 15 %; plus beam energy 60-300 kV, detector MTF, source size, dose, and a
contrast rescaling of the twin's frames about their local mean.

Generation runs on dask.distributed (:func:`generate`: a ``LocalCluster`` of single-threaded
worker processes by default, or any scheduler by address); each task writes one HDF5 shard: ``features`` float32 (N, 216), ``labels`` float64 (N, 5) metres (attrs
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
from beamloop.models.textures import KINDS as TEXTURE_KINDS
from beamloop.sim.samples import CARBON_MIN_DISTANCE_M

NUISANCE = ("C23.x", "C23.y", "C30", "C32.x", "C32.y", "C34.x", "C34.y")
SAMPLE_KINDS = ("amorphous_carbon", "si100", "si110")
RENDERERS = ("twin_atoms", "twin_field", "geometric")


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
    sample_probs: tuple[float, ...] = (0.8, 0.1, 0.1)  # SAMPLE_KINDS (renderer twin_atoms)
    thickness_m: tuple[float, float] = (3e-9, 20e-9)
    # the twin's amorphous-carbon model: hard-core distance of its atoms (short-range order, the
    # twin's default since issue 12; 0 would be the ideal gas the first v3 weights were trained on)
    sample_min_distance_m: float = CARBON_MIN_DISTANCE_M
    renderer_probs: tuple[float, ...] = (0.35, 0.35, 0.3)  # RENDERERS
    texture_probs: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)  # textures.KINDS (twin_field, geometric)
    corr_len_m: tuple[float, float] = (0.6e-10, 6e-10)  # log-uniform texture correlation length
    phase_rms_rad: tuple[float, float] = (0.03, 0.6)  # log-uniform (twin_field)
    geometric_contrast: tuple[float, float] = (0.004, 0.15)  # log-uniform rms contrast (geometric)
    contrast_gain: tuple[float, float] = (0.08, 1.0)  # log-uniform rescaling of twin frames about their local mean
    contrast_gain_fraction: float = 0.5  # twin examples rescaled
    energy_eV: tuple[float, float] = (60e3, 300e3)
    detector_psf_px: tuple[float, float] = (0.3, 1.2)
    dose_e: tuple[float, float] = (1e5, 1e7)  # log-uniform, electrons per frame
    convergence_semiangle_rad: tuple[float, float] = (28e-3, 32e-3)
    camera_half_range_alpha: tuple[float, float] = (1.35, 1.45)  # camera half range / alpha
    rotation_rad: tuple[float, float] = (-math.radians(2), math.radians(2))
    source_size_m: tuple[float, float] = (0.2e-10, 0.8e-10)
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


def randomisation_v3() -> Randomisation:
    """The version-3 randomisation: the twin with its atomic samples only (no random-field or
    geometric renderer, no contrast rescaling), at the twin's 300 kV and detector PSF (0.6 px),
    with v3's sample, dose and source ranges, and the twin's *current* sample model
    (``sample_min_distance_m``, hard-core amorphous carbon). Used with
    ``FeatureConfig(invariant=False)`` (the v3 features)."""
    return Randomisation(sample_probs=(0.9, 0.05, 0.05), thickness_m=(5e-9, 20e-9), renderer_probs=(1.0, 0.0, 0.0),
                         contrast_gain_fraction=0.0, energy_eV=(300e3, 300e3), detector_psf_px=(0.6, 0.6),
                         dose_e=(3e5, 3e6), source_size_m=(0.3e-10, 0.5e-10))


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
    renderer = RENDERERS[rng.choice(len(RENDERERS), p=np.array(rnd.renderer_probs) / sum(rnd.renderer_probs))]
    return dict(
        renderer=renderer,
        energy_eV=float(rng.uniform(*rnd.energy_eV)),
        detector_psf_px=float(rng.uniform(*rnd.detector_psf_px)),
        size_px=rnd.size_px,
        convergence_semiangle_rad=float(alpha),
        rad_per_px=float(2 * half / rnd.size_px),
        sample=kind,
        sample_thickness_m=float(rng.uniform(*rnd.thickness_m)),
        sample_rotation_rad=float(rng.uniform(0, 2 * math.pi)),
        sample_min_distance_m=float(rnd.sample_min_distance_m),
        source_size_m=float(rng.uniform(*rnd.source_size_m)),
        focal_spread_m=float(rng.uniform(*rnd.focal_spread_m)) if fs else 0.0,
        focal_spread_samples=3 if fs else 1,
        detector_gain=float(rng.uniform(*rnd.detector_gain)),
        readout_noise=float(rng.uniform(*rnd.readout_noise)),
        max_oversample=rnd.max_oversample,
        sample_patch_px=rnd.sample_patch_px,
    )


def ronchigram_config(kwargs: dict):
    """A RonchigramConfig from ``kwargs``, dropping fields this sim version does not have."""
    import dataclasses

    from beamloop.sim.ronchigram import RonchigramConfig

    names = {f.name for f in dataclasses.fields(RonchigramConfig)}
    return RonchigramConfig(**{k: v for k, v in kwargs.items() if k in names})


def _log_uniform(rng: np.random.Generator, lo_hi) -> float:
    return float(math.exp(rng.uniform(math.log(lo_hi[0]), math.log(lo_hi[1]))))


def _texture_kind(rng: np.random.Generator, rnd: Randomisation) -> str:
    return TEXTURE_KINDS[rng.choice(len(TEXTURE_KINDS), p=np.array(rnd.texture_probs) / sum(rnd.texture_probs))]


def rescale_contrast(img: np.ndarray, gain: float, sigma_px: float = 6.0) -> np.ndarray:
    """``m + gain (img - m)`` with ``m`` the frame smoothed over ``sigma_px``: the same Ronchigram
    with its speckle contrast times ``gain`` (a sample of lower or higher contrast)."""
    from scipy.ndimage import gaussian_filter

    m = gaussian_filter(img, sigma_px)
    return np.clip(m + np.float32(gain) * (img - m), 0.0, None).astype(np.float32)


def speckle_contrast(img: np.ndarray, alpha_px: float, within: float = 0.5) -> float:
    """Relative rms contrast (std / mean) of a noiseless frame inside ``within`` alpha."""
    n = img.shape[0]
    ii = np.arange(n) - n // 2
    r = np.hypot(ii[:, None], ii[None, :])
    v = img[r <= within * alpha_px]
    return float(v.std() / max(float(v.mean()), 1e-30))


class _Renderer:
    """One simulator group: the twin (atomic or random-field sample) or the geometric renderer;
    ``expected(aberrations_list, shifts, rng)`` -> (2k, S, S) noiseless electrons at ``dose_e``."""

    def __init__(self, inst: dict, rnd: Randomisation, rng: np.random.Generator):
        from beamloop.sim.camera import CameraModel

        self.kind = inst["renderer"]
        self.corr_len_m, self.texture = 0.0, -1
        if self.kind == "geometric":
            from beamloop.models.geometric_ronchigram import GeometricConfig, GeometricRonchigram

            self.cfg_g = GeometricConfig(size_px=inst["size_px"], rad_per_px=inst["rad_per_px"],
                                         convergence_semiangle_rad=inst["convergence_semiangle_rad"])
            self.geo = GeometricRonchigram(self.cfg_g, None)
            self.camera = CameraModel(gain=inst["detector_gain"], readout_noise=inst["readout_noise"],
                                      psf_sigma_px=inst["detector_psf_px"])
            self.span_m = 1e-6
            from beamloop.sim.optics import electron_wavelength

            lam = electron_wavelength(inst["energy_eV"])
            # what blurs the shadow image at the sample: source size and the probe's diffraction limit
            self.blur_m = math.hypot(inst["source_size_m"] / 2.3548, 0.5 * lam / inst["convergence_semiangle_rad"])
            return
        from beamloop.sim.ronchigram import RonchigramSimulator

        if self.kind == "twin_field":   # the twin's geometry with our own sample (no atoms built)
            import beamloop.sim.ronchigram as ronchigram

            build = ronchigram._cached_transmission
            ronchigram._cached_transmission = lambda spec, n_px, *a: np.ones((n_px, n_px), np.complex64)
            try:
                self.sim = RonchigramSimulator(ronchigram_config(inst), seed=int(rng.integers(2**31)))
            finally:
                ronchigram._cached_transmission = build
        else:
            self.sim = RonchigramSimulator(ronchigram_config(inst), seed=int(rng.integers(2**31)))
        cfg = self.sim.cfg
        if self.kind == "twin_field":
            from beamloop.models.textures import phase_object

            kind = _texture_kind(rng, rnd)
            L = max(_log_uniform(rng, rnd.corr_len_m), 3.0 * cfg.pixel_m)   # representable on the grid
            self.sim._t = phase_object(self.sim.patch_px, cfg.pixel_m, kind, L, _log_uniform(rng, rnd.phase_rms_rad),
                                       rng, blur_sigma_m=cfg.source_size_m / 2.3548)
            self.corr_len_m, self.texture = L, TEXTURE_KINDS.index(kind)
        self.camera = self.sim.camera
        margin = cfg.size_px * cfg.max_oversample / 2 + 2
        self.span_m = max(self.sim.patch_px / 2 - margin, 0) * cfg.pixel_m
        self.cfg = cfg

    def prepare(self, abs_pairs, shifts) -> None:
        """Batch the twin's frames of the whole group (one call is ~10x cheaper than per pair)."""
        if self.kind != "geometric":
            flat = [a for p in abs_pairs for a in p]
            sh = np.repeat(np.asarray(shifts, float), 2, axis=0)
            self._batch = self.sim.expected(flat, scan_shift_m=sh) / np.float32(self.cfg.dose_e)

    def pair(self, k: int, abs_pair, shift, rng: np.random.Generator, rnd: Randomisation) -> tuple[np.ndarray, float]:
        """Noiseless pair ``k`` of the group (2, S, S) electrons for a dose of 1, and the
        contrast gain applied to it (twin) or 1 (geometric: its contrast is drawn per texture)."""
        if self.kind == "geometric":
            from beamloop.models.textures import PlaneWaves

            kind = _texture_kind(rng, rnd)
            L = _log_uniform(rng, rnd.corr_len_m)
            tex = PlaneWaves.draw(kind, L, rng, n_waves=96).blurred(self.blur_m)
            self.corr_len_m, self.texture = L, TEXTURE_KINDS.index(kind)
            c = _log_uniform(rng, rnd.geometric_contrast)
            C = np.stack([a.vector for a in abs_pair])
            return self.geo.expected(C, 1.0, offset_m=shift, texture=tex, contrast=c), 1.0
        e = self._batch[2 * k:2 * k + 2]
        gain = 1.0
        if rng.random() < rnd.contrast_gain_fraction:
            gain = _log_uniform(rng, rnd.contrast_gain)
            e = np.stack([rescale_contrast(f, gain) for f in e])
        return e, gain


# examples per renderer group, as fractions of ``group``: an atomic sample costs ~7 s to build,
# a random-field one ~2 s, the geometric renderer nothing (it draws a texture per example)
GROUP_FRACTION = {"twin_atoms": 1.0, "twin_field": 0.5, "geometric": 0.25}


def simulate_pairs(n: int, seed: int, rnd: Randomisation | None = None, group: int = 256,
                   labels: np.ndarray | None = None, keep_pairs: bool = False,
                   features: FeatureConfig = FeatureConfig()) -> dict[str, np.ndarray]:
    """Simulate ``n`` pairs; returns arrays (see the module docstring).

    ``features`` of every pair are always computed; the raw ``pairs`` only with ``keep_pairs``.
    A renderer (and for the twin its sample) is shared by ``group`` consecutive examples; the
    geometric renderer draws a new texture per example.
    """
    import torch

    from beamloop.models.symmetry import rotate_coefficients
    from beamloop.sim.aberrations import Aberrations

    torch.set_num_threads(1)
    rnd = rnd or Randomisation()
    rng = np.random.default_rng(seed)
    labs = sample_labels(rng, n, rnd) if labels is None else np.asarray(labels, dtype=np.float64)
    S = rnd.size_px
    pairs = np.zeros((n if keep_pairs else 0, 2, S, S), np.uint16)
    feats = np.zeros((n, features.n_features), np.float32)
    nuis = rng.uniform(-1, 1, (n, len(NUISANCE))) * np.array(rnd.nuisance_halfwidth_m)
    cond = {k: np.zeros(n) for k in ("alpha_rad", "rad_per_px", "thickness_m", "source_size_m", "focal_spread_m",
                                     "dose_e", "rotation_rad", "sample_id", "gain", "renderer", "corr_len_m",
                                     "texture", "contrast", "energy_eV", "psf_px")}
    g0 = 0
    while g0 < n:
        inst = _instrument(rng, rnd)
        size = max(1, int(group * GROUP_FRACTION[inst["renderer"]]))
        idx = np.arange(g0, min(n, g0 + size))
        g0 += size
        ren = _Renderer(inst, rnd, rng)
        alpha_px = inst["convergence_semiangle_rad"] / inst["rad_per_px"]
        psis, abs_pairs, shifts = [], [], []
        for i in idx:
            psi = rng.uniform(*rnd.rotation_rad)
            vals = dict(zip(AXES, labs[i]))
            vals.update(zip(NUISANCE, nuis[i]))
            vals = rotate_coefficients(vals, psi)  # what a camera rotated by psi sees
            shifts.append(rng.uniform(-ren.span_m, ren.span_m, 2) if ren.span_m > 0 else np.zeros(2))
            abs_pairs.append([Aberrations(**{**vals, "C10": vals["C10"] + s * rnd.delta_c10_m}) for s in (-1, 1)])
            psis.append(psi)
        ren.prepare(abs_pairs, shifts)
        for k, i in enumerate(idx):
            psi, shift, abs_pair = psis[k], shifts[k], abs_pairs[k]
            e, gain = ren.pair(k, abs_pair, shift, rng, rnd)
            dose = _log_uniform(rng, rnd.dose_e)
            img = ren.camera.expose(e * np.float32(dose), rng)
            pair = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
            feats[i] = pair_features(pair[0], pair[1], features)
            if keep_pairs:
                pairs[i] = pair
            cond["alpha_rad"][i] = inst["convergence_semiangle_rad"]
            cond["rad_per_px"][i] = inst["rad_per_px"]
            cond["thickness_m"][i] = inst["sample_thickness_m"] if ren.kind == "twin_atoms" else 0.0
            cond["source_size_m"][i] = inst["source_size_m"]
            cond["focal_spread_m"][i] = inst["focal_spread_m"] if ren.kind != "geometric" else 0.0
            cond["dose_e"][i] = dose
            cond["rotation_rad"][i] = psi
            cond["sample_id"][i] = SAMPLE_KINDS.index(inst["sample"]) if ren.kind == "twin_atoms" else -1
            cond["gain"][i] = inst["detector_gain"]
            cond["renderer"][i] = RENDERERS.index(ren.kind)
            cond["corr_len_m"][i] = ren.corr_len_m
            cond["texture"][i] = ren.texture
            cond["contrast"][i] = speckle_contrast(e[0], alpha_px)
            cond["energy_eV"][i] = inst["energy_eV"]
            cond["psf_px"][i] = inst["detector_psf_px"]
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


def _shard_job(path: str, n: int, seed: int, rnd_json: str, features_json: str,
               keep_pairs: bool = False) -> tuple[str, float]:
    """One task: simulate ``n`` pairs and write them to ``path`` (atomically)."""
    import torch

    torch.set_num_threads(1)
    rnd = Randomisation.from_json(rnd_json)
    fcfg = FeatureConfig.from_dict(json.loads(features_json))
    t0 = time.time()
    write_shard(path, simulate_pairs(n, seed, rnd, features=fcfg, keep_pairs=keep_pairs), rnd, fcfg)
    return str(path), time.time() - t0


def dask_client(scheduler: str | None = None, workers: int = 2):
    """A dask.distributed ``Client``: to ``scheduler`` (``tcp://host:port``) if given, else to a new
    ``LocalCluster`` of ``workers`` single-threaded worker processes (no dashboard: several of us
    share this machine). Worker processes inherit ``OMP_NUM_THREADS=1``."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_port=0, silence_logs=40)
    return Client(cluster)


class DataIncomplete(RuntimeError):
    """Data generation stopped at its time budget before every shard was written; run again with
    the same data directory to resume (the shards written are kept)."""


def generate(out_dir: str | Path, n: int, shard_size: int = 256, seed: int = 0, workers: int = 2,
             rnd: Randomisation | None = None, prefix: str = "train", client=None,
             scheduler: str | None = None, features: FeatureConfig = FeatureConfig(), progress=None,
             keep_pairs: bool = False, deadline: float | None = None) -> list[Path]:
    """Generate ``n`` pairs into ``out_dir/<prefix>-XXXX.h5`` shards, one dask task per shard.

    Shards that already exist (same name) are kept, so an interrupted run resumes (a shard is
    written to ``.tmp`` and renamed when complete). ``client``: an existing dask ``Client``;
    else one is made with :func:`dask_client` (``scheduler`` or a ``LocalCluster`` of
    ``workers``) and closed at the end; ``workers <= 1`` without either runs in this process.
    A remote cluster's workers must see ``out_dir`` (a shared file system). ``keep_pairs``
    also stores the raw pairs (64 KB each), e.g. to compute other features from them.
    ``deadline`` (``time.time()`` seconds): no shard is *started* after it (at most one shard
    per worker is in flight, and those finish); :class:`DataIncomplete` if shards are missing then.
    """
    rnd = rnd or Randomisation()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for k, start in enumerate(range(0, n, shard_size)):
        p = out_dir / f"{prefix}-{k:04d}.h5"
        if not p.exists():
            jobs.append((str(p), min(shard_size, n - start), seed * 100003 + k, rnd.to_json(),
                         json.dumps(features.to_dict()), keep_pairs))
    done = [out_dir / f"{prefix}-{k:04d}.h5" for k in range(math.ceil(n / shard_size))]
    if not jobs:
        return done

    def late() -> bool:
        return deadline is not None and time.time() >= deadline

    if client is None and scheduler is None and workers <= 1:
        for j in jobs:
            if late():
                break
            _shard_job(*j)
        return _complete(done, prefix, out_dir)
    from dask.distributed import as_completed

    own = client is None
    client = client or dask_client(scheduler, workers)
    try:
        slots = max(1, sum(client.nthreads().values())) if deadline is not None else len(jobs)
        todo = list(jobs)

        def submit():
            j = todo.pop(0)
            return client.submit(_shard_job, *j, key=f"beamloop-shard-{Path(j[0]).name}-{j[2]}", pure=False)

        queue = as_completed([submit() for _ in range(min(slots, len(todo)))])
        for k, fut in enumerate(queue, 1):
            path, sec = fut.result()
            if progress:
                progress(f"  shard {Path(path).name} ({sec:.0f} s) {k}/{len(jobs)}")
            if todo and not late():
                queue.add(submit())
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    return _complete(done, prefix, out_dir)


def _complete(paths: list[Path], prefix: str, out_dir: Path) -> list[Path]:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise DataIncomplete(f"{out_dir}: {len(missing)} of {len(paths)} '{prefix}' shards not written yet (time budget "
                             "reached); run again with the same data directory to resume")
    return paths


def sample_network_inputs(n: int, rng: np.random.Generator, meta: dict) -> np.ndarray:
    """``n`` realistic network inputs ``(n, 216)`` (standardised, not yet on the grid), from the
    twin with the training randomisation, half from the full box and half near-aligned."""
    from beamloop.models.preprocess import standardise

    rnd = Randomisation.from_json(json.dumps(meta["randomisation"])) if "randomisation" in meta else Randomisation()
    fcfg = FeatureConfig.from_dict(meta["features"]) if "features" in meta else FeatureConfig()
    data = simulate_pairs(n, int(rng.integers(2**31)), rnd, group=max(n, 1), features=fcfg)
    if "feature_mean" not in meta:
        raise ValueError("alignment model metadata lacks feature_mean/feature_std; retrain with `beamloop train alignment`")
    return standardise(data["features"], meta["feature_mean"], meta["feature_std"])
