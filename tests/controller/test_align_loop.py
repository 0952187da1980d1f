"""The alignment loop's safety rules and record, on an in-memory backend."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from beamloop.controller.run.loop import run_alignment
from beamloop.controller.run.record import RunRecorder, read_run, write_report

from beamloop_testing.fakes import ScriptedPolicy

AXES = ["C10", "C12.x"]


def run(coro):
    return asyncio.run(coro)


def test_runs_script_and_leaves_result(fake_backend):
    pol = ScriptedPolicy([{"C10": 0.0, "C12.x": 0.0}, {"C10": 10e-9, "C12.x": 5e-9}])
    res = run(run_alignment(fake_backend, pol, AXES, offload_policy=False))
    assert res.status == "converged"
    assert res.frames == 2
    assert fake_backend.values == {"C10": 10e-9, "C12.x": 5e-9}
    assert res.final == {"C10": 10e-9, "C12.x": 5e-9}


def test_out_of_limit_proposal_is_refused_not_clipped(fake_backend):
    start = dict(fake_backend.values)
    pol = ScriptedPolicy([{"C10": 0.0, "C12.x": 0.0}, {"C10": 5e-6, "C12.x": 0.0}])
    res = run(run_alignment(fake_backend, pol, AXES, offload_policy=False))
    assert res.status == "refused"
    assert "C10" in res.message and "limits" in res.message
    # never sent, never clipped: no set ever carried a value beyond the limit or equal to it
    assert all(abs(s.get("C10", 0.0)) < 1e-6 for s in fake_backend.sets)
    assert res.restored and fake_backend.values == start


def test_policy_may_not_touch_other_knobs(fake_backend):
    start = dict(fake_backend.values)
    pol = ScriptedPolicy([{"C10": 0.0, "C12.x": 0.0}])
    res = run(run_alignment(fake_backend, pol, ["C10"], offload_policy=False))
    assert res.status == "error" and "C12.x" in res.message
    assert fake_backend.values == start


def test_abort_restores_start(fake_backend):
    start = dict(fake_backend.values)
    pol = ScriptedPolicy([{"C10": i * 1e-9, "C12.x": 0.0} for i in range(50)])

    async def main():
        abort = asyncio.Event()
        fake_backend.on_acquire = lambda b: abort.set() if b.seq == 3 else None
        return await run_alignment(fake_backend, pol, AXES, abort=abort, offload_policy=False)

    res = run(main())
    assert res.status == "aborted" and res.restored
    assert fake_backend.values == start
    assert res.frames == 3


def test_cancellation_restores_start_and_propagates(fake_backend):
    """What Ctrl-C does under asyncio.run: the task is cancelled mid-run."""
    start = dict(fake_backend.values)
    pol = ScriptedPolicy([{"C10": i * 1e-9, "C12.x": 0.0} for i in range(1000)])

    async def main():
        task = asyncio.create_task(run_alignment(fake_backend, pol, AXES, offload_policy=True))
        while fake_backend.seq < 5:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert fake_backend.values == start
    assert fake_backend.sets[-1] == start


def test_lost_link_pauses_then_resumes(fake_backend):
    events = []
    pol = ScriptedPolicy([{"C10": i * 1e-9, "C12.x": 0.0} for i in range(4)])
    fake_backend.on_acquire = lambda b: setattr(b, "drop", 3) if b.seq == 2 else None
    res = run(run_alignment(fake_backend, pol, AXES, on_event=events.append, retry_s=0.001, offload_policy=False))
    kinds = [e.kind for e in events]
    assert "paused" in kinds and "resumed" in kinds
    assert kinds.index("paused") < kinds.index("resumed")
    assert res.status == "converged" and res.frames == 4


def test_link_that_stays_down_reports_last_confirmed(fake_backend):
    pol = ScriptedPolicy([{"C10": i * 1e-9, "C12.x": 0.0} for i in range(4)])
    fake_backend.on_acquire = lambda b: setattr(b, "drop", 10**6) if b.seq == 2 else None
    res = run(run_alignment(fake_backend, pol, AXES, retry_s=0.001, max_pause_s=0.05, offload_policy=False))
    assert res.status == "connection_lost"
    assert res.final == {"C10": 1e-9, "C12.x": 0.0}  # the last setting the instrument confirmed
    assert "last confirmed" in res.message


def test_record_holds_everything(tmp_path, fake_backend):
    pol = ScriptedPolicy([{"C10": 0.0, "C12.x": 0.0}, {"C10": 10e-9, "C12.x": 5e-9}, {"C10": 20e-9, "C12.x": 0.0}])
    path = tmp_path / "run.h5"
    with RunRecorder(path, AXES, {"policy": "scripted", "stop_cost": None}, knobs=fake_backend.info) as rec:
        res = run(run_alignment(fake_backend, pol, AXES, recorder=rec, offload_policy=False))
    r = read_run(path)
    assert r["frames"]["images"].shape == (3, 32, 32)
    np.testing.assert_allclose(r["frames"]["setting"], [[0, 0], [10e-9, 5e-9], [20e-9, 0]])
    assert list(r["steps"]["cost"]) == [1.0, 2.0, 3.0]
    kinds = list(r["commands"]["kind"])
    assert kinds.count("acquire") == 3 and kinds[0] == "knobs" and kinds[-1] == "get"
    assert r["result"]["status"] == res.status == "converged"
    assert r["config"]["policy"] == "scripted"
    assert r["versions"]["numpy"] == np.__version__
    assert "C10" in r["knobs"]
    png = write_report(tmp_path / "run.png", r)
    assert png.stat().st_size > 10_000
