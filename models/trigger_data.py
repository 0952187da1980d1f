"""Labelled detector streams from the twin for the trigger network, with injected events.

A stream is ``T`` consecutive 64 x 64 detector frames (Ronchigram camera, frames as ``[y, x]``
rasters like the firmware: the sim's ``[theta_x, theta_y]`` image transposed) of one
instrument + sample (randomised like the alignment data, see :class:`TriggerRandomisation`),
with nuisances that must *not* fire the trigger: shot and readout noise, beam-current flicker
(a few percent), slow aberration drift within tolerance, slow sample drift (probe position).

Events (the trigger must fire), injected at random frames, at least ``min_gap`` frames apart:

(a) ``drift``: the alignment jumps beyond tolerance within 1-2 frames (C10 by 30-150 nm, or
    C12 by 30-120 nm, or C21 by 0.6-2 um, random sign and direction): lens/hysteresis events;
(b) ``sample``: the sample changes under the beam: the probe lands on a new region
    (a different speckle/lattice patch) and/or the local thickness changes (scattering jumps,
    modelled as a 3-25 % change of the transmitted intensity plus a new region).

Label: 1 on the frame where an event happens (and the following frame for 2-frame ramps),
0 elsewhere; each frame's network input is computed exactly as the RTL does
(:func:`beamloop.models.trigger_features.stream_inputs`) with ``SHIFT`` set from the stream's
dose (mean ``a[k]`` of the first frame in [64, 128)) and ``DSHIFT = SHIFT - dshift_gain``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from beamloop.models.trigger_features import network_input, region_sums_batch


@dataclass
class TriggerRandomisation:
    frames: int = 40
    events_per_stream: tuple[int, int] = (0, 3)
    min_gap: int = 6
    convergence_semiangle_rad: tuple[float, float] = (15e-3, 21e-3)
    camera_half_range_alpha: tuple[float, float] = (1.15, 1.5)
    sample_probs: tuple[float, ...] = (0.7, 0.15, 0.15)
    thickness_m: tuple[float, float] = (3e-9, 30e-9)
    dose_e: tuple[float, float] = (1e5, 1e7)
    residual_m: tuple[float, ...] = (8e-9, 8e-9, 8e-9, 100e-9, 100e-9)  # aligned state, +-
    drift_walk_m: tuple[float, ...] = (0.05e-9, 0.03e-9, 0.03e-9, 0.5e-9, 0.5e-9)  # per frame, rms (> twin's)
    flicker: float = 0.02  # rms relative beam-current fluctuation per frame
    position_walk_m: float = 0.01e-9  # rms probe/sample drift per frame
    drift_jump_m: tuple[tuple[float, float], ...] = ((30e-9, 150e-9), (30e-9, 120e-9), (0.6e-6, 2e-6))
    thickness_jump: tuple[float, float] = (0.03, 0.25)
    dshift_gain: int = 2
    size_px: int = 64

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, s: str) -> "TriggerRandomisation":
        d = json.loads(s)
        fix = lambda v: tuple(fix(x) for x in v) if isinstance(v, list) else v  # noqa: E731
        return cls(**{k: fix(v) for k, v in d.items()})


def default_region_map() -> np.ndarray:
    """The deployed 4 rings x 4 segments map of a 64 x 64 frame (firmware's integer definition)."""
    from beamloop.sim.detector_regions import ring_segment_map

    return ring_segment_map(64, 64, 4, 4)


def choose_shift(S_first: np.ndarray, target: float = 64.0) -> int:
    """``SHIFT`` such that the mean of ``S >> SHIFT`` lies in [target, 2 target) (>= 0)."""
    m = float(np.mean(S_first))
    return max(0, int(math.floor(math.log2(max(m, 1.0) / target))))


def make_simulator(rng: np.random.Generator, rnd: TriggerRandomisation):
    """A twin Ronchigram simulator for one randomised instrument + sample."""
    from beamloop.models.alignment_data import SAMPLE_KINDS, ronchigram_config
    from beamloop.sim.ronchigram import RonchigramSimulator

    alpha = rng.uniform(*rnd.convergence_semiangle_rad)
    half = rng.uniform(*rnd.camera_half_range_alpha) * alpha
    kind = SAMPLE_KINDS[rng.choice(3, p=np.array(rnd.sample_probs) / sum(rnd.sample_probs))]
    return RonchigramSimulator(ronchigram_config(dict(
        size_px=rnd.size_px, convergence_semiangle_rad=alpha, rad_per_px=2 * half / rnd.size_px, sample=kind,
        sample_thickness_m=rng.uniform(*rnd.thickness_m), sample_rotation_rad=rng.uniform(0, 2 * math.pi),
        max_oversample=12, focal_spread_samples=1, sample_patch_px=1024,
    )), seed=int(rng.integers(2**31)))


def simulate_stream(seed: int, rnd: TriggerRandomisation | None = None, sim=None) -> dict[str, np.ndarray]:
    """One labelled stream: ``frames`` (T, 64, 64) uint16, ``labels`` (T,), ``kind`` (T,) 0 none,
    1 drift, 2 sample; ``aberrations`` (T, 5) metres; ``dose_e``. ``sim``: reuse a simulator
    (from :func:`make_simulator`), else a new randomised one is built."""
    import torch

    from beamloop.models.preprocess import AXES
    from beamloop.sim.aberrations import Aberrations

    torch.set_num_threads(1)
    rnd = rnd or TriggerRandomisation()
    rng = np.random.default_rng(seed)
    T = rnd.frames
    if sim is None:
        sim = make_simulator(rng, rnd)
    cfg = sim.cfg
    margin = cfg.size_px * cfg.max_oversample / 2 + 2
    span_m = max(sim.patch_px / 2 - margin, 0) * cfg.pixel_m * 0.9
    dose = math.exp(rng.uniform(math.log(rnd.dose_e[0]), math.log(rnd.dose_e[1])))
    ab = rng.uniform(-1, 1, 5) * np.array(rnd.residual_m)
    pos = rng.uniform(-span_m, span_m, 2)
    trans = 1.0
    # event schedule
    n_ev = int(rng.integers(rnd.events_per_stream[0], rnd.events_per_stream[1] + 1))
    times: list[int] = []
    for _ in range(50):
        if len(times) >= n_ev:
            break
        t = int(rng.integers(2, T))
        if all(abs(t - u) >= rnd.min_gap for u in times):
            times.append(t)
    events = {t: ("drift" if rng.random() < 0.5 else "sample") for t in times}
    labels = np.zeros(T, np.int8)
    kinds = np.zeros(T, np.int8)
    abs_hist = np.zeros((T, 5))
    frames = np.zeros((T, rnd.size_px, rnd.size_px), np.uint16)
    pending = np.zeros(5)
    walk = np.array(rnd.drift_walk_m)
    for t in range(T):
        ab = ab + rng.standard_normal(5) * walk
        ab = np.clip(ab, -2 * np.array(rnd.residual_m), 2 * np.array(rnd.residual_m)) if not labels[:t].any() else ab
        pos = np.clip(pos + rng.standard_normal(2) * rnd.position_walk_m, -span_m, span_m)
        if pending.any():  # second frame of a 2-frame ramp
            ab = ab + pending
            pending[:] = 0
            labels[t], kinds[t] = 1, 1
        ev = events.get(t)
        if ev == "drift":
            which = int(rng.integers(3))
            lo, hi = rnd.drift_jump_m[which]
            mag = rng.uniform(lo, hi)
            step = np.zeros(5)
            if which == 0:
                step[0] = mag * rng.choice([-1, 1])
            else:
                phi = rng.uniform(0, 2 * math.pi)
                i0 = 1 if which == 1 else 3
                step[i0], step[i0 + 1] = mag * math.cos(phi), mag * math.sin(phi)
            if rng.random() < 0.5:  # 2-frame ramp
                ab, pending = ab + step / 2, step / 2
            else:
                ab = ab + step
            labels[t], kinds[t] = 1, 1
        elif ev == "sample":
            pos = rng.uniform(-span_m, span_m, 2)
            if rng.random() < 0.7:
                trans *= 1 + rng.choice([-1, 1]) * rng.uniform(*rnd.thickness_jump)
            labels[t], kinds[t] = 1, 2
        e = sim.expected([Aberrations(**dict(zip(AXES, ab)))], scan_shift_m=pos[None])
        flick = 1 + rnd.flicker * rng.standard_normal()
        img = sim.camera.expose(e * np.float32(dose / cfg.dose_e * trans * flick), rng)[0]
        frames[t] = np.clip(np.rint(img), 0, 65535).astype(np.uint16).T  # [y, x] raster
        abs_hist[t] = ab
    return {"frames": frames, "labels": labels, "kind": kinds, "aberrations": abs_hist, "dose_e": np.array(dose)}


def stream_features(frames: np.ndarray, region_map: np.ndarray, dshift_gain: int = 2,
                    version: int = 2) -> tuple[np.ndarray, int, int]:
    """Network inputs (T, 32) int64 of one stream (features ``version`` 2: log change energy and its
    ratio to the running baseline; 3: that ratio against the previous frame and against two frames
    back - docs/trigger_features.md), and the (unused by v2/v3) SHIFT/DSHIFT the v1 rule would pick."""
    from beamloop.models.trigger_features import stream_inputs_frames

    x = stream_inputs_frames(frames, region_map, version)
    S = region_sums_batch(frames[:1], region_map)
    shift = choose_shift(S[0])
    return x, shift, max(shift - dshift_gain, 0)


def stream_features_v1(frames: np.ndarray, region_map: np.ndarray, dshift_gain: int = 2) -> tuple[np.ndarray, int, int]:
    """v1 network inputs ``[a[k], d[k]]`` (T, 32) of one stream, SHIFT/DSHIFT chosen from frame 0."""
    S = region_sums_batch(frames, region_map)
    shift = choose_shift(S[0])
    dshift = max(shift - dshift_gain, 0)
    x = np.stack([network_input(S[t], S[t - 1] if t else None, shift, dshift) for t in range(len(S))])
    return x, shift, dshift


STREAMS_PER_SIMULATOR = 4


def _job(args):
    seed, rnd_json = args
    rnd = TriggerRandomisation.from_json(rnd_json)
    sim = make_simulator(np.random.default_rng(seed), rnd)
    out = []
    for j in range(STREAMS_PER_SIMULATOR):
        d = simulate_stream(seed * 7 + j + 1, rnd, sim)
        x, shift, dshift = stream_features(d["frames"], default_region_map(), rnd.dshift_gain)
        out.append((x, d["labels"], d["kind"], shift, dshift, d["frames"][:2]))
    return out


def generate(path: str | Path, n_streams: int, seed: int = 0, workers: int = 2,
             rnd: TriggerRandomisation | None = None) -> Path:
    """Simulate ``n_streams`` streams and store features/labels in one HDF5 file at ``path``.

    Datasets: ``x`` (N, 32) int16 network inputs, ``y`` (N,) labels, ``kind`` (N,), ``stream``
    (N,) stream index, ``shift``/``dshift`` per stream; attrs: randomisation JSON.
    """
    import multiprocessing as mp

    import h5py

    rnd = rnd or TriggerRandomisation()
    path = Path(path)
    if path.exists():
        return path
    jobs = [(seed * 1_000_003 + i, rnd.to_json()) for i in range(math.ceil(n_streams / STREAMS_PER_SIMULATOR))]
    t0 = time.time()
    if workers <= 1:
        res = [_job(j) for j in jobs]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            res = pool.map(_job, jobs, chunksize=1)
    res = [r for group in res for r in group][:n_streams]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=np.concatenate([r[0] for r in res]).astype(np.int16))
        f.create_dataset("y", data=np.concatenate([r[1] for r in res]))
        f.create_dataset("kind", data=np.concatenate([r[2] for r in res]))
        f.create_dataset("stream", data=np.concatenate([np.full(len(r[1]), i) for i, r in enumerate(res)]))
        f.create_dataset("shift", data=np.array([r[3] for r in res]))
        f.create_dataset("dshift", data=np.array([r[4] for r in res]))
        f.create_dataset("example_frames", data=np.stack([r[5] for r in res[:8]]))
        f.attrs["randomisation"] = rnd.to_json()
        f.attrs["seconds"] = time.time() - t0
    tmp.replace(path)
    return path


