"""The scanning twin in-process: a :class:`MicroscopeBackend` with the scan interface on a
:class:`beamloop.sim.scanning_twin.ScanningTwin` (probe position, survey, point
measurements with detector sums, centre of mass and the 4D camera frame). No sockets.

Knobs: ``probe_x``/``probe_y`` (m, limits = the scan field) mirror the probe position, so the
generic ``get``/``set`` see it too; ``acquire`` returns the 4D camera frame at the current
position. The twin's clock advances by ``dwell_s`` per point and per survey pixel.
"""

from __future__ import annotations

import time

import numpy as np

from beamloop.controller.core.backend import (
    ConnectionLostError,
    Frame,
    KnobInfo,
    MicroscopeBackend,
    PointMeasurement,
    ProbeLimitError,
    ScanInfo,
    UnknownKnobError,
)
from beamloop.sim.scanning_twin import ScanningTwin, default_detectors

__all__ = ["ScanTwinBackend"]


class ScanTwinBackend(MicroscopeBackend):
    """A scanning instrument on an in-process :class:`ScanningTwin`."""

    def __init__(self, twin: ScanningTwin, detectors: dict | None = None, dwell_s: float = 1e-3):
        self.twin = twin
        self.detectors = detectors or default_detectors(twin.cfg.alpha_rad)
        self.dwell_s = float(dwell_s)
        self._pos = (0.0, 0.0)
        self._t = 0.0
        self._seq = 0
        self._closed = False

    async def connect(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLostError("scanning twin backend is closed")

    def _knobs(self) -> dict[str, KnobInfo]:
        fx, fy = self.twin.cfg.field_m
        return {"probe_x": KnobInfo("probe_x", "m", 0.0, fx), "probe_y": KnobInfo("probe_y", "m", 0.0, fy)}

    async def knobs(self) -> dict[str, KnobInfo]:
        self._check_open()
        return self._knobs()

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        self._check_open()
        values = {"probe_x": self._pos[0], "probe_y": self._pos[1]}
        if names is None:
            return values
        missing = [n for n in names if n not in values]
        if missing:
            raise UnknownKnobError(f"unknown knob(s) {missing}; this instrument has {sorted(values)}")
        return {n: values[n] for n in names}

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        self._check_open()
        knobs = self._knobs()
        unknown = [n for n in values if n not in knobs]
        if unknown:
            raise UnknownKnobError(f"unknown knob(s) {unknown}; this instrument has {sorted(knobs)}")
        for n, v in values.items():
            knobs[n].check(float(v))
        x = float(values.get("probe_x", self._pos[0]))
        y = float(values.get("probe_y", self._pos[1]))
        await self.move_probe(x, y)
        return await self.get()

    async def acquire(self) -> Frame:
        m = await self.measure_point(detectors=[], camera=True)
        return Frame(image=m.frame, seq=self._seq, t_acquired=m.t_acquired,
                     state={"probe_x": m.position_m[0], "probe_y": m.position_m[1]}, meta={"source": "scan-twin"})

    # --- scan interface ------------------------------------------------------------------------
    async def scan_info(self) -> ScanInfo:
        self._check_open()
        c = self.twin.cfg
        return ScanInfo(shape=(c.nx, c.ny), step_m=c.step_m,
                        detectors={k: d.n_regions for k, d in self.detectors.items()},
                        camera_shape=(c.camera_px, c.camera_px), camera_rad_per_px=c.camera_rad_per_px)

    async def move_probe(self, x_m: float, y_m: float) -> tuple[float, float]:
        self._check_open()
        fx, fy = self.twin.cfg.field_m
        x, y = float(x_m), float(y_m)
        if not (np.isfinite(x) and np.isfinite(y) and 0.0 <= x <= fx and 0.0 <= y <= fy):
            raise ProbeLimitError(f"probe position ({x_m!r}, {y_m!r}) m is outside the scan field "
                                  f"[0, {fx}] x [0, {fy}] m; refused, the probe did not move")
        self._pos = (x, y)
        return self._pos

    async def survey(self, detector: str = "HAADF") -> np.ndarray:
        self._check_open()
        if detector not in self.detectors:
            raise UnknownKnobError(f"unknown detector {detector!r}; this instrument has {sorted(self.detectors)}")
        img = self.twin.survey(self.detectors[detector])
        self._t += self.dwell_s * img.size
        return img

    async def measure_point(self, detectors: list[str] | None = None, camera: bool = False) -> PointMeasurement:
        self._check_open()
        names = list(self.detectors) if detectors is None else list(detectors)
        unknown = [n for n in names if n not in self.detectors]
        if unknown:
            raise UnknownKnobError(f"unknown detector(s) {unknown}; this instrument has {sorted(self.detectors)}")
        t0 = time.perf_counter()
        m = self.twin.measure(self._pos[0], self._pos[1], {n: self.detectors[n] for n in names})
        self._t += self.dwell_s
        self._seq += 1
        return PointMeasurement(position_m=self._pos, sums=m["sums"], com_rad=np.asarray(m["com_rad"]),
                                frame=m["frame"] if camera else None, t_acquired=self._t,
                                meta={"seq": self._seq, "compute_s": time.perf_counter() - t0, "source": "scan-twin"})
