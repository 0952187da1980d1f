"""The knobs' response calibration as a step of a session: measure, save, record.

A policy whose :class:`~beamloop.controller.policies.base.PolicySpec` says
``needs_response_calibration`` (``nn``) gets its gain matrix (and knob play) measured once with
the network on the instrument: :func:`~beamloop.controller.estimation.knob_calibration.short_response`
(16 frames) when the policy approaches from below (``approach_from_below``, its default),
:func:`~beamloop.controller.estimation.knob_calibration.measure_response` (132 frames, play
measured) otherwise. This step saves it as JSON next to the record, stamped with the instrument
and its knobs (``--calibration FILE`` or the profile's ``response_calibration: FILE`` reuse it:
0 frames next time; a file of another instrument or other knobs is refused) and returns the record's ``calibration`` event and the block of
frames it took (through a :class:`~beamloop.controller.run.frame_tap.FrameTap`), so the record
holds the frames the calibration moved the column for. Units: SI (metres).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from beamloop.controller.estimation.inference import default_estimator
from beamloop.controller.estimation.knob_calibration import (SHORT_APPROACH, ResponseCalibration, measure_response,
                                                           short_response)
from beamloop.controller.policies.registry import policy_spec
from beamloop.controller.run.frame_tap import FrameTap

__all__ = ["calibrate_response", "response_for_policy"]


async def calibrate_response(backend, options: dict[str, Any], out: Path, say: Callable[[str], None],
                             instrument: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure the response with ``options["estimator"]`` (default: the integer network), put
    ``calibration`` and ``play`` into ``options``, save the JSON in ``out`` (stamped with
    ``instrument``, the profile name, None if unknown); return ``(event, frame_block)`` for
    :class:`~beamloop.controller.run.job.JobConfig`."""
    say("measuring the knobs' response matrix with the network (once; --calibration reuses a saved one) ...")
    tap = FrameTap(backend, sorted(await backend.knobs()))
    est = options.get("estimator") or default_estimator(options.get("weights_dir"))
    approach = options.get("approach_from_below", SHORT_APPROACH)
    if approach:
        cal = await short_response(tap, est, approach=approach, instrument=instrument)
    else:
        cal = await measure_response(tap, est, instrument=instrument)
    options["calibration"], options["play"] = cal.gain, cal.play_m
    path = cal.save(Path(out) / f"calibration-{time.strftime('%Y%m%d-%H%M%S')}.json")
    say(f"response matrix measured in {cal.frames} frames: {path} (reuse: --calibration FILE, or "
        "response_calibration: FILE in the instrument profile)")
    event = {"kind": "calibration", "message": f"knob response measured in {cal.frames} frames", "t": time.time(),
             "frames": int(cal.frames), "file": str(path), "record_block": "calibration_frames"}
    block = {"name": "calibration_frames", **tap.block(),
             "description": "frames of the knobs' response calibration (defocus pairs around knob steps)"}
    return event, block


async def response_for_policy(backend, cfg, options: dict[str, Any], calibration_file: Path | None, out: Path,
                              say: Callable[[str], None], instrument: str | None = None) -> None:
    """Give ``cfg.policy`` the response it needs: measured here (event + frames into ``cfg``) if
    the policy needs one and ``options`` has none, or the one loaded from ``calibration_file``
    recorded as an event (0 frames) after checking that it was measured on ``instrument`` (a
    profile name; None: unknown, only the knobs are compared) for this instrument's knobs
    (:class:`~beamloop.controller.estimation.knob_calibration.CalibrationMismatchError` before
    anything moves). ``cfg``: the job's :class:`~beamloop.controller.run.job.JobConfig`."""
    if calibration_file is not None and policy_spec(cfg.policy).needs_response_calibration:
        ResponseCalibration.load(calibration_file).check_for(instrument, await backend.knobs())
    if policy_spec(cfg.policy).needs_response_calibration and "calibration" not in options:
        event, block = await calibrate_response(backend, options, out, say, instrument)
        cfg.events.append(event)
        cfg.frame_blocks.append(block)
    elif calibration_file is not None:
        cfg.events.append({"kind": "calibration", "message": f"knob response loaded from {calibration_file}",
                           "file": str(calibration_file), "frames": 0})
