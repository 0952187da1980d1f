"""Watch mode (``beamloop keep``): after aligning, keep the column aligned, acting on trigger events.

:func:`keep_aligned` aligns once with the normal loop (:func:`~.loop.run_alignment`), then takes
frames at the aligned setting and passes each through the trigger:

- with the RTL in the loop (HIL, profile ``board-rtl``) the RTL's own trigger record, which the
  composite puts in ``frame.meta["rtl_trigger"]`` (score and fire bit computed by ``trigger_core``);
- otherwise :class:`NumpyTrigger`: the committed trigger network (``models/weights/trigger``) in
  integer numpy on the same 64 x 64 binned raster, the same features and the same threshold
  register as the RTL (the network's integer form equals the Brevitas module bit for bit, which
  the RTL matches in Icarus: hil_tests/hls, hil_tests/firmware).

The committed trigger (v1) has one score: it says *that* the Ronchigram changed, not why. The
kind is told by the frame's total counts against the frames since the last alignment: a sample
change (thickness, another area) moves the transmitted intensity, drift of the aberrations only
rearranges it. ``|T / T_ref - 1| > sample_change_rel`` -> ``sample_change``: the loop pauses and
says so (status ``paused_sample_change``: the operator re-centres or resumes); otherwise
``drift``: a re-alignment starts from where the column is (a fresh policy, the same loop), then
watching goes on with a new reference. Every trigger goes into the record as an event
``trigger`` with its frame number, ``trigger_kind`` (counted over the whole watch, alignment frames included),
time (``time.time()``, s), score and kind; re-alignments and the pause are events too.

The way back: every alignment (the initial one and each re-alignment) runs inside a
:class:`~.way_back.WayBack`. If it ends with an exception -- an error, or the cancellation that the
first Ctrl-C / SIGTERM causes under :func:`~.way_back.run_guarded` (``run_keep`` uses it) -- the knobs
go back to their values at the start of *that* alignment (for a re-alignment: the last aligned
setting, before the correction started), are read back, and an ``interrupted`` event records
whether the read-back matched. While watching no knob moves, so there is nothing to undo.

Units: SI (metres, seconds); scores in the RTL's integer units (``score_scale`` per unit).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from beamloop.controller.core.backend import Frame, MicroscopeBackend
from beamloop.controller.policies.base import AlignmentPolicy
from beamloop.controller.run.loop import AlignmentResult, run_alignment
from beamloop.controller.run.way_back import WayBack
from beamloop.models.trigger_stream import RTL_SIZE, NumpyTrigger, rtl_raster  # noqa: F401 - re-exported (bit-exact trigger)

@dataclass
class WatchConfig:
    """watch_frames: frames taken while watching (alignment frames not counted); max_realignments:
    re-alignments before the watch gives up (status ``gave_up``); sample_change_rel: relative
    change of total counts that makes a trigger a sample change; align_max_frames: frame cap of
    each alignment; ignore_after_align: frames after an alignment whose trigger is not acted on
    (the first frame's change features compare with the frame before the correction)."""

    watch_frames: int = 40
    max_realignments: int = 3
    sample_change_rel: float = 0.05
    align_max_frames: int = 40
    ignore_after_align: int = 1


@dataclass
class WatchResult:
    """status: ``watched`` (frame budget spent, aligned), ``paused_sample_change``, ``gave_up``,
    or an alignment's status if one failed; triggers: every trigger (frame, t, score, kind);
    alignments: the alignment results (initial first); frames: all frames (alignment included)."""

    status: str
    triggers: list[dict[str, Any]] = field(default_factory=list)
    alignments: list[AlignmentResult] = field(default_factory=list)
    frames: int = 0
    message: str = ""


def _rtl_record(frame: Frame) -> dict | None:
    rec = (frame.meta or {}).get("rtl_trigger")
    return rec if isinstance(rec, dict) else None


async def keep_aligned(backend: MicroscopeBackend, make_policy: Callable[[], AlignmentPolicy], axes: list[str],
                       config: WatchConfig | None = None, trigger: Callable | None = None, recorder=None,
                       on_frame: Callable[[int, Frame], None] | None = None,
                       say: Callable[[str], None] | None = None) -> WatchResult:
    """Align, then watch (see the module docstring). ``backend`` must be connected.

    trigger: ``image -> (score, fired)`` for frames without an RTL record (default
    :class:`NumpyTrigger`, built on first need); recorder: anything with ``event(kind, message,
    t, **fields)`` (a :class:`~.record.RunRecorder`); on_frame(frame_number, frame): called for
    every watch frame before the trigger sees it (displays; tests inject drift there)."""
    cfg = config or WatchConfig()
    tell = say or (lambda msg: None)
    out = WatchResult(status="watched")

    def event(event_kind: str, message: str, **fields) -> None:
        tell(message)
        if recorder is not None:
            recorder.event(event_kind, message, time.time(), **fields)

    async def align(why: str) -> bool:
        way_back = WayBack(backend, say=tell)
        try:
            async with way_back:  # an error or a signal mid-alignment: knobs back to this alignment's start
                res = await run_alignment(backend, make_policy(), axes, max_frames=cfg.align_max_frames)
        except BaseException:
            try:  # after the restore; a failing record (full disk) must not hide the original exception
                event("interrupted", f"{why} interrupted at frame {out.frames}: knobs "
                      + ("restored to the alignment's start, read back" if way_back.restored
                         else "NOT confirmed restored"), restored=way_back.restored, frame=out.frames)
            except Exception:  # noqa: BLE001
                pass
            raise
        out.alignments.append(res)
        out.frames += res.frames
        event("alignment", f"{why}: {res.status} in {res.frames} frames", status=str(res.status),
              frames=res.frames, final=res.final, frame=out.frames)
        if res.status not in ("converged", "finished"):
            out.status, out.message = str(res.status), f"{why} ended {res.status}: {res.message}"
            return False
        return True

    if not await align("initial alignment"):
        return out
    ref_t: list[float] = []
    quiet = cfg.ignore_after_align
    for _ in range(cfg.watch_frames):
        frame = await backend.acquire()
        n = out.frames
        out.frames += 1
        if on_frame is not None:
            on_frame(n, frame)
        rec = _rtl_record(frame)
        if rec is not None:
            score, fired, source = int(rec["score"]), bool(rec["trigger"]), "rtl"
        else:
            if trigger is None:
                trigger = NumpyTrigger()
            score, fired = trigger(frame.image)
            source = "numpy"
        total = float(np.sum(frame.image))
        if quiet > 0:
            quiet -= 1
            ref_t.append(total)
            continue
        if not fired:
            ref_t.append(total)
            continue
        t_ref = float(np.median(ref_t)) if ref_t else total
        rel = total / t_ref - 1.0 if t_ref > 0 else 0.0
        kind = "sample_change" if abs(rel) > cfg.sample_change_rel else "drift"
        trig = {"frame": n, "t": time.time(), "score": score, "kind": kind, "source": source,
                "total_counts_change": rel}
        out.triggers.append(trig)
        event("trigger", f"trigger at frame {n} ({source}, score {score}): {kind.replace('_', ' ')}",
              trigger_kind=kind, **{k: v for k, v in trig.items() if k not in ("t", "kind")})
        if kind == "sample_change":
            out.status = "paused_sample_change"
            out.message = (f"sample change at frame {n} (total counts {rel:+.1%}): paused; re-centre the area "
                           "and resume (beamloop keep again)")
            event("paused", out.message, frame=n)
            return out
        if len(out.alignments) - 1 >= cfg.max_realignments:
            out.status, out.message = "gave_up", f"drift trigger at frame {n} after {cfg.max_realignments} re-alignments"
            event("gave_up", out.message, frame=n)
            return out
        if not await align(f"re-alignment after the drift trigger at frame {n}"):
            return out
        ref_t, quiet = [], cfg.ignore_after_align
    out.message = f"watched {cfg.watch_frames} frames: {len(out.triggers)} triggers, {len(out.alignments) - 1} re-alignments"
    event("watch_end", out.message, frames=out.frames)
    return out


def summary(res: WatchResult) -> dict[str, Any]:
    """JSON-able summary of a watch."""
    return {"status": res.status, "message": res.message, "frames": res.frames, "triggers": res.triggers,
            "alignments": [{"status": str(a.status), "frames": a.frames, "final": a.final} for a in res.alignments]}


def dumps(res: WatchResult) -> str:
    return json.dumps(summary(res), default=float)


def run_keep(instrument: str, axes: list[str], policy: str = "nn", config: WatchConfig | None = None,
             record: str | Path | None = None, seed: int = 0, estimator: str = "integer",
             say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``beamloop keep``: open ``instrument`` (profile name or path), align ``axes`` with ``policy``
    and watch (:func:`keep_aligned`); with ``record``, a NeXus run record holding every event
    (``/entry/log/events``: alignments, triggers with frame number and time, the pause).
    Runs under :func:`~.way_back.run_guarded`: the first SIGINT/SIGTERM cancels the run (the current
    alignment's knobs are restored), later ones are ignored; then :class:`~.way_back.Interrupted`."""
    from beamloop.controller.instruments.open import open_instrument
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.instrument_options import policy_options_for

    cfg = config or WatchConfig()
    opened = open_instrument(instrument, seed=seed)
    opts = policy_options_for(opened.profile, policy, axes, cfg.align_max_frames, estimator=estimator)

    async def run():
        rec = None
        await opened.backend.connect()
        try:
            if record is not None:
                from beamloop.controller.run.record import RunRecorder

                rec = RunRecorder(record, axes, {"mode": "keep", "instrument": opened.profile.name, "policy": policy,
                                                 "estimator": estimator, "axes": axes, **cfg.__dict__},
                                  knobs=await opened.backend.knobs())
            res = await keep_aligned(opened.backend, lambda: make_policy(policy, seed=seed, **opts), axes, cfg,
                                     recorder=rec, say=say)
            return {"instrument": opened.profile.name, "policy": policy, "estimator": estimator, **summary(res),
                    "record": str(record) if record is not None else None}
        finally:
            if rec is not None:
                rec.close()
            await opened.backend.close()

    from beamloop.controller.run.way_back import run_guarded

    try:
        return run_guarded(run, say=say or print)
    finally:
        opened.close()
