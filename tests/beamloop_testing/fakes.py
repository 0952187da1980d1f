"""Test doubles for the alignment loop: an in-memory backend and a scripted policy (shared by tests).

These stand in for an instrument only to test the loop's own logic (limit refusal, pause on a
lost link, restore on abort, recording); policy convergence is tested on the real twin.
"""

from __future__ import annotations

import numpy as np

from beamloop.controller.core.backend import ConnectionLostError, Frame, KnobInfo, MicroscopeBackend
from beamloop.controller.policies.base import AlignmentPolicy, StepReport


class FakeBackend(MicroscopeBackend):
    """Knobs C10 and C12.x (+-1 um); acquire returns noise. ``drop`` makes the next n calls fail."""

    def __init__(self, start=None):
        self.info = {
            "C10": KnobInfo("C10", "m", -1e-6, 1e-6, "C10"),
            "C12.x": KnobInfo("C12.x", "m", -1e-6, 1e-6, "C12.x"),
        }
        self.values = dict(start or {"C10": 100e-9, "C12.x": -50e-9})
        self.sets: list[dict] = []
        self.drop = 0
        self.seq = 0
        self.rng = np.random.default_rng(0)
        self.on_acquire = None

    def _maybe_drop(self):
        if self.drop > 0:
            self.drop -= 1
            raise ConnectionLostError("fake link down")

    async def knobs(self):
        return dict(self.info)

    async def get(self, names=None):
        self._maybe_drop()
        return {k: v for k, v in self.values.items() if names is None or k in names}

    async def set(self, values):
        self._maybe_drop()
        for k, v in values.items():
            self.info[k].check(v)
        self.values.update(values)
        self.sets.append(dict(values))
        return {k: self.values[k] for k in values}

    async def acquire(self):
        self._maybe_drop()
        self.seq += 1
        if self.on_acquire is not None:
            self.on_acquire(self)
        img = self.rng.poisson(100.0, (32, 32)).astype(np.uint16)
        return Frame(img, self.seq, float(self.seq), dict(self.values), {"aberrations": dict(self.values)})


class ScriptedPolicy(AlignmentPolicy):
    """Proposes a fixed list of settings; its result is the last one."""

    name = "scripted"

    def __init__(self, settings, converges: bool = True):
        self.script = [dict(s) for s in settings]
        self.converges = converges

    def reset(self, knobs, start, axes):
        self.restart()
        self.queue = list(self.script)
        self.seen = []

    def propose(self):
        if self.queue:
            return self.queue.pop(0)
        self.stop("script finished", converged=self.converges)
        return None

    def observe(self, setting, frame):
        self.seen.append(dict(setting))
        return StepReport(cost=float(len(self.seen)), estimate=dict(setting), info={"n": len(self.seen)})

    def result(self):
        return dict(self.seen[-1]) if self.seen else {}
