"""Keep every frame taken outside the loop (the knobs' response calibration) for the record.

:class:`FrameTap` is a :class:`~beamloop.controller.core.backend.MicroscopeBackend` in front of
another: every call passes through unchanged; each :meth:`acquire` also keeps the image and the
setting the instrument confirmed last (the reply of the latest ``set``, merged over the values read
at the first call). :meth:`block` returns them as arrays for
:meth:`~beamloop.controller.run.record.RunRecorder.frames_block`, so a record holds the frames a
calibration moved the column for, not only their count.

Units: settings in the knobs' SI units (metres); images in camera counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from beamloop.controller.core.backend import Frame, KnobInfo, MicroscopeBackend

__all__ = ["FrameTap"]


class FrameTap(MicroscopeBackend):
    """Pass-through backend that keeps ``(image, setting)`` of every frame acquired through it."""

    def __init__(self, backend: MicroscopeBackend, knobs: list[str]):
        self.backend, self.knob_names = backend, list(knobs)
        self.images: list[np.ndarray] = []
        self.settings: list[list[float]] = []
        self._setting: dict[str, float] | None = None

    async def knobs(self) -> dict[str, KnobInfo]:
        return await self.backend.knobs()

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        return await self.backend.get(names)

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        reply = await self.backend.set(values)
        if self._setting is None:
            self._setting = await self.backend.get(self.knob_names)
        self._setting.update({k: float(v) for k, v in (reply or values).items()})
        return reply

    async def acquire(self) -> Frame:
        frame = await self.backend.acquire()
        if self._setting is None:
            self._setting = await self.backend.get(self.knob_names)
        self.images.append(np.asarray(frame.image))
        self.settings.append([float(self._setting.get(k, np.nan)) for k in self.knob_names])
        return frame

    async def heartbeat(self) -> float:
        return await self.backend.heartbeat()

    def block(self) -> dict[str, Any]:
        """``images`` (n, nx, ny), ``settings`` (n, n_knobs) m, ``knobs`` (names)."""
        imgs = np.stack(self.images) if self.images else np.zeros((0, 0, 0), np.float32)
        return {"images": imgs, "settings": np.asarray(self.settings, float).reshape(len(self.images), -1),
                "knobs": list(self.knob_names)}
