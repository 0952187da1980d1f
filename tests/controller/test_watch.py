"""Watch mode (controller/run/watch.py) on the in-process twin: drift injected into the twin's hidden
aberrations -> the numpy trigger (the RTL's network, integer) fires -> re-alignment; a sample change
(transmitted intensity drops) -> pause, said and recorded; every trigger recorded with frame and time."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("torch")

AXES = ["C10", "C12.x", "C12.y"]


class Events:
    """A recorder double: keeps ``event`` calls."""

    def __init__(self):
        self.events = []

    def event(self, kind, message, t=None, **fields):
        self.events.append({"kind": kind, "message": message, "t": t, **fields})


def _watch(drift_at=None, drift_m=150e-9, dim_at=None, watch_frames=30, rtl_fire_at=None):
    from beamloop.controller.bench.align import SuccessCriterion
    from beamloop.controller.instruments.open import open_instrument
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.instrument_options import policy_options_for
    from beamloop.controller.run.watch import WatchConfig, keep_aligned

    inst = open_instrument("twin", seed=4)
    mic = inst.oracle.microscope
    rec = Events()

    def inject(n, frame):
        if n == drift_at:                 # a drift jump of C10: shows from the next frame on
            mic._offset[mic._ab_names.index("C10")] += drift_m
        if dim_at is not None and n >= dim_at:     # another sample area: 20 % less transmitted
            frame.image = frame.image * 0.8
        if rtl_fire_at is not None:       # an RTL trigger record, as the HIL composite attaches it
            frame.meta = {**frame.meta, "rtl_trigger": {"frame": n, "score": 9999 if n == rtl_fire_at else 0,
                                                        "trigger": n == rtl_fire_at}}

    async def run():
        await inst.backend.connect()
        try:
            inst.oracle.misalign({"C10": 100e-9, "C12.x": 30e-9})
            opts = policy_options_for(inst.profile, "nn", AXES, 40)
            return await keep_aligned(inst.backend, lambda: make_policy("nn", seed=1, **opts), AXES,
                                      WatchConfig(watch_frames=watch_frames), recorder=rec, on_frame=inject)
        finally:
            await inst.backend.close()

    t0 = time.time()
    try:
        res = asyncio.run(run())
        truth = inst.oracle.true_aberrations()
    finally:
        inst.close()
    return res, rec.events, SuccessCriterion(AXES).ok(truth), t0


def test_drift_trigger_realigns_and_every_trigger_is_recorded():
    res, events, aligned, t0 = _watch(drift_at=12)
    assert res.status == "watched", res.message
    drift = [t for t in res.triggers if t["frame"] == 13]
    assert drift and drift[0]["kind"] == "drift" and drift[0]["source"] == "numpy"
    assert len(res.alignments) >= 2 and all(a.status in ("converged", "finished") for a in res.alignments)
    assert aligned                                     # the re-alignment took the drift out
    recorded = [e for e in events if e["kind"] == "trigger"]
    assert [(e["frame"], e["score"], e["trigger_kind"]) for e in recorded] == [(t["frame"], t["score"], t["kind"])
                                                                               for t in res.triggers]
    assert all(t0 <= e["t"] <= time.time() for e in recorded)


def test_sample_change_pauses_and_says_so():
    res, events, _, _ = _watch(dim_at=8)
    assert res.status == "paused_sample_change"
    assert res.triggers[-1]["kind"] == "sample_change" and res.triggers[-1]["frame"] == 8
    assert "sample change at frame 8" in res.message and "paused" in res.message
    assert [e["kind"] for e in events][-2:] == ["trigger", "paused"]
    assert len(res.alignments) == 1                    # no re-alignment on a sample change


def test_rtl_trigger_records_are_listened_to():
    res, _, _, _ = _watch(rtl_fire_at=10, watch_frames=15)
    rtl = [t for t in res.triggers if t["source"] == "rtl"]
    assert [t["frame"] for t in rtl] == [10] and rtl[0]["kind"] == "drift"
    assert len(res.alignments) == 2


class CancelOnAcquire:
    """Delegates to a backend; when ``arm(k)`` was called, the k-th acquire after it cancels the running
    task, which is what the first Ctrl-C / SIGTERM does under ``run_guarded``."""

    def __init__(self, inner):
        self.inner, self.countdown, self.knobs_at_cancel = inner, None, None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def arm(self, k):
        self.countdown = k

    async def acquire(self):
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown == 0:
                self.knobs_at_cancel = await self.inner.get()
                asyncio.current_task().cancel()
        return await self.inner.acquire()


def _interrupted_watch(cancel_in_initial=None, cancel_after_trigger=None):
    from beamloop.controller.instruments.open import open_instrument
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.instrument_options import policy_options_for
    from beamloop.controller.run.watch import WatchConfig, keep_aligned

    inst = open_instrument("twin", seed=4)
    mic = inst.oracle.microscope
    backend = CancelOnAcquire(inst.backend)
    marks = {}

    class Rec(Events):
        def event(self, kind, message, t=None, **fields):
            super().event(kind, message, t, **fields)
            if kind == "trigger" and cancel_after_trigger is not None and "at_trigger" not in marks:
                marks["at_trigger"] = asyncio.get_event_loop().create_task(inst.backend.get())
                backend.arm(cancel_after_trigger)

    rec = Rec()

    def inject(n, frame):
        if n == 12:
            mic._offset[mic._ab_names.index("C10")] += 150e-9

    async def run():
        await inst.backend.connect()
        try:
            inst.oracle.misalign({"C10": 100e-9, "C12.x": 30e-9})
            start = await inst.backend.get()
            if cancel_in_initial is not None:
                backend.arm(cancel_in_initial)
            opts = policy_options_for(inst.profile, "nn", AXES, 40)
            try:
                await keep_aligned(backend, lambda: make_policy("nn", seed=1, **opts), AXES,
                                   WatchConfig(watch_frames=30), recorder=rec, on_frame=inject)
            except asyncio.CancelledError:
                at_trigger = await marks["at_trigger"] if "at_trigger" in marks else None
                return start, at_trigger, await inst.backend.get()
            raise AssertionError("the watch was not interrupted")
        finally:
            await inst.backend.close()

    try:
        start, at_trigger, after = asyncio.run(run())
    finally:
        inst.close()
    return start, at_trigger, after, backend.knobs_at_cancel, rec.events


def _moved(a, b):
    return max(abs(a[k] - b[k]) for k in AXES) > 1e-9


def _same(a, b):
    return all(abs(a[k] - b[k]) <= 1e-6 * abs(b[k]) + 1e-15 for k in a)


def test_ctrl_c_in_the_initial_alignment_puts_the_knobs_back_to_the_start():
    start, _, after, at_cancel, events = _interrupted_watch(cancel_in_initial=4)
    assert _moved(at_cancel, start)                    # the alignment had moved the knobs
    assert _same(after, start)                         # and the way back put every knob back
    stop = [e for e in events if e["kind"] == "interrupted"]
    assert len(stop) == 1 and stop[0]["restored"] is True


def test_ctrl_c_in_a_realignment_returns_to_the_aligned_setting_it_started_from():
    start, at_trigger, after, at_cancel, events = _interrupted_watch(cancel_after_trigger=4)
    assert at_trigger is not None and _moved(at_trigger, start)   # aligned, then the drift trigger
    assert _moved(at_cancel, at_trigger)               # the re-alignment had moved the knobs
    assert _same(after, at_trigger)                    # back to where that re-alignment started
    assert [e["kind"] for e in events][-1] == "interrupted" and events[-1]["restored"] is True


@pytest.mark.timeout(180)
def test_beamloop_keep_stops_on_two_ctrl_c_with_a_usage_exit_code():
    import selectors
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "beamloop.tools.cli", "keep", "--watch-frames", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline, out = time.monotonic() + 150, ""
        while "initial alignment:" not in out:      # aligned, now watching
            assert time.monotonic() < deadline and proc.poll() is None, out
            if sel.select(1.0):
                out += proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)               # a second Ctrl-C 50 ms later does not break the way out
        rest, _ = proc.communicate(timeout=30)
        out += rest
        assert proc.returncode == 130, out
        assert "aborted (stopped by SIGINT)" in out and "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
