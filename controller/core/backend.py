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
           "MicroscopeBackend", "ScanNotSupportedError", "ProbeLimitError", "ScanInfo", "PointMeasurement"]


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


class ScanNotSupportedError(BackendError):
    """The instrument has no scan (probe position / survey / point measurement) interface."""


class ProbeLimitError(BackendError):
    """A requested probe position lies outside the scan field. Refused, the probe did not move."""


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


@dataclass(frozen=True)
class ScanInfo:
    """The scan field of a scanning instrument (SI).

    shape: (nx, ny) grid positions; step_m: grid pitch (m); the field spans
    ``[0, (nx - 1) step] x [0, (ny - 1) step]`` metres from its corner; detectors: names of the
    integrating detectors (``"HAADF"``, ``"BF"``, ``"DPC"`` ...) with their region counts;
    camera_shape: the 4D camera's frame shape, or None; camera_rad_per_px: its angular pixel."""

    shape: tuple[int, int]
    step_m: float
    detectors: dict[str, int]
    camera_shape: tuple[int, int] | None = None
    camera_rad_per_px: float | None = None


@dataclass
class PointMeasurement:
    """One acquisition at one probe position: ``sums`` {detector: (n_regions,) counts},
    ``com_rad`` centre of mass of the 4D camera frame (rad, (x, y)), ``frame`` the camera
    frame (counts) if asked for, ``position_m`` where the probe was (m)."""

    position_m: tuple[float, float]
    sums: dict[str, np.ndarray]
    com_rad: np.ndarray | None = None
    frame: np.ndarray | None = None
    t_acquired: float = 0.0
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

    # --- scanning (optional: instruments without a scan raise ScanNotSupportedError) ------
    async def scan_info(self) -> ScanInfo:
        """The scan field, detectors and camera of a scanning instrument."""
        raise ScanNotSupportedError(f"{type(self).__name__} has no scan interface")

    async def move_probe(self, x_m: float, y_m: float) -> tuple[float, float]:
        """Put the probe at (x_m, y_m) metres in the scan field; return where it is now.
        Out-of-field positions raise :class:`ProbeLimitError` (never clipped)."""
        raise ScanNotSupportedError(f"{type(self).__name__} has no scan interface")

    async def survey(self, detector: str = "HAADF") -> np.ndarray:
        """A raster image (nx, ny) of the whole scan field with one integrating detector."""
        raise ScanNotSupportedError(f"{type(self).__name__} has no scan interface")

    async def measure_point(self, detectors: list[str] | None = None, camera: bool = False) -> PointMeasurement:
        """Acquire at the current probe position: detector sums (all if None), the centre of
        mass of the 4D camera frame, and the frame itself if ``camera``."""
        raise ScanNotSupportedError(f"{type(self).__name__} has no scan interface")

    async def __aenter__(self) -> "MicroscopeBackend":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
