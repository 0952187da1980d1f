"""Integer ring x segment detector region maps (shared by the trigger data and the firmware).

The same map is used by ``feature_extract.v`` (docs/trigger_features.md), by the trigger
network's training data and by the firmware's hex files, so it lives here, below both.

A region map assigns each pixel of a ``W x H`` frame a region id ``0..R-1`` or ``NONE``
(``2**RB - 1``, not summed). The default is ``rings x segments`` about the frame centre
``(cx, cy) = (W // 2, H // 2)`` (the same integer centre as the moments), computed with
integers only so there is no floating-point ambiguity at ring/segment edges:

- ring ``i`` holds pixels with ``edge_i**2 <= dx**2 + dy**2 < edge_{i+1}**2`` where the edges
  are ``round(i * r_max / rings)`` and ``r_max = min(W, H) // 2``; beyond ``r_max``: NONE.
- segment: for 4 segments the quadrants counter-clockwise from +x (``dx > 0, dy >= 0`` is 0,
  ``dx <= 0, dy > 0`` is 1, ``dx < 0, dy <= 0`` is 2, ``dx >= 0, dy < 0`` is 3; the centre is 0);
  for other counts ``floor(atan2(dy, dx) mod 2pi / (2pi / S))``.
- region id = ``ring * segments + segment``.

``beamloop.firmware.region_map`` writes and reads the ``$readmemh`` files.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ring_segment_map"]


def ring_segment_map(w: int = 64, h: int = 64, rings: int = 4, segments: int = 4, rb: int = 5) -> np.ndarray:
    """Region ids ``(h, w)`` (int64); NONE = ``2**rb - 1``."""
    if w < 1 or h < 1 or rings < 1 or segments < 1:
        raise ValueError(f"w, h, rings, segments must be >= 1, got {w}, {h}, {rings}, {segments}")
    none = (1 << rb) - 1
    if rings * segments > none:
        raise ValueError(f"rings*segments={rings * segments} regions do not fit rb={rb} bits (NONE={none})")
    yy, xx = np.mgrid[0:h, 0:w]
    dx, dy = xx - w // 2, yy - h // 2
    r2 = dx * dx + dy * dy
    r_max = min(w, h) // 2
    edges = [round(i * r_max / rings) for i in range(rings + 1)]
    ring = np.full((h, w), rings, dtype=np.int64)
    for i in range(rings - 1, -1, -1):
        ring[(r2 >= edges[i] ** 2) & (r2 < edges[i + 1] ** 2)] = i
    if segments == 4:
        seg = np.zeros((h, w), dtype=np.int64)
        seg[(dx <= 0) & (dy > 0)] = 1
        seg[(dx < 0) & (dy <= 0)] = 2
        seg[(dx >= 0) & (dy < 0)] = 3
    else:
        ang = np.mod(np.arctan2(dy, dx), 2 * np.pi)
        seg = np.floor(ang / (2 * np.pi / segments)).astype(np.int64) % segments
    out = ring * segments + seg
    out[ring >= rings] = none
    return out
