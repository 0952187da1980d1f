"""The microscope twin as a :class:`MicroscopeBackend` for the instrument server.

``beamloop twin`` = this backend + :class:`~beamloop.controller.serve.instrument_server.InstrumentServer`.
Differs from :class:`~beamloop.controller.instruments.local_twin.LocalTwinBackend` (the
in-process twin for benchmarks) in one thing: **pacing**. With ``pace=True`` the twin clock
follows the wall clock (drift while idle) and settle/exposure times are really waited, as a
column would; with ``pace=False`` its clock advances only by actions (fast, deterministic).

Besides the interface it offers the optional hints the server reads: ``server_name``,
``frame_rate_hz``, ``detector_dtype``, ``pace``, :meth:`instrument_time` (the twin clock, s)
and :meth:`prepare`. Units: SI (metres), seconds.
"""

from __future__ import annotations

import asyncio
import time

from beamloop.controller.core.backend import Frame, KnobInfo, KnobLimitError, MicroscopeBackend, UnknownKnobError
from beamloop.controller.protocol import messages as P
from beamloop.sim.microscope import KnobRangeError, Microscope
from beamloop.sim.microscope import UnknownKnobError as TwinUnknownKnob


class TwinBackend(MicroscopeBackend):
    """A :class:`Microscope` behind the backend interface, optionally paced to the wall clock.

    The server calls it from one event loop, one call at a time."""

    server_name = "beamloop-twin"

    def __init__(self, microscope: Microscope, *, pace: bool = False):
        self.microscope = microscope
        self.pace = pace
        self.frame_rate_hz = float(microscope.config.frame_rate_hz)
        self.detector_dtype = microscope.config.detector_dtype
        self._wall0 = time.monotonic()
        self._twin0 = microscope.t

    # --- clock -----------------------------------------------------------------------------
    def _sync_clock(self) -> None:
        if self.pace:
            target = self._twin0 + (time.monotonic() - self._wall0)
            if target > self.microscope.t:
                self.microscope.advance(target - self.microscope.t)

    async def _wait_clock(self) -> None:
        if self.pace:
            ahead = (self.microscope.t - self._twin0) - (time.monotonic() - self._wall0)
            if ahead > 0:
                await asyncio.sleep(ahead)

    def instrument_time(self) -> float:
        """The twin clock (s), caught up with the wall clock when paced."""
        self._sync_clock()
        return self.microscope.t

    def prepare(self) -> None:
        self.microscope.prepare()

    # --- MicroscopeBackend -------------------------------------------------------------------
    async def knobs(self) -> dict[str, KnobInfo]:
        return {n: KnobInfo(s.name, s.unit, s.minimum, s.maximum, s.aberration)
                for n, s in self.microscope.knob_specs().items()}

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        self._sync_clock()
        values = self.microscope.get_knobs()
        if names is None:
            return values
        unknown = [n for n in names if n not in values]
        if unknown:
            raise UnknownKnobError(f"get: unknown knob(s) {unknown}; known {sorted(values)}")
        return {n: values[n] for n in names}

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        self._sync_clock()
        try:
            applied = self.microscope.set_knobs(values)
        except TwinUnknownKnob as exc:
            raise UnknownKnobError(str(exc)) from None
        except KnobRangeError as exc:
            raise KnobLimitError(exc.knob, exc.value, exc.minimum, exc.maximum) from None
        await self._wait_clock()
        return applied

    async def acquire(self) -> Frame:
        self._sync_clock()
        ex = self.microscope.expose()
        image = self.microscope.render(ex)
        P.check_image(image, "twin frame")
        await self._wait_clock()
        return Frame(image=image, seq=ex.seq, t_acquired=ex.t, state=dict(ex.knobs),
                     meta={"source": "twin", "exposure_s": ex.exposure_s, "exposure_seq": ex.seq,
                           "true_aberrations": ex.aberrations})
