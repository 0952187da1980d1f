"""The scan interface of the ZeroMQ client: :class:`ScanClient`, a mixin of
:class:`.zmq_client.ZmqTwinBackend` (also exported there as ``ZmqScanBackend``).

``scan_info``, ``move_probe``, ``survey`` and ``measure_point`` as control requests
(``protocol.scan``). Error replies become the backend interface's typed errors:
``PROBE_LIMIT`` -> :class:`ProbeLimitError` (refused, the probe did not move; a non-finite
position is refused here before it leaves the process), ``NOT_SUPPORTED`` ->
:class:`ScanNotSupportedError`; others as for every request (``UNKNOWN_KNOB`` ->
:class:`UnknownKnobError`, ``NOT_OWNER``, timeouts -> :class:`ConnectionLostError`).
Units SI: metres, radians, seconds; counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from beamloop.controller.core.backend import (
    BackendError,
    PointMeasurement,
    ProbeLimitError,
    ScanInfo,
    ScanNotSupportedError,
)
from beamloop.controller.protocol import messages as P
from beamloop.controller.protocol import scan as W

__all__ = ["ScanClient"]


class ScanClient:
    """Needs ``self._request(cmd, args, timeout_s)``, ``self.timeout_s``, ``self.acquire_timeout_s``."""

    _scan_info: ScanInfo | None = None

    async def _scan_request(self, cmd: str, args: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        try:
            return await self._request(cmd, args, timeout_s)
        except BackendError as exc:
            code = getattr(exc, "code", None)
            if code == P.PROBE_LIMIT:
                raise ProbeLimitError(str(exc)) from None
            if code in (P.NOT_SUPPORTED, P.UNKNOWN_COMMAND):
                raise ScanNotSupportedError(f"instrument at {getattr(self, 'control_addr', '?')}: {exc}") from None
            raise

    async def scan_info(self) -> ScanInfo:
        self._scan_info = W.scan_info_from_wire(await self._scan_request("scan_info", {}, self.timeout_s))
        return self._scan_info

    async def move_probe(self, x_m: float, y_m: float) -> tuple[float, float]:
        x, y = float(x_m), float(y_m)
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ProbeLimitError(f"probe position ({x_m!r}, {y_m!r}) m is not finite; refused, nothing sent")
        r = await self._scan_request("move_probe", {"x_m": x, "y_m": y}, self.timeout_s)
        try:
            return float(r["position_m"][0]), float(r["position_m"][1])
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise P.ProtocolError(P.BAD_MESSAGE, f"move_probe reply malformed: {exc!r}") from None

    async def survey(self, detector: str = "HAADF") -> np.ndarray:
        r = await self._scan_request("survey", {"detector": str(detector)}, self.acquire_timeout_s)
        return W.decode_array(r.get("image"), "survey image")

    async def measure_point(self, detectors: list[str] | None = None, camera: bool = False) -> PointMeasurement:
        args = {"detectors": None if detectors is None else [str(d) for d in detectors], "camera": bool(camera)}
        return W.point_from_wire(await self._scan_request("measure_point", args, self.acquire_timeout_s))

