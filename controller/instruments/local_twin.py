"""The twin in-process: a :class:`MicroscopeBackend` directly on a ``Microscope``, no sockets.

Used by benchmarks and tests where transport is not the point. Same semantics as the
ZeroMQ backend: SI values, all-or-nothing ``set`` raising :class:`KnobLimitError` /
:class:`UnknownKnobError`, frames with the knob state and the twin's true aberrations
in ``meta["true_aberrations"]`` (m). Calls run synchronously on the event loop (the
twin's clock is simulated, so there is nothing to wait for), but ``acquire`` first yields to the
loop once, as every real instrument's acquisition does: without that, a loop of acquisitions (the
watch of ``beamloop keep``) never lets the loop run its signal handlers, and Ctrl-C is never seen.
"""

from __future__ import annotations

import asyncio
import time

from beamloop.controller.core.backend import (
    ConnectionLostError,
    Frame,
    KnobInfo,
    KnobLimitError,
    MicroscopeBackend,
    UnknownKnobError,
)
from beamloop.sim.microscope import KnobRangeError, Microscope
from beamloop.sim.microscope import UnknownKnobError as TwinUnknownKnob


class LocalTwinBackend(MicroscopeBackend):
    """A :class:`MicroscopeBackend` on an in-process :class:`Microscope`."""

    def __init__(self, microscope: Microscope):
        self.microscope = microscope
        self._closed = False

    async def connect(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLostError("local twin backend is closed")

    async def knobs(self) -> dict[str, KnobInfo]:
        self._check_open()
        return {
            n: KnobInfo(s.name, s.unit, s.minimum, s.maximum, s.aberration) for n, s in self.microscope.knob_specs().items()
        }

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        self._check_open()
        values = self.microscope.get_knobs()
        if names is None:
            return values
        missing = [n for n in names if n not in values]
        if missing:
            raise UnknownKnobError(f"unknown knob(s) {missing}; this microscope has {sorted(values)}")
        return {n: values[n] for n in names}

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        self._check_open()
        try:
            return self.microscope.set_knobs(values)
        except KnobRangeError as exc:
            raise KnobLimitError(exc.knob, exc.value, exc.minimum, exc.maximum) from None
        except TwinUnknownKnob as exc:
            raise UnknownKnobError(str(exc)) from None

    async def acquire(self) -> Frame:
        await asyncio.sleep(0)   # a suspension point: signals (Ctrl-C) and cancellation are delivered here
        self._check_open()
        image, info = self.microscope.acquire()
        return Frame(
            image=image,
            seq=info["seq"],
            t_acquired=info["t"],
            state=info["knobs"],
            meta={"exposure_s": info["exposure_s"], "true_aberrations": info["aberrations"], "source": "twin"},
        )

    async def heartbeat(self) -> float:
        self._check_open()
        t0 = time.perf_counter()
        return time.perf_counter() - t0
