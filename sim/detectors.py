"""Flexible detectors in the diffraction (Ronchigram) plane: rings x segments region maps,
region sums and centre of mass.

A :class:`DetectorLayout` is a list of ring edges (scattering semi-angles, rad) and a number of
azimuthal segments; region ``ring * segments + segment`` covers
``edge[ring] <= |theta| < edge[ring+1]`` and azimuth ``[seg, seg + 1) * 2 pi / segments``
measured counter-clockwise from +theta_x (plus ``rotation_rad``). Presets: BF, ABF, ADF, HAADF,
DPC quadrants, any segmented layout.

Array convention (as the Ronchigrams of :mod:`beamloop.sim.ronchigram`): axis 0 is theta_x,
axis 1 is theta_y, optical axis at pixel ``(n0 // 2, n1 // 2)``; pixels outside every region
get id ``NONE = -1``. (The firmware trigger path uses [y, x] frames and its own integer map,
``beamloop.sim.detector_regions``; pass ``axes="yx"`` here to get the same orientation.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "NONE", "DetectorLayout", "bf", "abf", "adf", "haadf", "dpc_quadrants", "segmented",
    "region_map", "region_sums", "total_counts", "centre_of_mass",
]

NONE = -1


@dataclass(frozen=True)
class DetectorLayout:
    """Rings x segments detector. ring_edges_rad: increasing semi-angles (rad), >= 2 values;
    segments: azimuthal segments per ring; rotation_rad: azimuth of segment 0's start."""

    name: str
    ring_edges_rad: tuple[float, ...]
    segments: int = 1
    rotation_rad: float = 0.0

    def __post_init__(self):
        e = np.asarray(self.ring_edges_rad, dtype=float)
        if e.ndim != 1 or len(e) < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0) or e[0] < 0:
            raise ValueError(f"ring_edges_rad must be >= 2 increasing non-negative angles (rad), got {self.ring_edges_rad!r}")
        if not isinstance(self.segments, (int, np.integer)) or self.segments < 1:
            raise ValueError(f"segments must be an integer >= 1, got {self.segments!r}")

    @property
    def n_rings(self) -> int:
        return len(self.ring_edges_rad) - 1

    @property
    def n_regions(self) -> int:
        return self.n_rings * self.segments


def bf(alpha_rad: float) -> DetectorLayout:
    """Bright field: 0 .. alpha/2 (a small on-axis disc within the probe cone)."""
    return DetectorLayout("BF", (0.0, 0.5 * alpha_rad))


def abf(alpha_rad: float) -> DetectorLayout:
    """Annular bright field: alpha/2 .. alpha."""
    return DetectorLayout("ABF", (0.5 * alpha_rad, alpha_rad))


def adf(alpha_rad: float, outer_rad: float | None = None) -> DetectorLayout:
    """(Low-angle) annular dark field: 1.1 alpha .. 3 alpha (or ``outer_rad``)."""
    return DetectorLayout("ADF", (1.1 * alpha_rad, outer_rad or 3 * alpha_rad))


def haadf(inner_rad: float = 70e-3, outer_rad: float = 200e-3) -> DetectorLayout:
    """High-angle annular dark field, 70 .. 200 mrad by default."""
    return DetectorLayout("HAADF", (inner_rad, outer_rad))


def dpc_quadrants(outer_rad: float, inner_rad: float = 0.0, rotation_rad: float = 0.0) -> DetectorLayout:
    """Four quadrant segments (differential phase contrast)."""
    return DetectorLayout("DPC", (inner_rad, outer_rad), segments=4, rotation_rad=rotation_rad)


def segmented(ring_edges_rad, segments: int, rotation_rad: float = 0.0, name: str = "segmented") -> DetectorLayout:
    """Any rings x segments layout."""
    return DetectorLayout(name, tuple(float(e) for e in ring_edges_rad), segments, rotation_rad)


