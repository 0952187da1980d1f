"""The FPGA board as a :class:`MicroscopeBackend` knob setter (lens/stigmator DACs).

Each knob maps to one DAC channel through a linear :class:`DacCalibration`
(``value_SI = (counts - zero_count) * si_per_count``). Knob limits come from the board's
own limit registers (GET_LIMITS), so the host never offers a value the hardware would
refuse; the board still enforces them itself. The board has no camera: :meth:`acquire`
raises, pair it with a detector backend.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from beamloop.controller.core.backend import (BackendError, Frame, KnobInfo, KnobLimitError, MicroscopeBackend,
                                         UnknownKnobError)
from beamloop.controller.instruments.board_driver import BoardLink, BoardRefused


@dataclass(frozen=True)
class DacCalibration:
    """knob -> DAC channel. ``si_per_count`` in the knob's SI unit per count (may be < 0)."""

    knob: str
    channel: int
    unit: str
    si_per_count: float
    zero_count: int
    aberration: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.si_per_count) or self.si_per_count == 0:
            raise ValueError(f"{self.knob}: si_per_count must be finite and non-zero, got {self.si_per_count!r}")

    def to_counts(self, value: float) -> int:
        return self.zero_count + round(value / self.si_per_count)

    def to_si(self, counts: int) -> float:
        return (counts - self.zero_count) * self.si_per_count


class BoardBackend(MicroscopeBackend):
    """Knob get/set through a :class:`BoardLink`; values in SI, DAC counts underneath."""

    def __init__(self, link: BoardLink, calibrations: list[DacCalibration]):
        self.link = link
        self.cal = {c.knob: c for c in calibrations}
        if len(self.cal) != len(calibrations):
            raise ValueError("duplicate knob names in calibrations")

    def _c(self, name: str) -> DacCalibration:
        if name not in self.cal:
            raise UnknownKnobError(f"unknown knob {name!r}; board knobs: {sorted(self.cal)}")
        return self.cal[name]

    async def knobs(self) -> dict[str, KnobInfo]:
        out = {}
        for name, c in self.cal.items():
            lim = await self.link.get_limits(c.channel)
            a, b = c.to_si(lim["min"]), c.to_si(lim["max"])
            out[name] = KnobInfo(name, c.unit, min(a, b), max(a, b), c.aberration)
        return out

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        res = {}
        for name in names if names is not None else list(self.cal):
            c = self._c(name)
            res[name] = c.to_si((await self.link.get_dac(c.channel))["output"])
        return res

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        infos = await self.knobs()
        plan = []
        for name, v in values.items():
            c = self._c(name)
            infos[name].check(v)                       # KnobLimitError, nothing applied
            counts = c.to_counts(v)
            lim = await self.link.get_limits(c.channel)
            cur = (await self.link.get_dac(c.channel))["output"]
            if abs(counts - cur) > lim["step"]:
                lo, hi = sorted((c.to_si(cur - lim["step"]), c.to_si(cur + lim["step"])))
                raise KnobLimitError(name, v, max(lo, infos[name].minimum), min(hi, infos[name].maximum))
            plan.append((name, c, counts, cur))
        done = []
        try:
            for name, c, counts, cur in plan:
                await self.link.set_dac(c.channel, counts)
                done.append((c, cur))
        except BoardRefused as exc:                    # e.g. watchdog hold: undo what was applied
            for c, old in reversed(done):
                try:
                    await self.link.set_dac(c.channel, old)
                except BoardRefused:
                    pass
            raise BackendError(f"board refused the change ({exc.name}); restoring the earlier knobs of this call was attempted (a watchdog hold keeps everything where it is)") from exc
        return await self.get(list(values))

    async def acquire(self) -> Frame:
        raise BackendError("the FPGA board drives lens/stigmator DACs only and has no camera; "
                           "pair it with a detector backend")

    async def heartbeat(self) -> float:
        t0 = time.perf_counter()
        await self.link.ping()
        return time.perf_counter() - t0
