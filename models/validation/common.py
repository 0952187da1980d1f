"""Shared pieces of the foreign validation sets: the protocol, labels, camera, resampling, cache.

Protocol (:class:`ValidationSpec`, the twin's): a pair is two Ronchigrams at ``C10 - delta`` and
``C10 + delta`` (delta 80 nm) around a state; labels ``(C10, C12.x, C12.y, C21.x, C21.y)`` (m)
uniform in +-150 nm, +-150 nm, +-150 nm, +-2 um, +-2 um, seeded. Every source delivers *noiseless
expected electrons* on the twin's camera grid (128 px, 0.65625 mrad per px = +-1.4 alpha at
alpha 30 mrad, 300 kV), axis 0 = theta_x, scaled to ``dose_e`` electrons inside the camera; the
twin's camera model (shot noise, 0.6 px PSF, gain 8, readout 2) is applied at evaluation time with
its own seed (:func:`expose_pairs`), so the sources differ only in their physics.

Cache: ``<data_dir>/<source>_<spec key>.npz`` (``expected`` float32 (N, 2, S, S), ``labels`` (N, 5)
m, ``meta`` JSON); ``data_dir`` defaults to ``$BEAMLOOP_DATA/validation`` or ``./data/validation``
(``/data/`` is git-ignored: the sets are ~25 MB each and are regenerated from their seed).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

AXES = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")
SOURCES = ("twin", "abtem", "usim")


@dataclass(frozen=True)
class ValidationSpec:
    """One validation set: protocol, camera and labels (SI units)."""

    n_pairs: int = 200
    seed: int = 0
    size_px: int = 128
    energy_eV: float = 300e3
    convergence_semiangle_rad: float = 30e-3
    camera_half_range_alpha: float = 1.4
    delta_c10_m: float = 80e-9
    label_halfwidth_m: tuple = (150e-9, 150e-9, 150e-9, 2e-6, 2e-6)
    thickness_m: tuple = (1e-9, 3e-9)       # a-C film thickness range (twin, abTEM)
    dose_e: float = 1e6

    def __post_init__(self):
        if self.n_pairs < 1 or self.size_px < 16:
            raise ValueError(f"n_pairs must be >= 1 and size_px >= 16, got {self.n_pairs}, {self.size_px}")
        if len(self.label_halfwidth_m) != len(AXES):
            raise ValueError(f"label_halfwidth_m needs {len(AXES)} values ({AXES}), got {self.label_halfwidth_m}")

    @property
    def rad_per_px(self) -> float:
        return 2 * self.camera_half_range_alpha * self.convergence_semiangle_rad / self.size_px

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def validation_labels(spec: ValidationSpec) -> np.ndarray:
    """(n_pairs, 5) labels in metres, uniform in +-label_halfwidth_m, from ``spec.seed``."""
    rng = np.random.default_rng([spec.seed, 12])
    return rng.uniform(-1, 1, (spec.n_pairs, len(AXES))) * np.asarray(spec.label_halfwidth_m)


def pair_states(labels: np.ndarray, delta_c10_m: float) -> list[dict]:
    """The two aberration dicts (m) of each pair: C10 -/+ delta around each label row."""
    out = []
    for row in np.atleast_2d(labels):
        d = dict(zip(AXES, map(float, row)))
        out += [{**d, "C10": d["C10"] - delta_c10_m}, {**d, "C10": d["C10"] + delta_c10_m}]
    return out


def default_data_dir() -> Path:
    base = os.environ.get("BEAMLOOP_DATA")
    return (Path(base) / "validation") if base else Path("data") / "validation"


def cache_path(source: str, spec: ValidationSpec, data_dir: str | Path | None = None) -> Path:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return Path(data_dir or default_data_dir()) / f"{source}_{spec.n_pairs}p_s{spec.seed}_{spec.key()}.npz"


def save_set(path: Path, expected: np.ndarray, labels: np.ndarray, meta: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, expected=expected.astype(np.float32), labels=labels, meta=json.dumps(meta, default=float))
    tmp.replace(path)
    return path


def load_set(path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    with np.load(path) as z:
        return z["expected"], z["labels"], json.loads(str(z["meta"]))


def camera(spec: ValidationSpec):
    """The twin's default camera model (gain 8, readout 2 counts, PSF 0.6 px, shot noise)."""
    from beamloop.sim.ronchigram import RonchigramConfig

    return RonchigramConfig(size_px=spec.size_px).camera_model()


def expose_pairs(expected: np.ndarray, spec: ValidationSpec, seed: int = 1, noise: bool = True) -> np.ndarray:
    """Camera counts (N, 2, S, S) float32 from expected electrons, the twin's camera, seeded,
    rounded and clipped to [0, 65535] like the twin's training pairs (uint16 counts)."""
    rng = np.random.default_rng([seed, 7])
    c = camera(spec).expose(np.asarray(expected, np.float32), rng, noise=noise)
    return np.clip(np.rint(c), 0, 65535).astype(np.float32)


def aperture_disc(spec: ValidationSpec) -> np.ndarray:
    """Condenser-aperture transmission on the camera grid (one-pixel soft edge), axis 0 = x."""
    n = spec.size_px
    t = (np.arange(n) - n // 2) * spec.rad_per_px
    r = np.hypot(t[:, None], t[None, :])
    return np.clip((spec.convergence_semiangle_rad - r) / spec.rad_per_px + 0.5, 0.0, 1.0)


def _overlap_matrix(n_src: int, src_offset: float, src_scale: float, n_dst: int, dst_scale: float) -> np.ndarray:
    """(n_dst, n_src) fractions of each source pixel inside each destination pixel (1-D).

    Source pixel k spans angles ``src_offset + (k, k+1) * src_scale``; destination pixel i is
    centred at ``(i - n_dst // 2) * dst_scale``."""
    s_lo = src_offset + np.arange(n_src) * src_scale
    s_hi = s_lo + src_scale
    c = (np.arange(n_dst) - n_dst // 2) * dst_scale
    d_lo, d_hi = c - dst_scale / 2, c + dst_scale / 2
    ov = np.minimum(d_hi[:, None], s_hi[None, :]) - np.maximum(d_lo[:, None], s_lo[None, :])
    return np.maximum(ov, 0.0) / src_scale


def resample_to_camera(img: np.ndarray, offsets_rad, scales_rad, spec: ValidationSpec) -> np.ndarray:
    """Integrate a calibrated frame ``img[a0, a1]`` (pixel k of axis j spans ``offsets[j] +
    (k, k+1) scales[j]`` rad) over the twin's camera pixels (exact area overlap, separable):
    ``(size_px, size_px)`` in the same axis order as ``img``."""
    a = np.asarray(img, dtype=np.float64)
    w0 = _overlap_matrix(a.shape[0], offsets_rad[0], scales_rad[0], spec.size_px, spec.rad_per_px)
    w1 = _overlap_matrix(a.shape[1], offsets_rad[1], scales_rad[1], spec.size_px, spec.rad_per_px)
    return w0 @ a @ w1.T


@dataclass
class SuccessCriteria:
    """Closed-loop success: |C10| and |A1| below c1_a1_m, |B2| below b2_m (issue 12)."""

    c1_a1_m: float = 20e-9
    b2_m: float = 1e-6
    extra: dict = field(default_factory=dict)

    def ok(self, state: np.ndarray) -> np.ndarray:
        s = np.atleast_2d(state)
        return ((np.abs(s[:, 0]) < self.c1_a1_m) & (np.hypot(s[:, 1], s[:, 2]) < self.c1_a1_m)
                & (np.hypot(s[:, 3], s[:, 4]) < self.b2_m))
