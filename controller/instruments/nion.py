"""Nion Swift as a :class:`MicroscopeBackend`: nionswift-instrumentation's ``stem_controller`` API.

The adapter talks to two objects Nion Swift provides, nothing else:

* the **STEM controller** (``nion.instrumentation.stem_controller.STEMController``, registered
  in Swift's ``Registry`` as ``"stem_controller"``): knobs are read with ``TryGetVal(name)``
  and written with ``SetValAndConfirm(name, value, tolfactor, timeout_ms)``; 2-D controls are
  addressed by component (``"C12.x"``, ``"C21.y"``, as Swift names them; the values are SI,
  metres, exactly beamloop's units - the profile's ``scale`` is 1);
* the **Ronchigram camera** (a ``camera_base.CameraHardwareSource``): ``grab_next_to_start()``
  returns the next frame *started after the call* (never one exposed before a knob change),
  with its dimensional calibrations (rad per pixel, offset), which are checked against the
  instrument profile's camera geometry at :meth:`connect` and carried in ``Frame.meta``.

It runs the same in a running Nion Swift (:func:`from_registry`, used by the plug-in
:mod:`beamloop.controller.serve.nion_plugin`) and headless against nionswift-usim (:class:`UsimSession`, no Qt).

Safety: ``set`` checks every value against the profile's SI limits and largest step first and
refuses (``KnobLimitError``, nothing applied) - never clips; an unknown knob is
``UnknownKnobError``; a control that does not confirm within the timeout rolls back the
controls already written in that call and raises ``BackendError``.

Units: SI (metres) at the interface; frames are camera counts (float32) as Swift delivers them.
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
from beamloop.models.validation.usim_headless import HeadlessUsim


class NionInstrument(MicroscopeBackend):
    """Knobs through a ``STEMController``, frames from a Ronchigram ``CameraHardwareSource``.

    profile: the instrument profile (knob -> control, limits, camera geometry); stem_controller
    and camera: the Swift objects; tolfactor / timeout_ms: passed to ``SetValAndConfirm``;
    check_geometry: at connect, compare the camera's calibration with the profile (1 % tolerance).
    """

    def __init__(self, profile: InstrumentProfile, stem_controller: Any, camera: Any, *,
                 tolfactor: float = 1.0, timeout_ms: int = 3000, check_geometry: bool = True):
        if profile.kind != "nion":
            raise ValueError(f"profile {profile.name!r} is of kind {profile.kind!r}, not 'nion'")
        self.profile, self.sc, self.camera = profile, stem_controller, camera
        self.tolfactor, self.timeout_ms, self.check_geometry = float(tolfactor), int(timeout_ms), check_geometry
        self._knobs = {k.name: k for k in profile.knobs}
        self._seq = 0
        self._open = False
        self.geometry: dict[str, Any] = {}

    # -- lifecycle ------------------------------------------------------------------------
    async def connect(self) -> None:
        missing = [f"{k.name} (control {k.control!r})" for k in self._knobs.values() if not self.sc.TryGetVal(k.control)[0]]
        if missing:
            raise UnknownKnobError(f"Nion instrument has no control for knob(s) {missing}; fix the profile {self.profile.name!r}")
        cam = self.profile.camera
        fp = self.camera.get_current_frame_parameters()
        fp.exposure_ms = cam.exposure_s * 1e3
        fp.binning = cam.binning
        self.camera.set_current_frame_parameters(fp)
        self._open = True
        if self.check_geometry:
            frame = await self.acquire()
            self._check_geometry(frame)

    async def close(self) -> None:
        if self._open:
            try:  # wait for the stop: a grab right after an unsynchronised stop can miss the restart
                self.camera.stop_playing(sync_timeout=5.0)
            except Exception:  # noqa: BLE001 - closing must not fail
                pass
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise ConnectionLostError("Nion instrument adapter is not connected (call connect())")

    def _check_geometry(self, frame: Frame) -> None:
        cam = self.profile.camera
        shape = tuple(frame.image.shape)
        if shape != tuple(cam.size_px):
            raise BackendError(f"profile {self.profile.name!r} camera.size_px {tuple(cam.size_px)} but the camera "
                               f"delivers {shape} (binning {cam.binning})")
        scales = frame.meta.get("rad_per_px")
        if scales and all(s is not None for s in scales):
            for s in scales:
                if abs(abs(s) - cam.rad_per_px) > 0.01 * cam.rad_per_px:
                    raise BackendError(f"profile {self.profile.name!r} camera.rad_per_px {cam.rad_per_px:.6g} rad but "
                                       f"the camera's calibration says {abs(s):.6g} rad per pixel")
        self.geometry = {"shape": shape, "rad_per_px": scales, "centre_px": frame.meta.get("centre_px")}

    # -- knobs ----------------------------------------------------------------------------
    async def knobs(self) -> dict[str, KnobInfo]:
        return self.profile.knob_infos()

    def _read(self, name: str) -> float:
        k = self._knobs[name]
        ok, value = self.sc.TryGetVal(k.control)
        if not ok or value is None:
            raise ConnectionLostError(f"Nion: TryGetVal({k.control!r}) failed for knob {name!r}")
        return k.to_si(float(value))

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        self._check_open()
        names = list(self._knobs) if names is None else list(names)
        unknown = [n for n in names if n not in self._knobs]
        if unknown:
            raise UnknownKnobError(f"unknown knob(s) {unknown}; this instrument has {sorted(self._knobs)}")
        return {n: self._read(n) for n in names}

    def _plan(self, values: dict[str, float]) -> list[tuple[str, float, float]]:
        unknown = [n for n in values if n not in self._knobs]
        if unknown:
            raise UnknownKnobError(f"unknown knob(s) {unknown}; this instrument has {sorted(self._knobs)}")
        plan = []
        for name, v in values.items():
            k = self._knobs[name]
            v = float(v)
            if not math.isfinite(v) or not (k.minimum <= v <= k.maximum):
                raise KnobLimitError(name, v, k.minimum, k.maximum)
            cur = self._read(name)
            if k.max_step is not None and abs(v - cur) > k.max_step:
                raise KnobLimitError(name, v, max(k.minimum, cur - k.max_step), min(k.maximum, cur + k.max_step))
            plan.append((name, v, cur))
        return plan

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        self._check_open()
        plan = self._plan(values)                       # refuses before anything moves
        done: list[tuple[str, float]] = []
        for name, v, cur in plan:
            k = self._knobs[name]
            if not self.sc.SetValAndConfirm(k.control, k.to_instrument(v), self.tolfactor, self.timeout_ms):
                for n, old in reversed(done):           # undo this call's earlier writes
                    kk = self._knobs[n]
                    self.sc.SetValAndConfirm(kk.control, kk.to_instrument(old), self.tolfactor, self.timeout_ms)
                raise BackendError(f"Nion: SetValAndConfirm({k.control!r}, {v!r}) was not confirmed within "
                                   f"{self.timeout_ms} ms; the knobs of this call were put back")
            done.append((name, cur))
        settle = max((self.profile.settle_for(n) for n, v, cur in plan if v != cur), default=0.0)
        if settle > 0:
            await asyncio.sleep(settle)
        return await self.get(list(values))

    # -- camera ---------------------------------------------------------------------------
    def _grab(self) -> Frame:
        state = {n: self._read(n) for n in self._knobs}
        timeout = max(5.0, 50 * self.profile.camera.exposure_s)
        try:
            xdatas = self.camera.grab_next_to_start(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - Swift raises a bare Exception when nothing arrives
            raise ConnectionLostError(f"Nion: no Ronchigram frame within {timeout:g} s ({exc})") from None
        if not xdatas or xdatas[0] is None:
            raise ConnectionLostError("Nion: the Ronchigram camera returned no frame")
        x = xdatas[0]
        image = np.asarray(x.data, dtype=np.float32)
        if image.ndim == 3 and image.shape[0] == 1:
            image = image[0]
        if image.ndim != 2:
            raise BackendError(f"Nion: expected a 2-D Ronchigram, got shape {image.shape}")
        cals = list(x.dimensional_calibrations)[-2:]
        scales = [c.scale if (c.units or "") == "rad" else None for c in cals]
        centre = [(-c.offset / c.scale) if (c.units or "") == "rad" and c.scale else None for c in cals]
        self._seq += 1
        return Frame(image=image, seq=self._seq, t_acquired=time.time(), state=state,
                     meta={"source": "nion", "rad_per_px": scales, "centre_px": centre,
                           "calibration_units": [c.units for c in cals],
                           "exposure_s": self.profile.camera.exposure_s, "axes": self.profile.camera.axes})

    async def acquire(self) -> Frame:
        self._check_open()
        return await asyncio.to_thread(self._grab)

    async def heartbeat(self) -> float:
        self._check_open()
        t0 = time.perf_counter()
        self.sc.TryGetVal(self.profile.knobs[0].control)
        return time.perf_counter() - t0


def from_registry(profile: InstrumentProfile, **kw) -> NionInstrument:
    """The adapter on the STEM controller and Ronchigram camera registered in a running Nion Swift.

    The camera is ``connection.camera_id`` (hardware source id) if the profile gives one, else
    the STEM controller's ``ronchigram_camera``."""
    from nion.instrumentation import HardwareSource
    from nion.utils import Registry

    sc = Registry.get_component("stem_controller")
    if sc is None:
        raise ConnectionLostError("no stem_controller is registered: is Nion Swift (or usim) running in this process?")
    cam_id = profile.connection.get("camera_id")
    cam = (HardwareSource.HardwareSourceManager().get_hardware_source_for_hardware_source_id(cam_id)
           if cam_id else sc.ronchigram_camera)
    if cam is None:
        raise ConnectionLostError(f"no Ronchigram camera {'%r ' % cam_id if cam_id else ''}is registered")
    return NionInstrument(profile, sc, cam, **kw)


