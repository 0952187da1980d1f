"""``$readmemh`` files of the detector region map for ``feature_extract.v``.

The map itself is ``beamloop.sim.detector_regions.ring_segment_map`` (integer-only, shared
with the trigger network's data); this module writes and reads the RTL's hex files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from beamloop.sim.detector_regions import ring_segment_map

__all__ = ["DEFAULT_HEX", "ring_segment_map", "write_hex", "read_hex"]

DEFAULT_HEX = Path(__file__).parent / "rtl" / "region_map_64x64.hex"


def write_hex(region_map: np.ndarray, path: str | Path, rb: int = 5) -> Path:
    """Write ``region_map`` as a ``$readmemh`` file (address ``y * W + x``)."""
    rm = np.asarray(region_map)
    if rm.ndim != 2 or rm.min() < 0 or rm.max() >= (1 << rb):
        raise ValueError(f"region_map must be 2-D with ids in 0..{(1 << rb) - 1}")
    digits = (rb + 3) // 4
    path = Path(path)
    path.write_text("".join(f"{int(v):0{digits}x}\n" for v in rm.ravel()))
    return path


def read_hex(path: str | Path, w: int, h: int) -> np.ndarray:
    """Read a ``$readmemh`` region map back as ``(h, w)`` int64."""
    vals = [int(t, 16) for t in Path(path).read_text().split() if not t.startswith("//")]
    if len(vals) != w * h:
        raise ValueError(f"{path}: {len(vals)} entries, expected {w * h}")
    return np.array(vals, dtype=np.int64).reshape(h, w)


if __name__ == "__main__":
    print(write_hex(ring_segment_map(), DEFAULT_HEX))
