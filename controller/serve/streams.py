"""Stream requests: parsing with hard bounds, and the test-pattern frames.

A ``stream`` asks the instrument to publish frames on the data channel: ``"twin"`` (the
instrument's own detector, at its frame rate or a slower one) or ``"pattern"`` (fixed test
frames for link benchmarks). Every argument is range-checked: an absurd rate (``1e300``) or
size is refused with ``BAD_ARGUMENT`` naming the limit, never clamped and never allowed to
wedge the publisher (which also publishes at most :data:`MAX_BURST` frames per step and
checks for new jobs between steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from beamloop.controller.protocol import messages as P

MAX_PATTERN_RATE_HZ = 100_000.0     # frames/s; 0 = as fast as possible
MAX_INSTRUMENT_RATE_HZ = 10_000.0   # frames/s for the instrument's own detector
MAX_COUNT = 10**9
MAX_PATTERN_PX = 4096
MAX_BURST = 64                      # frames per publisher step
PATTERN_POOL = 4                    # distinct test-pattern frames cycled


@dataclass
class Stream:
    source: str            # "twin" | "pattern"
    rate_hz: float         # 0 = as fast as possible (pattern only)
    count: int             # 0 = until stream_stop
    dtype: str
    shape: tuple[int, ...]
    sent: int = 0
    first_seq: int = -1
    t_start: float = 0.0

    def describe(self) -> dict:
        return {"source": self.source, "sent": self.sent, "first_seq": self.first_seq, "count": self.count,
                "rate_hz": self.rate_hz}


def parse_stream(a: dict, frame_rate_hz: float, detector_dtype: str) -> Stream:
    """Validate ``stream`` arguments (see docs/protocol.md); raise ProtocolError(BAD_ARGUMENT)."""
    source = a.get("source", "twin")
    if source not in ("twin", "pattern"):
        raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'source' must be 'twin' or 'pattern', got {source!r}")
    cap = MAX_PATTERN_RATE_HZ if source == "pattern" else MAX_INSTRUMENT_RATE_HZ
    rate = a.get("rate_hz", 0.0)
    if not P._is_number(rate) or not math.isfinite(rate) or not 0 <= rate <= cap:
        raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'rate_hz' must be a number in [0, {cap:g}] frames/s for source "
                              f"{source!r} (0 = {'as fast as possible' if source == 'pattern' else 'the detector rate'}), "
                              f"got {rate!r}")
    count = a.get("count", 0)
    if type(count) is not int or not 0 <= count <= MAX_COUNT:
        raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'count' must be an integer in [0, {MAX_COUNT}] "
                              f"(0 = until stream_stop), got {count!r}")
    if source == "pattern":
        size = a.get("size_px", 128)
        if type(size) is not int or not 1 <= size <= MAX_PATTERN_PX:
            raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'size_px' must be an integer in [1, {MAX_PATTERN_PX}], got {size!r}")
        dtype = a.get("dtype", "uint16")
        if dtype not in P.DTYPES:
            raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'dtype' must be one of {sorted(P.DTYPES)}, got {dtype!r}")
        return Stream(source, float(rate), count, dtype, (size, size))
    return Stream(source, float(rate or frame_rate_hz), count, detector_dtype, ())


def pattern_frames(st: Stream) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    dt = P.DTYPES[st.dtype]
    if dt.kind in "ui":
        return [rng.integers(0, 4096 if dt.itemsize > 1 else 256, st.shape).astype(dt) for _ in range(PATTERN_POOL)]
    return [rng.random(st.shape).astype(dt) for _ in range(PATTERN_POOL)]


def due_frames(st: Stream, now: float) -> int:
    """Frames to publish now for a pattern stream (bounded by MAX_BURST and the count)."""
    if st.rate_hz > 0:
        due = int(min((now - st.t_start) * st.rate_hz, float(MAX_COUNT))) + 1 - st.sent
    else:
        due = MAX_BURST
    if st.count:
        due = min(due, st.count - st.sent)
    return max(0, min(due, MAX_BURST))
