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
