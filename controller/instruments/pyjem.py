"""JEOL PyJEM as a :class:`MicroscopeBackend`: ``PyJEM.TEM3`` lenses/deflectors, ``PyJEM.detector`` frames.

Targets PyJEM's documented API (manual 1.3.5, "PyJEM.TEM3 module"): ``TEM3.Lens3`` objective
fine/coarse (``GetOLf``/``SetOLf``, ``GetOLc``/``SetOLc``), ``TEM3.Def3`` objective stigmator
(``GetOLs``/``SetOLs(x, y)``), beam tilt (``GetCLA2``/``SetCLA2(x, y)``), condenser stigmator
(``GetCLs``/``SetCLs``), and ``PyJEM.detector.Detector(name).snapshot_rawdata()``. All lens and
deflector values are **DAC counts 0-65535, not metres**: each knob's profile entry converts,
``counts = round(offset + scale * si)`` (``scale`` counts per metre, ``offset`` the count at zero),
numbers that :mod:`.calibration` measures on the instrument. Profile controls: ``OLf``, ``OLc``,
``OLs.x``, ``OLs.y``, ``CLA2.x``, ``CLA2.y``, ``CLs.x``, ``CLs.y``.

On a JEOL PC the adapter imports ``PyJEM.TEM3`` and ``PyJEM.detector`` (``connection.offline:
true`` -> ``PyJEM.offline.TEM3``). In CI the profile says ``connection.standin: true`` and it
runs unchanged on :mod:`.pyjem_standin` - a STAND-IN with the same names, not PyJEM.

Safety: SI limits, the 0-65535 DAC range and the largest step are checked for every value
first; anything outside is refused (``KnobLimitError``, nothing applied), never clipped. A 2-D
deflector is written as a pair (the other component re-sent unchanged). A failing call rolls
back the earlier writes of the same ``set``. Read-back is the quantised value (one count).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import numpy as np

from beamloop.controller.core.backend import (BackendError, ConnectionLostError, Frame, KnobInfo, KnobLimitError,
                                              MicroscopeBackend, UnknownKnobError)
from beamloop.controller.instruments.profile import InstrumentProfile

DAC_MIN, DAC_MAX = 0, 65535
# control -> (TEM3 class, getter, setter, component or None for a 1-D register)
CONTROLS: dict[str, tuple[str, str, str, int | None]] = {
    "OLf": ("Lens3", "GetOLf", "SetOLf", None),
    "OLc": ("Lens3", "GetOLc", "SetOLc", None),
    "OLs.x": ("Def3", "GetOLs", "SetOLs", 0),
    "OLs.y": ("Def3", "GetOLs", "SetOLs", 1),
    "CLA2.x": ("Def3", "GetCLA2", "SetCLA2", 0),
    "CLA2.y": ("Def3", "GetCLA2", "SetCLA2", 1),
    "CLs.x": ("Def3", "GetCLs", "SetCLs", 0),
    "CLs.y": ("Def3", "GetCLs", "SetCLs", 1),
}


class PyJEMInstrument(MicroscopeBackend):
    """Knobs as DAC counts through ``TEM3``, frames from ``detector.Detector(connection.detector)``."""

    def __init__(self, profile: InstrumentProfile, tem3: Any, detector: Any):
        if profile.kind != "pyjem":
            raise ValueError(f"profile {profile.name!r} is of kind {profile.kind!r}, not 'pyjem'")
        bad = [f"{k.name} -> {k.control!r}" for k in profile.knobs if k.control not in CONTROLS]
        if bad:
            raise ValueError(f"profile {profile.name!r}: unknown PyJEM control(s) {bad}; known {sorted(CONTROLS)}")
        self.profile, self.tem3, self.detector_module = profile, tem3, detector
        self._knobs = {k.name: k for k in profile.knobs}
        self.lens = self.defl = self.detector = None
        self._seq = 0
        self.detector_dtype = "uint16"

    async def connect(self) -> None:
        if not self.tem3.connect():
            raise ConnectionLostError("PyJEM: TEM3.connect() returned False (is TEMCenter running?)")
        self.lens, self.defl = self.tem3.Lens3(), self.tem3.Def3()
        name = self.profile.connection.get("detector", "CAMERA")
        attached = self.detector_module.get_attached_detector()
        if name not in attached:
            raise ConnectionLostError(f"PyJEM: detector {name!r} is not attached (attached: {attached})")
        self.detector = self.detector_module.Detector(name)
        self.detector.livestart()

    async def close(self) -> None:
        if self.detector is not None:
            try:
                self.detector.livestop()
            except Exception:  # noqa: BLE001
                pass
        self.lens = self.defl = self.detector = None

    def _obj(self, cls: str):
        if self.lens is None:
            raise ConnectionLostError("PyJEM adapter is not connected (call connect())")
        return self.lens if cls == "Lens3" else self.defl

    def _counts(self, control: str) -> int:
        cls, getter, _, comp = CONTROLS[control]
        v = getattr(self._obj(cls), getter)()
        if isinstance(v, tuple) and comp is None and len(v) == 2:  # some PyJEM builds return (value, result)
            v = v[0]
        return int(v if comp is None else v[comp])

    async def knobs(self) -> dict[str, KnobInfo]:
        return self.profile.knob_infos()

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        names = list(self._knobs) if names is None else list(names)
        unknown = [n for n in names if n not in self._knobs]
        if unknown:
            raise UnknownKnobError(f"unknown knob(s) {unknown}; this instrument has {sorted(self._knobs)}")
        return {n: self._knobs[n].to_si(self._counts(self._knobs[n].control)) for n in names}

    def _plan(self, values: dict[str, float]) -> dict[str, int]:
        unknown = [n for n in values if n not in self._knobs]
        if unknown:
            raise UnknownKnobError(f"unknown knob(s) {unknown}; this instrument has {sorted(self._knobs)}")
        counts = {}
        for name, v in values.items():
            k = self._knobs[name]
            v = float(v)
            if not math.isfinite(v) or not (k.minimum <= v <= k.maximum):
                raise KnobLimitError(name, v, k.minimum, k.maximum)
            c = int(round(k.to_instrument(v)))
            if not DAC_MIN <= c <= DAC_MAX:
                lo, hi = sorted((k.to_si(DAC_MIN), k.to_si(DAC_MAX)))
                raise KnobLimitError(name, v, max(lo, k.minimum), min(hi, k.maximum))
            cur = k.to_si(self._counts(k.control))
            if k.max_step is not None and abs(v - cur) > k.max_step:
                raise KnobLimitError(name, v, max(k.minimum, cur - k.max_step), min(k.maximum, cur + k.max_step))
            counts[k.control] = c
        return counts

    def _write(self, setter_key: tuple[str, str], regs: dict[int | None, int]) -> None:
        cls, setter = setter_key
        obj = self._obj(cls)
        if None in regs:
            getattr(obj, setter)(int(regs[None]))
        else:
            getattr(obj, setter)(int(regs[0]), int(regs[1]))

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        wanted = self._plan(values)                      # refuses before anything moves
        groups: dict[tuple[str, str], dict] = {}
        old: dict[tuple[str, str], dict] = {}
        for control, c in wanted.items():
            cls, getter, setter, comp = CONTROLS[control]
            key = (cls, setter)
            if key not in groups:
                if comp is None:
                    cur = {None: self._counts(control)}
                else:
                    pair = getattr(self._obj(cls), getter)()
                    cur = {0: int(pair[0]), 1: int(pair[1])}
                old[key], groups[key] = dict(cur), dict(cur)
            groups[key][comp] = c
        done = []
        try:
            for key, regs in groups.items():
                self._write(key, regs)
                done.append(key)
        except Exception as exc:
            for key in reversed(done):
                try:
                    self._write(key, old[key])
                except Exception:  # noqa: BLE001
                    pass
            raise BackendError(f"PyJEM refused {key[0]}.{key[1]} ({exc}); the earlier writes of this call were undone") from exc
        settle = max((self.profile.settle_for(n) for n in values), default=0.0)
        if settle > 0:
            await asyncio.sleep(settle)
        return await self.get(list(values))

    def _snap(self) -> Frame:
        if self.detector is None:
            raise ConnectionLostError("PyJEM adapter is not connected (call connect())")
        state = {n: self._knobs[n].to_si(self._counts(self._knobs[n].control)) for n in self._knobs}
        raw = self.detector.snapshot_rawdata()
        cam = self.profile.camera
        dtype = np.dtype(self.profile.connection.get("raw_dtype", "<u2"))
        n = int(np.prod(cam.size_px))
        if len(raw) != n * dtype.itemsize:
            raise BackendError(f"PyJEM: snapshot_rawdata gave {len(raw)} bytes, the profile's camera "
                               f"{tuple(cam.size_px)} x {dtype} needs {n * dtype.itemsize}")
        image = np.frombuffer(raw, dtype=dtype).reshape(cam.size_px).astype(np.float32)
        self._seq += 1
        return Frame(image=image, seq=self._seq, t_acquired=time.time(), state=state,
                     meta={"source": "pyjem", "counts": {n: self._counts(k.control) for n, k in self._knobs.items()}})

    async def acquire(self) -> Frame:
        return await asyncio.to_thread(self._snap)


class _StandinOracle:
    """Bench oracle of the PyJEM stand-in: its hidden twin's aberrations (m)."""

    def __init__(self, column):
        self.column = column

    def true_aberrations(self) -> dict[str, float]:
        return self.column.microscope.true_aberration_dict()

    def misalign(self, offsets: dict[str, float]) -> None:
        m = self.column.microscope
        m.misalign(None, {})
        for k, v in offsets.items():
            m._offset[m._ab_names.index(k)] = float(v)


def open_pyjem(profile: InstrumentProfile, seed: int = 0, noise: bool | None = None):
    """The adapter on real PyJEM, PyJEM's offline mode, or (``connection.standin``) the stand-in."""
    from beamloop.controller.instruments.open import OpenedInstrument

    conn = profile.connection
    if conn.get("standin", False):
        from beamloop.controller.instruments import pyjem_standin

        column = pyjem_standin.StandinColumn(seed=seed, noise=True if noise is None else noise,
                                             size_px=profile.camera.size_px[0])
        tem3, det = pyjem_standin.make_modules(column)
        return OpenedInstrument(PyJEMInstrument(profile, tem3, det), profile, _StandinOracle(column),
                                note="PyJEM STAND-IN (beamloop twin behind PyJEM's API names; not JEOL's PyJEM)")
    import importlib

    tem3 = importlib.import_module("PyJEM.offline.TEM3" if conn.get("offline") else "PyJEM.TEM3")
    det = importlib.import_module("PyJEM.offline.detector" if conn.get("offline") else "PyJEM.detector")
    return OpenedInstrument(PyJEMInstrument(profile, tem3, det), profile, note="JEOL PyJEM")
