"""Frames checked at the door, before any estimate is made from them.

A detector frame reaching a cost function or a network must be a 2-D image of counts:
numeric (not boolean, not complex), finite, square, of the expected size, and not
saturated (a frame pinned at the top of its range, or with a large part of it there, gives a
confident but meaningless estimate). :func:`check_frame` raises :class:`FrameRejected`
naming the fault; the alignment loop records the refusal and stops (start values restored).
"""

from __future__ import annotations

import numpy as np

MAX_SATURATED_FRACTION = 0.05   # pixels at the dtype's maximum (integer frames)
MAX_SIDE_PX = 4096


class FrameRejected(ValueError):
    """A frame failed a door check (the message names the check and the frame's properties)."""


def check_frame(image: np.ndarray, *, expected_shape: tuple | None = None, square: bool = True,
                max_saturated_fraction: float = MAX_SATURATED_FRACTION) -> None:
    """Raise :class:`FrameRejected` unless ``image`` is a usable detector frame."""
    a = np.asarray(image)
    if a.dtype == np.bool_ or a.dtype.kind not in "uif":
        raise FrameRejected(f"frame dtype {a.dtype} is not a numeric count type (uint/int/float)")
    if a.ndim != 2:
        raise FrameRejected(f"frame must be 2-D (rows, cols), got shape {a.shape}")
    if min(a.shape) < 8 or max(a.shape) > MAX_SIDE_PX:
        raise FrameRejected(f"frame shape {a.shape} outside 8..{MAX_SIDE_PX} px per side")
    if square and a.shape[0] != a.shape[1]:
        raise FrameRejected(f"frame must be square, got {a.shape[0]}x{a.shape[1]}")
    if expected_shape is not None and tuple(a.shape) != tuple(expected_shape):
        raise FrameRejected(f"frame shape {a.shape} differs from the expected {tuple(expected_shape)}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise FrameRejected(f"frame has {int((~np.isfinite(a)).sum())} NaN/infinite pixels")
    if a.dtype.kind in "ui":
        top = np.iinfo(a.dtype).max
        frac = float(np.count_nonzero(a == top)) / a.size
        if frac > max_saturated_fraction:
            raise FrameRejected(f"frame saturated: {frac:.1%} of pixels at {top} (limit {max_saturated_fraction:.0%})")
    if a.min() == a.max():
        raise FrameRejected(f"frame is constant ({a.flat[0]!r} everywhere): no signal")
