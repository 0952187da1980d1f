"""The knobs' response calibration as a step of a session: measure, save, record.

A policy whose :class:`~beamloop.controller.policies.base.PolicySpec` says
``needs_response_calibration`` (``nn``) gets its gain matrix and knob play from
:func:`~beamloop.controller.estimation.knob_calibration.measure_response`, measured once with the
network on the instrument. This step saves it as JSON next to the record (``--calibration``
reuses it: 0 frames next time) and returns the record's ``calibration`` event and the block of
frames it took (through a :class:`~beamloop.controller.run.frame_tap.FrameTap`), so the record
holds the frames the calibration moved the column for. Units: SI (metres).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from beamloop.controller.estimation.inference import default_estimator
from beamloop.controller.estimation.knob_calibration import measure_response
from beamloop.controller.policies.registry import policy_spec
from beamloop.controller.run.frame_tap import FrameTap

__all__ = ["calibrate_response", "response_for_policy"]


async def calibrate_response(backend, options: dict[str, Any], out: Path,
                             say: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure the response with ``options["estimator"]`` (default: the integer network), put
    ``calibration`` and ``play`` into ``options``, save the JSON in ``out``; return
    ``(event, frame_block)`` for :class:`~beamloop.controller.run.job.JobConfig`."""
    say("measuring the knobs' response matrix with the network (once; --calibration reuses a saved one) ...")
    tap = FrameTap(backend, sorted(await backend.knobs()))
    cal = await measure_response(tap, options.get("estimator") or default_estimator(options.get("weights_dir")))
    options["calibration"], options["play"] = cal.gain, cal.play_m
    path = cal.save(Path(out) / f"calibration-{time.strftime('%Y%m%d-%H%M%S')}.json")
    say(f"response matrix measured in {cal.frames} frames: {path}")
    event = {"kind": "calibration", "message": f"knob response measured in {cal.frames} frames", "t": time.time(),
             "frames": int(cal.frames), "file": str(path), "record_block": "calibration_frames"}
    block = {"name": "calibration_frames", **tap.block(),
             "description": "frames of the knobs' response calibration (defocus pairs around knob steps)"}
    return event, block


async def response_for_policy(backend, cfg, options: dict[str, Any], calibration_file: Path | None, out: Path,
                              say: Callable[[str], None]) -> None:
    """Give ``cfg.policy`` the response it needs: measured here (event + frames into ``cfg``) if
    the policy needs one and ``options`` has none, or the one loaded from ``calibration_file``
    recorded as an event (0 frames). ``cfg``: the job's :class:`~beamloop.controller.run.job.JobConfig`."""
    if policy_spec(cfg.policy).needs_response_calibration and "calibration" not in options:
        event, block = await calibrate_response(backend, options, out, say)
        cfg.events.append(event)
        cfg.frame_blocks.append(block)
    elif calibration_file is not None:
        cfg.events.append({"kind": "calibration", "message": f"knob response loaded from {calibration_file}",
                           "file": str(calibration_file), "frames": 0})