def region_map(layout: DetectorLayout, shape: tuple[int, int], rad_per_px: float,
               center: tuple[float, float] | None = None, axes: str = "xy", none: int = NONE) -> np.ndarray:
    """Integer region-id map (int32) of ``shape``; ``none`` (default ``NONE`` = -1) outside
    all regions (the firmware uses ``2**RB - 1``, docs/trigger_features.md).

    ``rad_per_px``: angular pixel size; ``center``: optical axis in pixels (default
    ``(n0 // 2, n1 // 2)``); ``axes``: "xy" (axis 0 = x) or "yx" (axis 0 = y, image rows).
    """
    if not (rad_per_px > 0 and math.isfinite(rad_per_px)):
        raise ValueError(f"rad_per_px must be positive, got {rad_per_px!r}")
    if axes not in ("xy", "yx"):
        raise ValueError(f"axes must be 'xy' or 'yx', got {axes!r}")
    n0, n1 = shape
    c0, c1 = center if center is not None else (n0 // 2, n1 // 2)
    a0, a1 = np.meshgrid((np.arange(n0) - c0) * rad_per_px, (np.arange(n1) - c1) * rad_per_px, indexing="ij")
    tx, ty = (a0, a1) if axes == "xy" else (a1, a0)
    r = np.hypot(tx, ty)
    edges = np.asarray(layout.ring_edges_rad)
    ring = np.searchsorted(edges, r, side="right") - 1
    valid = (ring >= 0) & (ring < layout.n_rings)
    az = np.mod(np.arctan2(ty, tx) - layout.rotation_rad, 2 * np.pi)
    seg = np.minimum((az / (2 * np.pi / layout.segments)).astype(np.int64), layout.segments - 1)
    if 0 <= none < layout.n_regions:
        raise ValueError(f"none={none} collides with a region id (0..{layout.n_regions - 1})")
    out = np.where(valid, ring * layout.segments + seg, none)
    return out.astype(np.int32)


def region_sums(frames: np.ndarray, rmap: np.ndarray, n_regions: int | None = None) -> np.ndarray:
    """Sum of each region over the last two axes: (..., H, W) -> (..., R), float64."""
    frames = np.asarray(frames)
    rmap = np.asarray(rmap)
    if frames.shape[-2:] != rmap.shape:
        raise ValueError(f"frames' last two axes {frames.shape[-2:]} must match region map {rmap.shape}")
    R = int(rmap.max()) + 1 if n_regions is None else int(n_regions)
    flat = frames.reshape(-1, rmap.size).astype(np.float64, copy=False)
    ids = rmap.ravel()
    ok = (ids >= 0) & (ids < R)
    onehot = np.zeros((rmap.size, R))
    onehot[np.flatnonzero(ok), ids[ok]] = 1.0
    return (flat @ onehot).reshape(frames.shape[:-2] + (R,))


def total_counts(frames: np.ndarray) -> np.ndarray:
    """Sum over the last two axes."""
    return np.asarray(frames, dtype=np.float64).sum(axis=(-2, -1))


def centre_of_mass(frames: np.ndarray, rad_per_px: float | None = None,
                   center: tuple[float, float] | None = None) -> np.ndarray:
    """Centre of mass (..., 2) of the last two axes relative to ``center`` (default
    ``(n0 // 2, n1 // 2)``), in pixels, or in radians if ``rad_per_px`` is given.
    Component 0 is along axis 0. A frame with zero total gives NaN."""
    f = np.asarray(frames, dtype=np.float64)
    n0, n1 = f.shape[-2:]
    c0, c1 = center if center is not None else (n0 // 2, n1 // 2)
    tot = f.sum(axis=(-2, -1))
    m0 = np.tensordot(f.sum(axis=-1), np.arange(n0) - c0, axes=([-1], [0]))
    m1 = np.tensordot(f.sum(axis=-2), np.arange(n1) - c1, axes=([-1], [0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        com = np.stack([m0 / tot, m1 / tot], axis=-1)
    return com * rad_per_px if rad_per_px is not None else com