class UsimSession(HeadlessUsim):
    """nionswift-usim headless (no Qt, no Swift UI): its STEM controller and Ronchigram camera.

    usim is an *instrument under test*: beamloop never trains on its frames. The methods
    :meth:`true_aberrations` and :meth:`misalign` are the bench's oracle (usim's aberrations are
    ``C10Control = C10 + hidden offset``, ``C12Control = C12 + offset``, ...); the adapter never
    uses them. noise: usim's Poisson noise on/off; sample_index: 0 flake, 1 amorphous, 2 both.
    """

    TRUTH = {"C10": "C10Control", "C12.x": "C12Control.x", "C12.y": "C12Control.y",
             "C21.x": "C21Control.x", "C21.y": "C21Control.y", "C23.x": "C23Control.x", "C23.y": "C23Control.y"}

    def __init__(self, noise: bool = True, sample_index: int = 0):
        super().__init__(noise=noise, sample_index=sample_index)

    def instrument(self, profile: InstrumentProfile, **kw) -> NionInstrument:
        return NionInstrument(profile, self.stem_controller, self.camera, **kw)

    def true_aberrations(self) -> dict[str, float]:
        """usim's actual aberrations (m): the ``...Control`` values the simulator renders."""
        return {k: float(self.stem_controller.GetVal(c)) for k, c in self.TRUTH.items()}

    def misalign(self, offsets: dict[str, float]) -> None:
        """Hide ``offsets`` (m) in usim's ``...Control`` values: aberration = knob + offset."""
        for k, off in offsets.items():
            if k not in self.TRUTH:
                raise KeyError(f"usim oracle: no hidden offset for {k!r}; known {sorted(self.TRUTH)}")
            self.stem_controller.SetVal(self.TRUTH[k], float(self.stem_controller.GetVal(k)) + float(off))

