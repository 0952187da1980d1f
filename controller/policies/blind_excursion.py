"""A deliberate excursion along the one knob direction a single-ramp frame cannot see.

When a Ronchigram near focus shows a single ramp of the sample (nionswift-usim's bilinear flake
cells; :func:`~beamloop.controller.estimation.cost.gradient_anisotropy`), the frame depends only on
``M^T u`` and one combination of C1/A1 (:func:`~beamloop.controller.estimation.cost.blind_direction`)
leaves it unchanged until the field of view reaches the next feature. The field of view grows
symmetrically about the true focus, so stepping out along that direction on both sides until the
cost rises and taking the midpoint of the two rise points locates the invisible component.
Units: metres (knob values), the cost dimensionless.
"""

from __future__ import annotations

import numpy as np


class BlindExcursion:
    """State of one excursion: ``base`` (m, per axis), unit ``direction``, ``step`` (m), at most
    ``steps`` per side, a rise of ``rise`` (relative) over ``base_cost`` ends a side; ``lo``/``hi``
    the search box (m)."""

    def __init__(self, base: np.ndarray, direction: np.ndarray, base_cost: float, lo: np.ndarray,
                 hi: np.ndarray, step: float = 10e-9, steps: int = 8, rise: float = 0.25):
        if not (step > 0 and steps >= 1 and rise > 0):
            raise ValueError(f"step/steps/rise: must be > 0, got {step!r}, {steps!r}, {rise!r}")
        self.base, self.dir = np.asarray(base, float), np.asarray(direction, float)
        self.base_cost, self.lo, self.hi = float(base_cost), np.asarray(lo, float), np.asarray(hi, float)
        self.step, self.steps, self.rise = float(step), int(steps), float(rise)
        self.side, self.k = 1, 1
        self.ends: dict[int, float] = {}
        self.final: np.ndarray | None = None
        self.finished = False

    def _point(self, t: float) -> np.ndarray:
        return self.base + t * self.dir

    def _inside(self, t: float) -> bool:
        p = self._point(t)
        return bool(np.all(p >= self.lo) and np.all(p <= self.hi))

    def next_point(self) -> np.ndarray:
        """The next setting to measure (m): a step along the current side, or the midpoint."""
        while self.side in (1, -1) and self.side not in self.ends:
            t = self.side * self.k * self.step
            if self._inside(t):
                return self._point(t)
            self.ends[self.side] = self.side * (self.k - 1) * self.step  # the box edge ends this side
            self._next_side()
        mid = 0.5 * (self.ends.get(1, 0.0) + self.ends.get(-1, 0.0))
        self.final = self._point(mid)
        return self.final

    def _next_side(self) -> None:
        self.side, self.k = (-1, 1) if self.side == 1 else (0, 0)

    def observe(self, cost: float) -> None:
        """The cost measured at the last :meth:`next_point`."""
        if self.final is not None:
            self.finished = True
            return
        t = self.side * self.k * self.step
        if cost > self.base_cost * (1.0 + self.rise) or self.k >= self.steps:
            self.ends[self.side] = t
            self._next_side()
        else:
            self.k += 1
