"""The alignment loop: backend + policy + record + progress callbacks (asyncio).

One loop serves the main job (``beamloop align``, twin over ZeroMQ or a real column) and the
benchmark (``beamloop bench align``, in-process twin): only the backend differs.

Safety rules it enforces:

* every proposed value is checked against the knob's limits *before* it is sent; a value
  outside is refused with :class:`KnobLimitError` (the run stops and restores the start),
  never clipped;
* a lost connection (:class:`ConnectionLostError`) pauses the run and says so (``paused``
  event); it retries the same command every ``retry_s`` for up to ``max_pause_s`` (a ``set``
  carries absolute values, so repeating it is safe, and its reply confirms the state) and then
  continues (``resumed`` event). If the link does not come back the run ends with status
  ``"connection_lost"`` and reports the last setting the instrument *confirmed*;
* on abort (Ctrl-C / task cancellation / ``abort`` event) or any error, the knobs being
  aligned are set back to their starting values and read back to confirm it -- *before*
  anything is logged or written (a full disk must not skip the restore; record failures
  during the restore are swallowed and reported afterwards);
* every frame is checked at the door (:func:`~beamloop.controller.estimation.frame_check.check_frame`:
  2-D, numeric, finite, not saturated, the shape of the first frame) and its header's knob
  state is compared with what the loop commanded: a frame taken at another setting (someone
  else moved a knob) is refused and recorded (``state_mismatch``), the setting is sent again
  and the frame re-taken once; a second mismatch ends the run (``ERROR``, start restored);
* at the end the instrument is left at the policy's result, read back and recorded.

Units: knob values SI (metres), times in seconds (``time.time()`` wall clock).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from beamloop.controller.core.backend import (
    ConnectionLostError,
    Frame,
    KnobInfo,
    KnobLimitError,
    MicroscopeBackend,
    UnknownKnobError,
)
from beamloop.controller.core.backend import BackendError
from beamloop.controller.estimation.frame_check import FrameRejected, check_frame
from beamloop.controller.policies.base import AlignmentPolicy, RunStatus, StepReport

STATE_TOL_M = 1e-11   # a frame's reported knob value may differ from the commanded one by this (m) + 1e-6 relative


class StateMismatchError(BackendError):
    """A frame was taken at a knob setting other than the one commanded (twice in a row)."""


def state_mismatch(commanded: dict[str, float], frame: Frame, tol: float = STATE_TOL_M) -> dict[str, tuple]:
    """Knobs whose value in the frame header differs from ``commanded``: {knob: (commanded, in frame)}.
    A frame without a state for a knob is not judged on that knob (an instrument may not report it)."""
    out = {}
    for k, v in commanded.items():
        got = frame.state.get(k)
        if got is not None and not abs(float(got) - v) <= tol + 1e-6 * abs(v):
            out[k] = (v, float(got))
    return out


class Recorder(Protocol):
    """What the loop tells a run record (see :class:`beamloop.controller.run.record.RunRecorder`)."""

    def command(self, kind: str, request: Any, reply: Any, t_sent: float, t_reply: float, error: str | None) -> None: ...
    def frame(self, step: int, setting: dict[str, float], frame: Frame, t_host: float) -> None: ...
    def step(self, step: int, setting: dict[str, float], report: StepReport, t: float) -> None: ...
    def event(self, kind: str, message: str, t: float | None = None, **fields: Any) -> None: ...
    def result(self, result: "AlignmentResult") -> None: ...


@dataclass
class LoopEvent:
    """A progress event for displays: kind is one of ``start``, ``step``, ``paused``,
    ``resumed``, ``restoring``, ``done``; step/setting/report are filled for ``step``."""

    kind: str
    message: str = ""
    step: int = 0
    setting: dict[str, float] | None = None
    report: StepReport | None = None
    frames: int = 0
    t: float = field(default_factory=time.time)


@dataclass
class AlignmentResult:
    """Outcome of one run.

    status: a :class:`RunStatus`: ``CONVERGED`` (the policy set ``converged``: its convergence
    test passed), ``FINISHED`` (it stopped without, e.g. frame budget spent: the instrument is at
    its best setting), ``ABORTED`` (user), ``REFUSED`` (a command beyond a knob limit),
    ``CONNECTION_LOST``, ``ERROR``; start/final: knob values (SI) of the aligned
    axes before and after (final is what the instrument read back, or its last confirmed
    setting); frames: frames acquired; elapsed_s: wall time; restored: start values were put
    back (after abort or error); message: why it ended.
    """

    status: RunStatus
    axes: list[str]
    start: dict[str, float]
    final: dict[str, float]
    frames: int
    elapsed_s: float
    restored: bool = False
    message: str = ""
    costs: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    converged: bool = False


class AlignmentAborted(Exception):
    """Raised inside the loop when the abort event is set."""


class _Link:
    """Wraps backend calls: records each command and reply; pauses on a lost connection."""

    def __init__(self, backend, recorder, notify, retry_s, max_pause_s, abort):
        self.backend, self.recorder, self.notify = backend, recorder, notify
        self.retry_s, self.max_pause_s, self.abort = retry_s, max_pause_s, abort
        self.confirmed: dict[str, float] = {}  # last knob values the instrument reported
        self.restoring = False                 # record failures are swallowed while restoring
        self.record_errors: list[str] = []

    def _check_abort(self):
        if self.abort is not None and self.abort.is_set():
            raise AlignmentAborted("abort requested")

    async def call(self, kind: str, request: Any, make: Callable[[], Awaitable[Any]], resend: bool = True):
        """Run ``make()`` (a backend call); on ConnectionLostError pause and retry."""
        paused_since = None
        while True:
            self._check_abort()
            t0 = time.time()
            try:
                reply = await make()
            except ConnectionLostError as exc:
                t1 = time.time()
                self._record(kind, request, None, t0, t1, f"ConnectionLostError: {exc}")
                if paused_since is None:
                    paused_since = t1
                    msg = f"connection lost during {kind!r}: {exc}; run paused, retrying"
                    self._event("paused", msg, during=kind, error=str(exc))
                    self.notify(LoopEvent("paused", msg))
                if not resend or t1 - paused_since > self.max_pause_s:
                    raise
                await asyncio.sleep(self.retry_s)
                continue
            except Exception as exc:
                self._record(kind, request, None, t0, time.time(), f"{type(exc).__name__}: {exc}")
                raise
            self._record(kind, request, _summary(reply), t0, time.time(), None)
            if paused_since is not None:
                msg = f"connection back after {time.time() - paused_since:.1f} s; resuming"
                self._event("resumed", msg, during=kind, paused_s=time.time() - paused_since)
                self.notify(LoopEvent("resumed", msg))
            if kind in ("get", "set") and isinstance(reply, dict):
                self.confirmed.update({k: float(v) for k, v in reply.items()})
            return reply

    def _event(self, kind: str, message: str, **fields) -> None:
        """Pause/resume into the record (``recorder.event``); a failing record never stops the run."""
        if self.recorder is not None:
            try:
                self.recorder.event(kind, message, time.time(), **fields)
            except Exception as exc:  # noqa: BLE001
                self.record_errors.append(f"event {kind}: {type(exc).__name__}: {exc}")

    def _record(self, kind, request, reply, t0, t1, error):
        if self.recorder is not None:
            if not self.restoring:
                self.recorder.command(kind, request, reply, t0, t1, error)
                return
            try:
                self.recorder.command(kind, request, reply, t0, t1, error)
            except Exception as exc:  # noqa: BLE001 - never let the record stop the way back
                self.record_errors.append(f"{type(exc).__name__}: {exc}")


def _summary(reply: Any) -> Any:
    if isinstance(reply, Frame):
        return {"seq": reply.seq, "t_acquired": reply.t_acquired, "shape": list(reply.image.shape)}
    if isinstance(reply, dict):
        return {k: (v.__dict__ if isinstance(v, KnobInfo) else v) for k, v in reply.items()}
    return reply


def _fmt(values: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v * 1e9:.1f} nm" for k, v in values.items()) + "}"


def check_setting(setting: dict[str, float], knobs: dict[str, KnobInfo], axes: list[str]) -> None:
    """Refuse (raise) a proposed setting that names a knob outside ``axes`` or lies beyond a limit."""
    for name, value in setting.items():
        if name not in axes:
            raise UnknownKnobError(f"setting: policy proposed knob {name!r}, which is not among the axes {axes}")
        knobs[name].check(float(value))


async def run_alignment(
    backend: MicroscopeBackend,
    policy: AlignmentPolicy,
    axes: list[str],
    *,
    recorder: Recorder | None = None,
    on_event: Callable[[LoopEvent], None] | None = None,
    abort: asyncio.Event | None = None,
    max_frames: int = 200,
    retry_s: float = 0.5,
    max_pause_s: float = 30.0,
    offload_policy: bool = True,
) -> AlignmentResult:
    """Align ``axes`` of the instrument behind ``backend`` with ``policy``.

    max_frames: hard cap on frames whatever the policy says; retry_s/max_pause_s: how a lost
    connection is waited for; offload_policy: run the policy's (CPU-bound) propose/observe in a
    worker thread so the event loop (displays, heartbeats) stays responsive. Cancelling the task
    (Ctrl-C under ``asyncio.run``) restores the start and re-raises ``CancelledError``.
    """
    t_start = time.time()
    notify = on_event or (lambda ev: None)

    def log(kind: str, message: str, **kw) -> None:
        if recorder is not None:
            recorder.event(kind, message, time.time())
        notify(LoopEvent(kind, message, **kw))

    def log_after_restore(kind: str, message: str) -> None:
        """After a restore: tell the display first, then try the record (it may fail: full disk)."""
        notify(LoopEvent(kind, message))
        if recorder is not None:
            try:
                recorder.event(kind, message, time.time())
            except Exception as exc:  # noqa: BLE001
                link.record_errors.append(f"{type(exc).__name__}: {exc}")
                notify(LoopEvent("record_failed", f"could not record {kind!r}: {type(exc).__name__}: {exc}"))

    async def take_frame(commanded: dict[str, float]) -> Frame:
        """acquire + door checks + state check (one re-set and re-take on a mismatch)."""
        nonlocal expected_shape
        for attempt in (1, 2):
            frame = await link.call("acquire", None, backend.acquire)
            try:
                check_frame(frame.image, expected_shape=expected_shape)
            except FrameRejected as exc:
                log("frame_rejected", f"frame seq {frame.seq} refused: {exc}")
                raise
            expected_shape = expected_shape or tuple(frame.image.shape)
            bad = state_mismatch(commanded, frame)
            if not bad:
                return frame
            log("state_mismatch", f"frame seq {frame.seq} was taken at {bad} (commanded, in frame); refused"
                + ("; setting sent again" if attempt == 1 else ""))
            if attempt == 1:
                await link.call("set", dict(commanded), lambda c=dict(commanded): backend.set(c))
        raise StateMismatchError(f"frames taken at a knob setting other than commanded twice in a row: {bad}; "
                                 "another client may be moving the knobs")

    link = _Link(backend, recorder, notify, retry_s, max_pause_s, abort)
    knobs = await link.call("knobs", None, backend.knobs)
    unknown = [a for a in axes if a not in knobs]
    if unknown:
        raise UnknownKnobError(f"axes: the instrument has no knob(s) {unknown}; it has {sorted(knobs)}")
    start_all = await link.call("get", None, backend.get)
    start = {a: float(start_all[a]) for a in axes}
    log("start", f"aligning {axes} from {_fmt(start)}")

    async def policy_call(fn, *args):
        return await asyncio.to_thread(fn, *args) if offload_policy else fn(*args)

    frames = 0
    expected_shape: tuple | None = None
    costs: list[float] = []
    last_setting = dict(start)
    status, message, restored = RunStatus.FINISHED, "", False
    try:
        policy.reset({a: knobs[a] for a in axes}, dict(start), list(axes))
        while frames < max_frames:
            setting = await policy_call(policy.propose)
            if setting is None:
                break
            check_setting(setting, knobs, axes)  # refuse, never clip
            for way in policy.approach(dict(setting)):  # optional waypoints (approach side), checked too
                check_setting(way, knobs, axes)
                await link.call("set", dict(way), lambda w=dict(way): backend.set(w))
            applied = await link.call("set", dict(setting), lambda s=dict(setting): backend.set(s))
            last_setting = {a: float(applied.get(a, setting[a])) for a in setting}
            frame = await take_frame(last_setting)
            frames += 1
            t_host = time.time()
            if recorder is not None:
                recorder.frame(frames, last_setting, frame, t_host)
            full = {**start, **{a: last_setting.get(a, start[a]) for a in axes}}
            report = await policy_call(policy.observe, full, frame)
            if report.cost is not None:
                costs.append(float(report.cost))
            if recorder is not None:
                recorder.step(frames, full, report, time.time())
            notify(LoopEvent("step", step=frames, setting=full, report=report, frames=frames))
        else:
            message = f"frame cap of {max_frames} reached"
        final_target = await policy_call(policy.result)
        check_setting(final_target, knobs, axes)
        # optional waypoints (approach direction against hysteresis), each checked like any command
        for way in policy.final_approach():
            check_setting(way, knobs, axes)
            await link.call("set", dict(way), lambda w=dict(way): backend.set(w))
        await link.call("set", dict(final_target), lambda: backend.set(dict(final_target)))
        final_all = await link.call("get", list(axes), lambda: backend.get(list(axes)))
        final = {a: float(final_all[a]) for a in axes}
        message = message or (policy.stop_reason or "policy finished")
        # the policy says whether its convergence test passed; a frame cap reached is never convergence
        status = RunStatus.CONVERGED if (policy.converged and policy.done) else RunStatus.FINISHED
        log("done", f"left at {_fmt(final)} after {frames} frames ({message})")
    except (asyncio.CancelledError, KeyboardInterrupt, AlignmentAborted) as exc:
        notify(LoopEvent("restoring", f"aborted ({type(exc).__name__}); restoring start values"))
        final, restored = await _restore(backend, start, recorder, link)   # before anything that can fail
        log_after_restore("restored" if restored else "restore_failed",
                          f"aborted ({type(exc).__name__}); start values {'restored' if restored else 'NOT confirmed'}: "
                          f"read back {_fmt(final)}")
        result = AlignmentResult(RunStatus.ABORTED, list(axes), start, final, frames, time.time() - t_start, restored,
                                 "aborted by user; start values restored" if restored else "aborted; RESTORE FAILED", costs)
        if recorder is not None:
            recorder.result(result)
        if isinstance(exc, AlignmentAborted):
            return result
        raise
    except KnobLimitError as exc:
        status, message = RunStatus.REFUSED, str(exc)
        final, restored = await _restore(backend, start, recorder, link)
        log_after_restore("refused", message)
    except ConnectionLostError as exc:
        status = RunStatus.CONNECTION_LOST
        final = {a: link.confirmed.get(a, last_setting.get(a, start[a])) for a in axes}
        message = (f"connection lost for more than {max_pause_s} s ({exc}); the instrument's last confirmed "
                   f"setting is {final}")
        log("connection_lost", message)
        restored = False
    except Exception as exc:
        status, message = RunStatus.ERROR, f"{type(exc).__name__}: {exc}"
        final, restored = await _restore(backend, start, recorder, link)
        log_after_restore("error", message)
    result = AlignmentResult(status, list(axes), start, final, frames, time.time() - t_start, restored, message,
                             costs, policy.stop_reason, policy.converged)
    if recorder is not None:
        recorder.result(result)
    return result


async def _restore(backend, start: dict[str, float], recorder, link: _Link) -> tuple[dict[str, float], bool]:
    """Put ``start`` back and read it back. Returns (values read back, success)."""
    link.abort = None  # a pending abort must not stop the restore itself
    link.restoring = True
    try:
        await asyncio.shield(link.call("set", dict(start), lambda: backend.set(dict(start))))
        now = await asyncio.shield(link.call("get", list(start), lambda: backend.get(list(start))))
        back = {a: float(now[a]) for a in start}
        ok = all(abs(back[a] - start[a]) <= 1e-6 * max(1e-9, abs(start[a])) + 1e-15 for a in start)
        return back, ok
    except Exception:  # noqa: BLE001 - reported by the caller (restored=False), never mask the original reason
        return {a: link.confirmed.get(a, float("nan")) for a in start}, False
    finally:
        link.restoring = False
