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
  aligned are set back to their starting values and read back to confirm it;
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
from beamloop.controller.policies.base import AlignmentPolicy, RunStatus, StepReport


class Recorder(Protocol):
    """What the loop tells a run record (see :class:`beamloop.controller.run.record.RunRecorder`)."""

    def command(self, kind: str, request: Any, reply: Any, t_sent: float, t_reply: float, error: str | None) -> None: ...
    def frame(self, step: int, setting: dict[str, float], frame: Frame, t_host: float) -> None: ...
    def step(self, step: int, setting: dict[str, float], report: StepReport, t: float) -> None: ...
    def event(self, kind: str, message: str, t: float) -> None: ...
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
                    self.notify(LoopEvent("paused", f"connection lost during {kind!r}: {exc}; run paused, retrying"))
                if not resend or t1 - paused_since > self.max_pause_s:
                    raise
                await asyncio.sleep(self.retry_s)
                continue
            except Exception as exc:
                self._record(kind, request, None, t0, time.time(), f"{type(exc).__name__}: {exc}")
                raise
            self._record(kind, request, _summary(reply), t0, time.time(), None)
            if paused_since is not None:
                self.notify(LoopEvent("resumed", f"connection back after {time.time() - paused_since:.1f} s; resuming"))
            if kind in ("get", "set") and isinstance(reply, dict):
                self.confirmed.update({k: float(v) for k, v in reply.items()})
            return reply

    def _record(self, kind, request, reply, t0, t1, error):
        if self.recorder is not None:
            self.recorder.command(kind, request, reply, t0, t1, error)


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
            applied = await link.call("set", dict(setting), lambda s=dict(setting): backend.set(s))
            last_setting = {a: float(applied.get(a, setting[a])) for a in setting}
            frame = await link.call("acquire", None, backend.acquire)
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
        log("restoring", f"aborted ({type(exc).__name__}); restoring start values")
        final, restored = await _restore(backend, start, recorder, link)
        notify(LoopEvent("restored" if restored else "restore_failed",
                         f"start values {'restored' if restored else 'NOT confirmed'}: read back {_fmt(final)}"))
        result = AlignmentResult(RunStatus.ABORTED, list(axes), start, final, frames, time.time() - t_start, restored,
                                 "aborted by user; start values restored" if restored else "aborted; RESTORE FAILED", costs)
        if recorder is not None:
            recorder.result(result)
        if isinstance(exc, AlignmentAborted):
            return result
        raise
    except KnobLimitError as exc:
        status, message = RunStatus.REFUSED, str(exc)
        log("refused", message)
        final, restored = await _restore(backend, start, recorder, link)
    except ConnectionLostError as exc:
        status = RunStatus.CONNECTION_LOST
        final = {a: link.confirmed.get(a, last_setting.get(a, start[a])) for a in axes}
        message = (f"connection lost for more than {max_pause_s} s ({exc}); the instrument's last confirmed "
                   f"setting is {final}")
        log("connection_lost", message)
        restored = False
    except Exception as exc:
        status, message = RunStatus.ERROR, f"{type(exc).__name__}: {exc}"
        log("error", message)
        final, restored = await _restore(backend, start, recorder, link)
    result = AlignmentResult(status, list(axes), start, final, frames, time.time() - t_start, restored, message,
                             costs, policy.stop_reason, policy.converged)
    if recorder is not None:
        recorder.result(result)
    return result


async def _restore(backend, start: dict[str, float], recorder, link: _Link) -> tuple[dict[str, float], bool]:
    """Put ``start`` back and read it back. Returns (values read back, success)."""
    link.abort = None  # a pending abort must not stop the restore itself
    try:
        await asyncio.shield(link.call("set", dict(start), lambda: backend.set(dict(start))))
        now = await asyncio.shield(link.call("get", list(start), lambda: backend.get(list(start))))
        back = {a: float(now[a]) for a in start}
        ok = all(abs(back[a] - start[a]) <= 1e-6 * max(1e-9, abs(start[a])) + 1e-15 for a in start)
        if recorder is not None:
            recorder.event("restored" if ok else "restore_mismatch", f"read back {back}", time.time())
        return back, ok
    except Exception as exc:  # noqa: BLE001 - report, never mask the original reason
        if recorder is not None:
            recorder.event("restore_failed", f"{type(exc).__name__}: {exc}", time.time())
        return {a: link.confirmed.get(a, float("nan")) for a in start}, False
