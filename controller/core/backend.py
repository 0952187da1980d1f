"""The one interface through which alignment code talks to a microscope.

Alignment policies and the alignment loop only ever see a :class:`MicroscopeBackend`;
they never know whether the twin (in-process or over ZeroMQ), a Nion Swift instrument,
JEOL PyJEM or the serial board is behind it.

Units: knob values are SI (metres for aberration-like knobs, radians for tilts), as
declared in each knob's :class:`KnobInfo`. Frames carry camera counts.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np


__all__ = ["BackendError", "KnobLimitError", "UnknownKnobError", "ConnectionLostError", "KnobInfo", "Frame",
           "MicroscopeBackend"]


class BackendError(Exception):
    """Base class of every error a backend raises."""


class KnobLimitError(BackendError):
    """A requested knob value lies outside the knob's limits. Nothing was applied."""

    def __init__(self, knob: str, value: float, minimum: float, maximum: float):
        self.knob, self.value, self.minimum, self.maximum = knob, value, minimum, maximum
        super().__init__(
            f"knob {knob!r}: requested {value!r} is outside its limits [{minimum!r}, {maximum!r}]; refused, nothing applied"
        )


class UnknownKnobError(BackendError):
    """A knob name the instrument does not have."""


class ConnectionLostError(BackendError):
    """The instrument stopped answering (timeout, dropped link)."""


@dataclass(frozen=True)
class KnobInfo:
    """A control of the instrument.

    name: e.g. ``"objective_focus"``; unit: SI unit string (``"m"`` or ``"rad"``);
    minimum/maximum: hard limits in that unit; aberration: the Krivanek coefficient the
    knob nominally drives (``"C10"``, ``"C12.x"`` ...), or ``None``.
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    aberration: str | None = None

    def check(self, value: float) -> None:
        """Raise :class:`KnobLimitError` if ``value`` is not finite or outside the limits."""
        if not np.isfinite(value) or not (self.minimum <= value <= self.maximum):
            raise KnobLimitError(self.name, value, self.minimum, self.maximum)


@dataclass
class Frame:
    """One detector frame.

    image: 2-D array of camera counts; seq: frame sequence number from the instrument;
    t_acquired: instrument clock time of the exposure (s); state: knob values (SI) at
    which it was taken; meta: anything else the instrument reports (exposure, binning...).
    """

    image: np.ndarray
    seq: int
    t_acquired: float
    state: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class MicroscopeBackend(abc.ABC):
    """Async interface to one instrument. Implementations: twin (local, ZeroMQ), Nion, PyJEM, board."""

    async def connect(self) -> None:  # noqa: B027 - optional hook
        """Open the connection (no-op where there is none)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close the connection."""

    @abc.abstractmethod
    async def knobs(self) -> dict[str, KnobInfo]:
        """All controllable knobs with their units and limits."""

    @abc.abstractmethod
    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        """Current knob values (SI); all knobs if ``names`` is None."""

    @abc.abstractmethod
    async def set(self, values: dict[str, float]) -> dict[str, float]:
        """Set knobs (SI). All-or-nothing: if any value is out of limits, raise
        :class:`KnobLimitError` and apply none. Returns the values now in effect."""

    @abc.abstractmethod
    async def acquire(self) -> Frame:
        """Expose and return one detector frame taken at the current settings."""

    async def heartbeat(self) -> float:
        """Round-trip a heartbeat; return the round-trip time in seconds."""
        return 0.0

    async def __aenter__(self) -> "MicroscopeBackend":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
