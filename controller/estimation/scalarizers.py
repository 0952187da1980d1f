"""Scalarizers: reduce one 4D-STEM point measurement to the number the experiment seeks.

"Physics enters here" (the DKL lecture, ../shared/seeds/003): the active-learning loop only
ever sees this scalar. Each scalarizer takes a :class:`PointMeasurement` and returns a float.

* ``com_magnitude``: |centre of mass| of the camera frame (rad), i.e. the beam deflection by
  the in-plane projected field.
* ``dpc_field``: |DPC signal| from 4 quadrant sums (dimensionless, ~ deflection / alpha).
* ``ratio(num, den)``: sum of detector ``num`` over sum of detector ``den`` (e.g. the
  superlattice disks over the central disk: a disk intensity ratio).
* ``user(fn)``: any callable ``PointMeasurement -> float``; ``load_user("module:function")``.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from beamloop.controller.core.backend import PointMeasurement

__all__ = ["Scalarizer", "com_magnitude", "dpc_field", "ratio", "user", "load_user", "make_scalarizer", "SCALARIZERS"]

Scalarizer = Callable[[PointMeasurement], float]
SCALARIZERS = ("com", "dpc", "ratio", "user")


class ScalarizerError(ValueError):
    """A measurement lacks what the scalarizer needs (names the missing detector/field)."""


def com_magnitude(m: PointMeasurement) -> float:
    """|CoM| in radians."""
    if m.com_rad is None:
        raise ScalarizerError("com scalarizer: the measurement has no centre of mass (no 4D camera)")
    return float(np.hypot(*np.asarray(m.com_rad, dtype=float)[:2]))


def dpc_field(m: PointMeasurement, detector: str = "DPC") -> float:
    """|(S0 + S3 - S1 - S2, S0 + S1 - S2 - S3)| / total over the 4 quadrants of ``detector``
    (segments counter-clockwise from +x, as ``sim.detectors``)."""
    if detector not in m.sums:
        raise ScalarizerError(f"dpc scalarizer: no detector {detector!r} in the measurement ({sorted(m.sums)})")
    s = np.asarray(m.sums[detector], dtype=float)
    if s.shape[-1] != 4:
        raise ScalarizerError(f"dpc scalarizer: detector {detector!r} has {s.shape[-1]} regions, needs 4 quadrants")
    tot = s.sum()
    if tot <= 0:
        return 0.0
    dx = (s[0] + s[3] - s[1] - s[2]) / tot
    dy = (s[0] + s[1] - s[2] - s[3]) / tot
    return float(np.hypot(dx, dy))


def ratio(num: str, den: str) -> Scalarizer:
    """Sum over detector ``num`` divided by the sum over detector ``den``."""
    def f(m: PointMeasurement) -> float:
        for d in (num, den):
            if d not in m.sums:
                raise ScalarizerError(f"ratio scalarizer: no detector {d!r} in the measurement ({sorted(m.sums)})")
        b = float(np.sum(m.sums[den]))
        return float(np.sum(m.sums[num])) / b if b > 0 else 0.0
    f.__name__ = f"ratio_{num}_{den}"
    return f


def user(fn: Callable[[PointMeasurement], float]) -> Scalarizer:
    """Wrap a user function; its result must be a finite number."""
    if not callable(fn):
        raise TypeError(f"user scalarizer must be callable, got {fn!r}")

    def f(m: PointMeasurement) -> float:
        v = float(fn(m))
        if not np.isfinite(v):
            raise ScalarizerError(f"user scalarizer {getattr(fn, '__name__', fn)!r} returned {v!r}")
        return v
    f.__name__ = getattr(fn, "__name__", "user")
    return f


def load_user(spec: str) -> Scalarizer:
    """``"package.module:function"`` -> user scalarizer."""
    mod, sep, name = spec.partition(":")
    if not sep or not mod or not name:
        raise ValueError(f"user scalarizer must be given as module:function, got {spec!r}")
    return user(getattr(importlib.import_module(mod), name))


def make_scalarizer(name: str, num: str = "superlattice", den: str = "central", fn: str | None = None) -> Scalarizer:
    """By name: ``com``, ``dpc``, ``ratio`` (num/den detectors), ``user`` (``fn`` = module:function)."""
    if name == "com":
        return com_magnitude
    if name == "dpc":
        return dpc_field
    if name == "ratio":
        return ratio(num, den)
    if name == "user":
        if not fn:
            raise ValueError("user scalarizer needs fn='module:function'")
        return load_user(fn)
    raise ValueError(f"scalarizer: unknown {name!r}; choose one of {', '.join(SCALARIZERS)}")

