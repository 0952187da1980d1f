"""Issue 14, failure 3: the way back. Two Ctrl-C 50 ms apart, SIGTERM, a failing record
(full disk) and an error must all leave the knobs at their start values, *read back*; the
instrument's dead-man restores them when the controller dies (kill -9)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from beamloop.controller.instruments.zmq_client import ZmqTwinBackend
from beamloop.controller.policies.base import AlignmentPolicy, StepReport
from beamloop.controller.run.loop import run_alignment
from beamloop.controller.run.way_back import Interrupted, WayBack, run_guarded

from .helpers import twin_server

pytestmark = pytest.mark.timeout(120)


class Wanderer(AlignmentPolicy):
    """Walks C10 away from the start, one 10 nm step per frame, forever."""

    name = "wanderer"

    def reset(self, knobs, start, axes):
        self.start, self.axes, self.k = dict(start), list(axes), 0

    def propose(self):
        self.k += 1
        return {"C10": self.start["C10"] + 10e-9 * self.k}

    def observe(self, setting, frame):
        time.sleep(0.01)
        return StepReport(cost=1.0)

    def result(self):
        return dict(self.start)


class FailingRecorder:
    """A record on a full disk: every write raises OSError(ENOSPC) after ``ok_writes``."""

    def __init__(self, ok_writes: int = 3):
        self.n, self.ok = 0, ok_writes
        self.faults = 0

    def _w(self):
        self.n += 1
        if self.n > self.ok:
            self.faults += 1
            raise OSError(28, "No space left on device")

    def command(self, *a):
        self._w()

    def frame(self, *a):
        self._w()

    def step(self, *a):
        self._w()

    def event(self, *a, **k):
        self._w()

    def result(self, *a):
        self._w()


async def _moved(srv, start, timeout=20.0):
    t0 = time.monotonic()
    while srv.microscope.get_knobs()["C10"] == start:
        assert time.monotonic() - t0 < timeout, "the run never moved C10"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("signals", [(signal.SIGINT, signal.SIGINT), (signal.SIGINT,) * 5, (signal.SIGTERM, signal.SIGINT)])
def test_repeated_signals_never_leave_c10_moved(signals, counts):
    srv = twin_server()
    try:
        srv.microscope.set_knobs({"C10": 37e-9})
        start = srv.microscope.get_knobs()
        said: list[str] = []

        async def main():
            b = ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0.2)
            await b.connect()
            th = None
            try:
                async with WayBack(b, say=said.append):
                    task = asyncio.create_task(run_alignment(b, Wanderer(), ["C10"], max_frames=10_000))
                    await _moved(srv, start["C10"])

                    def fire():  # the signals, 50 ms apart, from outside the loop like a user
                        for s in signals:
                            os.kill(os.getpid(), s)
                            time.sleep(0.05)
                    th = threading.Thread(target=fire, daemon=True)
                    th.start()
                    await task
            finally:
                if th is not None:  # every signal delivered while the handlers are still ours
                    await asyncio.to_thread(th.join)
                await b.close()

        with pytest.raises(Interrupted):
            run_guarded(main, say=said.append)
        assert srv.microscope.get_knobs() == start            # read back from the instrument itself
        assert any("restored" in m and "read back" in m for m in said), said
        assert sum("ignored" in m for m in said) == len(signals) - 1
        counts["faults_injected"] += len(signals)
        counts["restores_verified_by_readback"] += 1
    finally:
        srv.stop()


def test_full_disk_does_not_skip_the_restore(counts):
    """Every record write fails (ENOSPC) once the run is going: the restore still happens first."""
    srv = twin_server()
    try:
        start = srv.microscope.get_knobs()
        rec = FailingRecorder(ok_writes=6)

        async def main():
            async with ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0) as b:
                return await run_alignment(b, Wanderer(), ["C10"], recorder=rec, max_frames=50)

        with pytest.raises(OSError):   # the run ends with the record's error, after the restore
            asyncio.run(main())
        assert srv.microscope.get_knobs() == start
        assert rec.faults >= 1
        counts["faults_injected"] += rec.faults
        counts["restores_verified_by_readback"] += 1
    finally:
        srv.stop()


def test_error_mid_run_restores_and_reads_back(counts):
    srv = twin_server()

    class Broken(Wanderer):
        def observe(self, setting, frame):
            if self.k >= 3:
                raise RuntimeError("estimator exploded")
            return StepReport(cost=1.0)

    try:
        start = srv.microscope.get_knobs()

        async def main():
            async with ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0) as b:
                return await run_alignment(b, Broken(), ["C10"], max_frames=50)

        res = asyncio.run(main())
        assert res.status.name == "ERROR" and res.restored and res.final["C10"] == start["C10"]
        assert srv.microscope.get_knobs() == start
        counts["faults_injected"] += 1
        counts["restores_verified_by_readback"] += 1
    finally:
        srv.stop()
