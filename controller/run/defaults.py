"""Default options of the alignment policies for ``beamloop align`` and ``beamloop bench align``.

The numbers are calibrations for the digital twin's default camera and sample (see
docs/alignment.md, "Stopping"); on another instrument give ``--stop-cost`` and
``--camera-gain`` (or recalibrate with :func:`beamloop.controller.bench.align.calibrate_stop_cost`).
"""

from __future__ import annotations

from typing import Any

# Counts per electron of the twin's camera (beamloop.sim RonchigramConfig.detector_gain default).
TWIN_CAMERA_GAIN = 8.0
# Fourier-ellipse cost (cycles/px, power weighting, root-sum-square of the axes) below which the twin's Ronchigram counts as
# aligned: the median cost at a 12 nm residual of (C1, A1) on the default twin (0.043 at 0 nm, 0.055 at 20 nm).
TWIN_STOP_COST = 0.048


def default_max_frames(n_axes: int) -> int:
    """Frame budget of the BO policy: 30 for two axes, growing with the dimension."""
    return max(30, 12 * n_axes)


def policy_options(policy: str, axes: list[str], max_frames: int | None = None,
                   stop_cost: float | None = None, camera_gain: float | None = None) -> dict[str, Any]:
    """Keyword options for ``make_policy(policy, **options)`` on the twin for these axes."""
    if policy == "bo":
        return {
            "stop_cost": TWIN_STOP_COST if stop_cost is None else stop_cost,
            "max_frames": max_frames or default_max_frames(len(axes)),
            "counts_per_electron": TWIN_CAMERA_GAIN if camera_gain is None else camera_gain,
        }
    if policy == "nn":  # the nn policy's frame budget includes a possible BO fallback: the same as bo's
        return {"max_frames": max_frames or default_max_frames(len(axes))}
    return {"max_frames": max_frames} if max_frames else {}
