"""The interface between the alignment loop and an alignment policy.

A policy is pure decision logic: it proposes the next knob setting to measure, is told
what was measured there, and says when it is done. It never imports a transport or a
backend; the loop (``controller/run/loop.py``) does the I/O. This is what lets the
same policy run against the in-process twin, the twin over ZeroMQ, or a real column.

Units: knob values are SI (metres for aberration-like knobs), as in
:class:`beamloop.controller.core.backend.KnobInfo`.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any, Callable

from beamloop.controller.core.backend import Frame, KnobInfo


class RunStatus(str, enum.Enum):
    """How an alignment run ended (a ``str`` enum: records and JSON keep the plain value).

    CONVERGED: the policy's convergence test passed (it set :attr:`AlignmentPolicy.converged`);
    FINISHED: the policy stopped without it (frame budget, pair budget ...), the instrument is at
    its best setting; ABORTED (user), REFUSED (a command beyond a knob limit), CONNECTION_LOST,
    ERROR: the start values were put back where the instrument could be reached.
    """

    CONVERGED = "converged"
    FINISHED = "finished"
    ABORTED = "aborted"
    REFUSED = "refused"
    CONNECTION_LOST = "connection_lost"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


def default_max_frames(n_axes: int) -> int:
    """Frame budget of an alignment over ``n_axes`` knobs: 30 for two axes, growing with the dimension."""
    return max(30, 12 * n_axes)


@dataclass(frozen=True)
class PolicySpec:
    """What a policy needs and defaults to, declared where the policy is registered, so that the
    CLI, the job and the benchmarks never test policy names.

    default_axes: knob names aligned when the user gives none; needs_response_calibration: the
    policy wants the knobs' measured response/play (``calibration``/``play`` options,
    :mod:`beamloop.controller.estimation.knob_calibration`) before it runs; calibrates_stop_cost:
    its stop threshold is a cost that should be calibrated on the instrument when not given; needs_camera: it
    takes the instrument's camera geometry as the ``camera`` option; measures_residual: its stop rule
    measures the residual on the instrument (metres), so the job's Fourier-ellipse before/after check
    (meaningless on samples like usim's flakes, docs/alignment.md) is not applied;
    cost_label: what its :attr:`StepReport.cost` is, for tables and plots; takes_windows: it accepts
    a ``windows`` option (search half-widths, m); options: ``options(axes,
    max_frames, stop_cost, camera_gain) -> dict`` keyword options for the factory (None = not given).
    """

    default_axes: tuple[str, ...] = ("C10", "C12.x", "C12.y")
    needs_response_calibration: bool = False
    calibrates_stop_cost: bool = False
    cost_label: str = "cost"
    takes_windows: bool = False  # accepts ``windows`` (search half-widths per knob/aberration, m)
    needs_camera: bool = False   # takes ``camera`` (a CameraGeometry): the instrument session passes its profile's
    measures_residual: bool = False  # its stop rule measures the residual itself (metres): no ellipse before/after check
    options: Callable[..., dict[str, Any]] | None = None

    def make_options(self, axes: list[str], max_frames: int | None = None, stop_cost: float | None = None,
                     camera_gain: float | None = None) -> dict[str, Any]:
        if self.options is None:
            return {"max_frames": max_frames} if max_frames else {}
        return self.options(axes, max_frames, stop_cost, camera_gain)


@dataclass
class StepReport:
    """What a policy concluded from one measurement (for display and the run record).

    cost: the policy's scalar cost of the measured frame (lower is better), or None;
    estimate: the policy's current estimate of the aligned knob values (SI), if any;
    info: anything else worth recording (uncertainties, acquisition values ...).
    """

    cost: float | None = None
    estimate: dict[str, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class AlignmentPolicy(abc.ABC):
    """Proposes knob settings until the instrument is aligned along ``axes``."""

    name: str = "policy"
    #: set by the policy when it stops: its convergence test passed (True) or not (False)
    converged: bool = False
    #: why the policy stopped (human-readable), None while it runs
    stop_reason: str | None = None
    _done: bool = False

    @property
    def done(self) -> bool:
        """The policy has stopped (:meth:`propose` returns None)."""
        return self._done

    def stop(self, reason: str, converged: bool) -> None:
        """Stop: record why and whether the convergence test passed (the loop reports it)."""
        self._done, self.stop_reason, self.converged = True, reason, bool(converged)

    def restart(self) -> None:
        """Clear the stop state (call from :meth:`reset`)."""
        self._done, self.stop_reason, self.converged = False, None, False

    def approach(self, setting: dict[str, float]) -> list[dict[str, float]]:
        """Waypoints the loop sets before ``setting`` (the next proposal) is set and measured, e.g.
        to reach every measured setting from the same side against hysteresis; none by default.
        Waypoints cost no frame and are checked against the limits like any command."""
        return []

    def final_approach(self) -> list[dict[str, float]]:
        """Waypoints the loop sets before :meth:`result` (e.g. to approach against hysteresis); none by default."""
        return []

    @abc.abstractmethod
    def reset(self, knobs: dict[str, KnobInfo], start: dict[str, float], axes: list[str]) -> None:
        """Start a new alignment: ``axes`` are the knob names to optimise, ``start`` their
        current values, ``knobs`` their limits. Other knobs must be left alone."""

    @abc.abstractmethod
    def propose(self) -> dict[str, float] | None:
        """The next absolute setting (for ``axes``) at which to acquire a frame, or
        ``None`` when the policy is done. Must respect the knob limits."""

    @abc.abstractmethod
    def observe(self, setting: dict[str, float], frame: Frame) -> StepReport:
        """Take the frame measured at ``setting`` (the values actually applied)."""

    @abc.abstractmethod
    def result(self) -> dict[str, float]:
        """The final (best) setting for ``axes``: where the loop leaves the instrument."""


def apply_overrides(config: Any, overrides: dict[str, Any], policy_name: str) -> Any:
    """Set ``overrides`` on a policy's config dataclass; an unknown key is a clear error."""
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"{key}: not a setting of the {policy_name} policy")
        setattr(config, key, value)
    return config


def check_axes(knobs: dict[str, Any], start: dict[str, float], axes: list[str]) -> None:
    """``reset`` argument check shared by the policies: at least one axis, each a known knob with a start value."""
    if not axes:
        raise ValueError("axes: need at least one knob to align")
    missing = [a for a in axes if a not in knobs or a not in start]
    if missing:
        raise ValueError(f"axes: unknown knob(s) {missing}; known: {sorted(knobs)}")
