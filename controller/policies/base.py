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
from dataclasses import dataclass, field
from typing import Any

from beamloop.controller.core.backend import Frame, KnobInfo


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
