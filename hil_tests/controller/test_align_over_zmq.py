"""The main job over real loopback sockets: embedded twin (ZeroMQ) + ZmqTwinBackend.

Whole-loop tests: the same `run_job` / `run_alignment` as `beamloop align`, against the twin
served by `start_embedded_twin`, including a twin that dies mid-run (the run pauses, says
so, and reports the last setting the instrument confirmed).
"""

from __future__ import annotations

import asyncio
import json
import warnings

import pytest

from beamloop.controller.bench.align import twin_ronchigram_options
from beamloop.controller.policies.registry import policy_options
from beamloop.controller.run.job import JobConfig, run_job
from beamloop.controller.run.loop import run_alignment
from beamloop.controller.policies.registry import make_policy
from beamloop.controller.run.record import read_run
from beamloop.controller.serve.twin_server import start_embedded_twin
from beamloop.controller.instruments.zmq_client import ZmqTwinBackend
from beamloop.sim.microscope import MicroscopeConfig

AXES = ["C10", "C12.x"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_job_over_sockets_records_and_leaves_final_setting(tmp_path):
    ctrl, data, stop = start_embedded_twin(MicroscopeConfig(ronchigram=twin_ronchigram_options()), seed=1, mode="thread")
    start = {"C10": 60e-9, "C12.x": -40e-9}

    async def main():
        backend = ZmqTwinBackend(ctrl, data)
        await backend.connect()
        try:
            cfg = JobConfig(axes=AXES, policy="bo", policy_options=policy_options("bo", AXES, max_frames=4), out_dir=tmp_path,
                            start_offsets=start, source="test twin")
            out = await run_job(backend, cfg)
            return out, await backend.get(AXES)
        finally:
            await backend.close()

    try:
        out, now = asyncio.run(main())
    finally:
        stop()
    r = read_run(out.record)
    # reference + the loop's frames (at most 4; BO's model stop rule may confirm earlier) + verification
    # (+ one more if the start had to be put back)
    assert 1 <= out.result.frames <= 4
    assert r["frames"]["images"].shape[0] == out.result.frames + 2 + int(out.reverted)
    assert json.loads(r["commands"]["request_json"][0]) == start or r["commands"]["kind"][0] == "set"
    final = json.loads(r["result"]["final_json"])
    assert now == pytest.approx(start if out.reverted else final)
    assert out.residual is not None and "C10" in out.residual


def test_twin_dying_mid_run_pauses_and_reports_last_confirmed_setting():
    ctrl, data, stop = start_embedded_twin(MicroscopeConfig(ronchigram=twin_ronchigram_options()), seed=2, mode="process")
    events = []

    def on_event(ev):
        events.append(ev)
        if ev.kind == "step" and ev.step == 2:
            stop.process.kill()  # the instrument goes away without a word

    async def main():
        backend = ZmqTwinBackend(ctrl, data, timeout_s=2.0, acquire_timeout_s=60.0, heartbeat_s=0)
        await backend.connect()
        await backend.set({"C10": 80e-9, "C12.x": -60e-9})   # misaligned: an aligned twin converges at frame 1
        try:
            pol = make_policy("bo", seed=0, **policy_options("bo", AXES, max_frames=10))
            return await run_alignment(backend, pol, AXES, on_event=on_event, retry_s=0.2, max_pause_s=3.0)
        finally:
            await backend.close()

    try:
        res = asyncio.run(main())
    finally:
        stop()
    kinds = [e.kind for e in events]
    assert kinds.count("step") == 2, kinds       # the kill came mid-run, not after convergence
    assert "paused" in kinds
    assert res.status == "connection_lost"
    assert res.frames == 2
    assert "last confirmed" in res.message
    assert set(res.final) == set(AXES) and all(v == v for v in res.final.values())  # finite, known