def read(path: str | Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in f.keys()} | {"randomisation": f.attrs["randomisation"]}


def sample_network_inputs(n: int, rng: np.random.Generator, meta: dict) -> np.ndarray:
    """``n`` realistic trigger inputs (n, 32) from freshly simulated streams (integers), in the
    network's features version (``meta["input"]["features_version"]``, default 2)."""
    version = int(meta.get("input", {}).get("features_version", 2))
    rnd = TriggerRandomisation.from_json(json.dumps(meta["randomisation"])) if "randomisation" in meta \
        else TriggerRandomisation()
    out = []
    while sum(len(o) for o in out) < n:
        d = simulate_stream(int(rng.integers(2**31)), rnd)
        out.append(stream_features(d["frames"], default_region_map(), rnd.dshift_gain, version)[0][1:])
    return np.concatenate(out)[:n].astype(np.float32)


def read_frames_features(paths, region_map: np.ndarray | None = None, version: int = 2) -> dict[str, np.ndarray]:
    """v2 (or ``version`` 3) network inputs of stored raw streams (:func:`generate_frames` files): ``x`` (N, 32),
    ``y``, ``kind``, ``stream``, ``beyond`` (drift beyond tolerance or sample event,
    :func:`beamloop.models.trigger_metrics.beyond_tolerance`; all events when the file has no
    aberrations) (N,), frame 0 of each stream dropped (no reference frame)."""
    import h5py

    from beamloop.models.trigger_metrics import beyond_tolerance

    rm = default_region_map() if region_map is None else region_map
    xs, ys, ks, ss, bs = [], [], [], [], []
    n = 0
    for p in ([paths] if isinstance(paths, (str, Path)) else paths):
        with h5py.File(p, "r") as f:
            frames, labels, kinds = f["frames"], f["labels"][...], f["kind"][...]
            ab = f["aberrations"][...] if "aberrations" in f else None
            for i in range(len(labels)):
                x = stream_features(frames[i], rm, version=version)[0]
                b = beyond_tolerance(labels[i], kinds[i], ab[i]) if ab is not None else labels[i] > 0
                xs.append(x[1:]); ys.append(labels[i, 1:]); ks.append(kinds[i, 1:]); bs.append(b[1:])
                ss.append(np.full(len(x) - 1, n)); n += 1
    return {"x": np.concatenate(xs).astype(np.int16), "y": np.concatenate(ys), "kind": np.concatenate(ks),
            "stream": np.concatenate(ss), "beyond": np.concatenate(bs)}


