"""Calibrate an instrument's knobs in metres: DAC counts -> metres per knob, and the cross-talk.

A JEOL lens or deflector register is a number 0-65535; what one count does to the beam is a
property of the column (and of its mode). The profile converts ``counts = offset + scale * si``;
this routine *measures* ``scale`` and the cross-talk on the instrument, with the alignment
network as the sensor (the same response measurement the nn policy uses,
:func:`~beamloop.controller.estimation.knob_calibration.measure_response`, diagonal measured):

1. open the adapter with the current profile (nominal ``scale``: e.g. 1 nm per count);
2. for each knob step ``+-s`` (in the profile's metres) around the current setting, take Ronchigram
   pairs and read the aberration change: ``G[j, k]`` = metres of aberration ``j`` per profile-metre
   of knob ``k``. If the profile's scale were right, ``G[k, k] = 1``;
3. correct ``scale_k <- scale_k / G[k, k]`` (a knob that does ``G`` times more than the profile
   thinks needs ``G`` times fewer counts per metre, see below), store
   ``cross_talk_k = {j: G[j, k] / G[k, k]}``, and repeat (``iterations``: the defocus pair itself
   is set with the focus knob's scale, so a second pass removes what the first one's error left).

What the network can and cannot calibrate (measured on the PyJEM stand-in, whose hidden
response is known): the stigmators come out within 3 % (1 iteration, 2 repeats, 24 frames).
The focus knob cannot calibrate itself: its own defocus pair is set in the profile's metres, so a
scale error ``f`` rescales the network's C10 estimate too (the fixed point is wrong: measured
1.21e9 counts/m for a true 0.85e9). Coma (beam tilt) reads ~40 % low (the network's coma
estimates shrink towards zero, docs/models.md). So by default only the stigmators are calibrated;
take the focus and tilt scales from the vendor's nominal values or an independent reference
and pass ``knobs=`` to measure the others anyway (their cross-talk columns are still useful).

Counts algebra: counts ``c = o + s u``; true aberration ``a = g (c - o) = g s u``; measured
``G = g s``; wanted ``g s' = 1`` so ``s' = s / G``.

The result is a new :class:`~.profile.InstrumentProfile` (``calibrated`` says when and how) that
``dump`` writes as YAML; the frames are counted. Units: metres, counts per metre.

:func:`profile_response`: the nn policy's knob-response calibration a profile names
(``response_calibration: FILE``), loaded and checked against the profile (its name, its knobs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

from beamloop.controller.core.backend import MicroscopeBackend
from beamloop.controller.instruments.profile import InstrumentProfile


def profile_response(profile: InstrumentProfile):
    """The :class:`~beamloop.controller.estimation.knob_calibration.ResponseCalibration` the profile
    names (None if it names none). Refused with
    :class:`~beamloop.controller.estimation.knob_calibration.CalibrationMismatchError` if it was
    measured on another instrument or for other knobs, ``ValueError`` if the file is missing or
    not a calibration; both name the file and the profile."""
    from beamloop.controller.estimation.knob_calibration import ResponseCalibration

    if profile.response_calibration is None:
        return None
    try:
        cal = ResponseCalibration.load(profile.response_calibration)
    except OSError as exc:
        raise ValueError(f"instrument profile {profile.name!r}: response_calibration {profile.response_calibration}: "
                         f"cannot read it ({exc.strerror or exc})") from None
    cal.check_for(profile.name, profile.knob_infos())
    return cal


@dataclass
class CalibrationReport:
    """Per iteration: the measured diagonal ``G[k, k]`` and the scale after it (counts per metre)."""

    iterations: list[dict] = field(default_factory=list)
    frames: int = 0


async def calibrate_counts(profile: InstrumentProfile, open_backend: Callable[[InstrumentProfile], Awaitable[MicroscopeBackend]],
                           estimator, knobs: list[str] | None = None, iterations: int = 2, repeats: int = 2,
                           steps: dict[str, float] | None = None) -> tuple[InstrumentProfile, CalibrationReport]:
    """Measure counts -> metres (``scale``) and cross-talk for ``knobs`` (default: those the
    estimator reads). ``open_backend(profile)`` returns a *connected* adapter built on that profile
    (the routine reopens it after each correction). Returns the calibrated profile and a report."""
    from beamloop.controller.estimation.knob_calibration import measure_response, response_matrix

    if iterations < 1:
        raise ValueError(f"iterations: must be >= 1, got {iterations}")
    if knobs is None:  # the stigmators: see the module docstring for focus and coma
        knobs = [k.name for k in profile.knobs if k.aberration in ("C12.x", "C12.y") and k.aberration in tuple(estimator.axes)]
    report = CalibrationReport()
    current = profile
    for it in range(iterations):
        backend = await open_backend(current)
        try:
            cal = await measure_response(backend, estimator, knobs=knobs, steps=steps, repeats=repeats,
                                         diagonal="measured", play_repeats=0)
        finally:
            await backend.close()
        report.frames += cal.frames
        abers = [current.knob(k).aberration for k in knobs]
        G = response_matrix(cal.gain, abers, knobs)
        new_knobs = []
        row: dict = {"measured_diagonal": {}, "scale_counts_per_m": {}}
        for kp in current.knobs:
            if kp.name not in knobs:
                new_knobs.append(kp)
                continue
            j = knobs.index(kp.name)
            g = float(G[j, j])
            if not (np.isfinite(g) and 0.2 < abs(g) < 5.0):
                raise ValueError(f"knob {kp.name!r}: measured response {g:.3g} m per profile-metre is implausible "
                                 "(wrong control, or the network cannot see this aberration here); not calibrated")
            cross = {abers[i]: float(G[i, j] / g) for i in range(len(knobs)) if i != j and G[i, j] != 0.0}
            new_knobs.append(kp.model_copy(update={"scale": kp.scale / g, "cross_talk": cross}))
            row["measured_diagonal"][kp.name] = g
            row["scale_counts_per_m"][kp.name] = kp.scale / g
        report.iterations.append(row)
        current = current.model_copy(update={"knobs": new_knobs})
    stamp = (f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}: counts->metres and cross-talk measured with the alignment "
             f"network, {iterations} iteration(s), {report.frames} frames")
    return current.model_copy(update={"calibrated": stamp}), report


async def measure_profile_response(profile: InstrumentProfile, estimator=None, seed: int = 0, repeats: int = 2):
    """Measure the nn policy's knob response once on the instrument ``profile`` opens
    (:func:`~beamloop.controller.estimation.knob_calibration.short_response`, ``8 x repeats``
    frames, stamped with the profile's name and knobs) and put the knobs back; save the result
    (``.save(FILE)``) and name the file in the profile (``response_calibration: FILE``) to reuse
    it with 0 frames. A simulator is measured aligned (its oracle's misalignment cleared).
    ``estimator``: default the integer networks on the profile's camera (canonical grid)."""
    from beamloop.controller.estimation.knob_calibration import short_response
    from beamloop.controller.instruments.open import open_instrument

    if estimator is None:
        from beamloop.controller.estimation.canonical_grid import CanonicalEstimator, CanonicalGrid
        from beamloop.controller.estimation.inference import default_estimator

        geom = profile.camera.geometry()
        estimator = default_estimator()
        if not geom.is_canonical(CanonicalGrid()):
            estimator = CanonicalEstimator(estimator, geom)
    opened = open_instrument(profile, seed=seed)
    try:
        if opened.oracle is not None:
            opened.oracle.misalign({})
        await opened.backend.connect()
        try:
            return await short_response(opened.backend, estimator, repeats=repeats, instrument=profile.name)
        finally:
            await opened.backend.close()
    finally:
        opened.close()
