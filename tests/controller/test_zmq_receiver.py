"""The client's data-channel receiver thread (controller/instruments/zmq_data.py): it ends on close,
leaks no thread, keeps matching frames to the request (and client) that asked for them while a
stream pours in, and steps aside for control round trips only for a bounded time."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from beamloop.controller.instruments import zmq_data
from beamloop.controller.instruments.zmq_client import ZmqTwinBackend
from beamloop.controller.serve.twin_server import TwinServer
from beamloop.sim.microscope import Microscope, MicroscopeConfig

SMALL = {"size_px": 32, "sample_patch_px": 512, "max_oversample": 4}
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server():
    srv = TwinServer(Microscope(MicroscopeConfig.deterministic(ronchigram=SMALL), seed=0),
                     "tcp://127.0.0.1:0", "tcp://127.0.0.1:0").start()
    yield srv
    srv.stop()


def receivers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "zmq-data-receiver" and t.is_alive()]


def test_receiver_thread_runs_while_connected_and_ends_on_close(server):
    before = len(receivers())

    async def run():
        for i in range(3):   # connect / close cycles leave nothing behind
            b = ZmqTwinBackend(server.control_addr, server.data_addr, heartbeat_s=0)
            await b.connect()
            rx = b._receiver
            assert rx is not None and rx.is_alive() and rx.daemon
            assert rx is not threading.current_thread()
            if i == 0:   # close while frames pour in (a 0.3 s stream)
                await b.start_stream(source="pattern", size_px=16, count=1500, rate_hz=5000.0)
                await asyncio.sleep(0.1)
                assert b.frames_received > 0
            t0 = time.perf_counter()
            await b.close()
            assert time.perf_counter() - t0 < 1.0
            assert not rx.is_alive() and b._receiver is None
            await asyncio.sleep(0.3)

    asyncio.run(run())
    deadline = time.monotonic() + 2
    while len(receivers()) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receivers()) == before


def test_acquire_frames_matched_to_their_request_and_client_under_a_stream(server):
    """Two clients acquire concurrently while a pattern stream runs: each gets its own frames,
    with its own request ids, taken at the state it set; none of the other's reach it."""

    async def run():
        a = ZmqTwinBackend(server.control_addr, server.data_addr, heartbeat_s=0)
        b = ZmqTwinBackend(server.control_addr, server.data_addr, heartbeat_s=0)
        await a.connect()
        await b.connect()
        try:
            await a.set({"C10": 2e-8})
            await a.start_stream(source="pattern", size_px=16, count=0, rate_hz=2000.0)
            ids: dict[str, list[int]] = {"a": [], "b": []}

            async def take(name, be, n):
                for _ in range(n):
                    f = await be.acquire()
                    assert f.state["C10"] == 2e-8 and f.meta["session"] == be.session
                    ids[name].append(f.meta["request_id"])

            await asyncio.gather(take("a", a, 8), take("b", b, 8))
            await a.stop_stream()
            for name in ids:
                assert len(set(ids[name])) == 8 and ids[name] == sorted(ids[name])
            assert a.wrong_client_frames == 0 and b.wrong_client_frames == 0
            assert a.frames_received > 8 and b.frames_received > 8   # stream frames reached both
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_receiver_steps_aside_for_control_only_briefly(server):
    """A control request that never ends (simulated) parks the receiver once, for at most
    PARK_MAX_S: the stream is still received in full."""

    async def run():
        async with ZmqTwinBackend(server.control_addr, server.data_addr, heartbeat_s=0) as b:
            b._control_begins()   # a request in flight that will not be answered
            try:
                b.reset_stats()
                await b.start_stream(source="pattern", size_px=16, count=400, rate_hz=4000.0)
                deadline = time.monotonic() + 10
                while b.frames_received < 400 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                assert b.frames_received == 400 and b.lost_frames == 0
                # one park per request sent (start_stream only), each bounded
                assert b.parked_s <= 2 * zmq_data.PARK_MAX_S + 0.01
            finally:
                b._control_ends()
            assert b._ctrl_idle.is_set()

    asyncio.run(run())


def test_receiver_start_failure_is_a_typed_error():
    async def run():
        b = ZmqTwinBackend("tcp://127.0.0.1:1", "not-an-endpoint", heartbeat_s=0)
        with pytest.raises(zmq_data.ReceiverError, match="not-an-endpoint"):
            await b.connect()

    asyncio.run(run())


def test_receiver_threads_run_nicer_than_the_process(server):
    """The receiver thread (and its context's I/O thread) yield the CPU to the control path."""
    import os

    base = os.getpriority(os.PRIO_PROCESS, 0)

    async def run():
        async with ZmqTwinBackend(server.control_addr, server.data_addr, heartbeat_s=0) as b:
            rx = b._receiver
            assert rx.niced >= 2   # itself and at least the I/O thread
            assert os.getpriority(os.PRIO_PROCESS, rx.native_id) == min(19, base + zmq_data.RECEIVER_NICE_DELTA)

    asyncio.run(run())


def test_publisher_raise_is_off_with_beamloop_no_rt(monkeypatch):
    from beamloop.controller.serve.data_publisher import raise_publisher_thread

    monkeypatch.setenv("BEAMLOOP_NO_RT", "1")
    out: list[bool] = []
    t = threading.Thread(target=lambda: out.append(raise_publisher_thread()))
    t.start()
    t.join(5)
    assert out == [False]