def _frames_job(args):
    seed, rnd_json = args
    rnd = TriggerRandomisation.from_json(rnd_json)
    sim = make_simulator(np.random.default_rng(seed), rnd)
    out = []
    for j in range(STREAMS_PER_SIMULATOR):
        d = simulate_stream(seed * 7 + j + 1, rnd, sim)
        out.append((d["frames"], d["labels"], d["kind"], d["aberrations"]))
    return out


def generate_frames(path: str | Path, n_streams: int, seed: int = 0, workers: int = 2,
                    rnd: TriggerRandomisation | None = None) -> Path:
    """Like :func:`generate` but stores the raw streams: ``frames`` (N, T, H, W) uint16,
    ``labels`` / ``kind`` (N, T), ``aberrations`` (N, T, 5) metres (C10, C12.x, C12.y, C21.x, C21.y
    after each frame's update), so any feature definition can be computed afterwards."""
    import multiprocessing as mp

    import h5py

    rnd = rnd or TriggerRandomisation()
    path = Path(path)
    if path.exists():
        return path
    jobs = [(seed * 1_000_003 + i, rnd.to_json()) for i in range(math.ceil(n_streams / STREAMS_PER_SIMULATOR))]
    t0 = time.time()
    if workers <= 1:
        res = [_frames_job(j) for j in jobs]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            res = pool.map(_frames_job, jobs, chunksize=1)
    res = [r for group in res for r in group][:n_streams]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("frames", data=np.stack([r[0] for r in res]), compression="gzip", compression_opts=1)
        f.create_dataset("labels", data=np.stack([r[1] for r in res]))
        f.create_dataset("kind", data=np.stack([r[2] for r in res]))
        f.create_dataset("aberrations", data=np.stack([r[3] for r in res]))
        f.attrs["randomisation"] = rnd.to_json()
        f.attrs["seconds"] = time.time() - t0
    tmp.replace(path)
    return path
