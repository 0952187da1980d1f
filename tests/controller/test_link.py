"""The two-channel link with real sockets on loopback: twin server, ZeroMQ backend, bad input,
a killed twin, out-of-limit commands. Every wait is bounded."""

from __future__ import annotations

import asyncio
import socket
import time

import msgpack
import numpy as np
import pytest
import zmq
import zmq.asyncio

from beamloop.controller.protocol import messages as P
from beamloop.controller.core.backend import ConnectionLostError, KnobLimitError, UnknownKnobError
from beamloop.controller.instruments.local_twin import LocalTwinBackend
from beamloop.controller.serve.twin_server import TwinServer, start_embedded_twin
from beamloop.controller.instruments.zmq_client import RemoteError, ZmqTwinBackend
from beamloop.sim.microscope import Microscope, MicroscopeConfig

SMALL = {"size_px": 32, "sample_patch_px": 512, "max_oversample": 4}
pytestmark = pytest.mark.timeout(120)


def cfg(**kw) -> MicroscopeConfig:
    return MicroscopeConfig.deterministic(ronchigram=SMALL, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    srv = TwinServer(Microscope(cfg(), seed=0), "tcp://127.0.0.1:0", "tcp://127.0.0.1:0").start()
    yield srv
    srv.stop()


def raw_request(addr: str, parts: list[bytes], timeout_ms: int = 3000) -> list[bytes]:
    """Send raw parts from a DEALER and return the raw reply parts."""
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.RCVTIMEO = timeout_ms
    s.connect(addr)
    try:
        s.send_multipart(parts)
        return s.recv_multipart()
    finally:
        s.close()


def req_bytes(**over) -> bytes:
    obj = {"v": P.PROTOCOL_VERSION, "kind": "req", "id": 11, "cmd": "heartbeat", "args": {}, "t": 0.0}
    obj.update(over)
    return msgpack.packb(obj, use_bin_type=True)


@pytest.mark.parametrize(
    "parts, code, rid",
    [
        ([b"\xc1garbage"], P.BAD_MESSAGE, None),
        ([req_bytes()[:-4]], P.BAD_MESSAGE, None),                         # truncated body
        ([req_bytes(), req_bytes()], P.BAD_MESSAGE, None),                  # two body parts
        ([b""], P.BAD_MESSAGE, None),                                       # REQ-style envelope, no body
        ([req_bytes(v=99)], P.VERSION_MISMATCH, 11),
        ([req_bytes(cmd="launch")], P.UNKNOWN_COMMAND, 11),
        ([req_bytes(cmd="set", args={"values": {"C10": "far"}})], P.BAD_ARGUMENT, 11),
        ([req_bytes(cmd="set", args={})], P.BAD_ARGUMENT, 11),
        ([req_bytes(cmd="get", args={"names": "C10"})], P.BAD_ARGUMENT, 11),
        ([req_bytes(cmd="stream", args={"rate_hz": -1.0})], P.BAD_ARGUMENT, 11),
    ],
)
def test_malformed_requests_get_typed_errors_and_server_survives(server, parts, code, rid):
    reply = raw_request(server.control_addr, parts)
    rep = P.decode_reply(reply[-1])
    assert not rep.ok and rep.error["code"] == code and rep.id == rid
    assert rep.error["message"]
    ok = P.decode_reply(raw_request(server.control_addr, [req_bytes(id=12)])[-1])  # still serving
    assert ok.ok and ok.id == 12 and ok.result["session"] == server.session


def test_req_socket_envelope_works(server):
    s = zmq.Context.instance().socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.RCVTIMEO = 3000
    s.connect(server.control_addr)
    s.send(req_bytes(cmd="get", id=5))
    rep = P.decode_reply(s.recv())
    s.close()
    assert rep.ok and rep.id == 5 and set(rep.result["values"]) == set(server.microscope.knob_specs())


def test_out_of_limit_set_refused_by_server_nothing_applied(server):
    parts = [req_bytes(cmd="set", args={"values": {"C12.x": 1e-8, "C10": 5e-6}})]
    rep = P.decode_reply(raw_request(server.control_addr, parts)[-1])
    assert rep.error["code"] == P.KNOB_LIMIT
    assert rep.error["details"]["knob"] == "C10" and rep.error["details"]["maximum"] == pytest.approx(2e-6)
    assert server.microscope.get_knobs()["C12.x"] == 0.0
    rep = P.decode_reply(raw_request(server.control_addr, [req_bytes(cmd="set", args={"values": {"C99": 0.0}})])[-1])
    assert rep.error["code"] == P.UNKNOWN_KNOB
    rep = P.decode_reply(raw_request(server.control_addr, [req_bytes(cmd="set", args={"values": {"C21.y": float("nan")}})])[-1])
    assert rep.error["code"] == P.KNOB_LIMIT and rep.error["details"]["knob"] == "C21.y"
    assert server.microscope.get_knobs() == {k: 0.0 for k in server.microscope.knob_specs()}


def test_backend_round_trip_acquire_and_limits(server):
    async def run():
        b = ZmqTwinBackend(server.control_addr, server.data_addr, timeout_s=2.0, heartbeat_s=0.1)
        await b.connect()
        try:
            knobs = await b.knobs()
            assert knobs["C10"].maximum == pytest.approx(2e-6) and knobs["C10"].unit == "m"
            applied = await b.set({"C10": 2e-8, "C12.y": -1e-8})
            assert applied["C10"] == 2e-8 and applied["C12.y"] == -1e-8
            assert await b.get(["C10"]) == {"C10": 2e-8}
            with pytest.raises(KnobLimitError) as ei:
                await b.set({"C21.x": 2e-6, "C10": float("nan")})
            assert ei.value.knob == "C10"
            with pytest.raises(UnknownKnobError):
                await b.set({"defocus": 0.0})
            assert (await b.get())["C21.x"] == 0.0  # nothing applied
            f1 = await b.acquire()
            f2 = await b.acquire()
            assert f1.image.shape == (32, 32) and f1.image.dtype == np.uint16
            assert f2.seq == f1.seq + 1 and f1.state["C10"] == 2e-8
            assert f1.meta["true_aberrations"]["C10"] != 0 and f1.meta["source"] == "twin"
            await asyncio.sleep(0.35)
            assert b.connected and b.last_rtt_s is not None and b.last_rtt_s < 1.0  # heartbeat task ran
            st = await b.state()
            assert st["knobs"]["C10"] == 2e-8 and st["next_seq"] == f2.seq + 1
            with pytest.raises(RemoteError) as ei:
                await b.start_stream(source="camera")
            assert ei.value.code == P.BAD_ARGUMENT
        finally:
            await b.close()

    asyncio.run(run())


def test_refusal_happens_client_side_too():
    """A backend that knows the limits never even sends an out-of-limit set."""
    srv = TwinServer(Microscope(cfg(), seed=0), "tcp://127.0.0.1:0", "tcp://127.0.0.1:0").start()
    sent = []
    orig = srv._check_set
    srv._check_set = lambda req: (sent.append(req.cmd), orig(req))[1]

    async def run():
        async with ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0) as b:
            with pytest.raises(KnobLimitError):
                await b.set({"C12.x": -1.5e-6})

    try:
        asyncio.run(run())
    finally:
        srv.stop()
    assert "set" not in sent


def test_malformed_data_frames_are_counted_not_fatal(server):
    """A rogue publisher sends bad frames on the data channel: each is dropped and counted."""
    ctx = zmq.Context.instance()
    rogue = ctx.socket(zmq.PUB)
    rogue.setsockopt(zmq.LINGER, 0)
    port = rogue.bind_to_random_port("tcp://127.0.0.1")
    good = P.FrameHeader(0, 0.0, time.time(), "uint16", (4, 4), {}, None, "rogue", {})
    img = np.zeros((4, 4), np.uint16)
    hdr = P.encode_frame_header(good)
    bad = [
        [b"S", b"\xc1 not msgpack", bytes(32)],
        [b"S", hdr, bytes(30)],                                              # truncated buffer
        [b"S", hdr],                                                         # missing buffer part
        [b"S", msgpack.packb({**msgpack.unpackb(hdr), "v": 7}), bytes(32)],  # wrong version
        [b"S", msgpack.packb({**msgpack.unpackb(hdr), "dtype": "object"}), bytes(32)],
    ]

    async def run():
        b = ZmqTwinBackend(server.control_addr, f"tcp://127.0.0.1:{port}", heartbeat_s=0)
        await b.connect()
        try:
            deadline = time.monotonic() + 10
            while b.frames_received == 0 and time.monotonic() < deadline:  # wait for the subscription
                rogue.send_multipart(P.frame_message(good, img))
                await asyncio.sleep(0.05)
            assert b.frames_received >= 1
            n0, bad0 = b.frames_received, b.bad_messages
            for parts in bad:
                rogue.send_multipart(parts)
            good.seq = 1000
            rogue.send_multipart(P.frame_message(good, img))
            while b.frames_received == n0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert b.bad_messages - bad0 == len(bad)
            assert b.frames_received == n0 + 1
            assert b.lost_frames >= 1000 - 1 - n0  # the sequence gap is reported as loss
            assert "BAD_MESSAGE" in b.last_bad_message or "VERSION" in b.last_bad_message
            assert (await b.get(["C10"])) == {"C10": 0.0}  # control unaffected
        finally:
            await b.close()

    try:
        asyncio.run(run())
    finally:
        rogue.close()


def test_stream_pattern_frames_in_order(server):
    async def run():
        async with ZmqTwinBackend(server.control_addr, server.data_addr, heartbeat_s=0) as b:
            got = []

            async def consume(n):
                async for f in b.frames():
                    got.append(f)
                    if len(got) == n:
                        return

            task = asyncio.create_task(consume(50))
            await asyncio.sleep(0.05)
            await b.start_stream(source="pattern", size_px=16, count=50, rate_hz=2000.0)
            await asyncio.wait_for(task, 10)
            seqs = [f.seq for f in got]
            assert seqs == list(range(seqs[0], seqs[0] + 50)) and b.lost_frames == 0
            assert got[0].image.shape == (16, 16) and got[0].meta["source"] == "pattern"
            # a twin stream reflects the current state
            await b.set({"C10": 1e-8})
            got.clear()
            task = asyncio.create_task(consume(2))  # subscribe before the stream starts
            await asyncio.sleep(0.05)
            await b.start_stream(source="twin", count=2, rate_hz=200.0)
            await asyncio.wait_for(task, 30)
            assert len(got) == 2 and all(f.state["C10"] == 1e-8 for f in got)

    asyncio.run(run())


def test_unreachable_instrument_raises_connection_lost():
    port = free_port()

    async def run():
        b = ZmqTwinBackend(f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{free_port()}", timeout_s=0.3, heartbeat_s=0)
        t0 = time.monotonic()
        with pytest.raises(ConnectionLostError, match="did not answer"):
            await b.connect()
        assert time.monotonic() - t0 < 2.0
        await b.close()

    asyncio.run(run())


def test_killed_twin_then_reconnect():
    """Kill the twin process mid-run: ConnectionLostError; restart it: the same backend carries on."""
    ctrl, data = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    c, d, stop = start_embedded_twin(cfg(), mode="process", control_addr=ctrl, data_addr=data)
    stop2 = None
    events = []

    async def run():
        nonlocal stop2
        b = ZmqTwinBackend(c, d, timeout_s=1.5, heartbeat_s=0.1)
        b.on_state_change = lambda up, why: events.append(up)
        await b.connect()
        try:
            await b.set({"C10": 5e-8})
            f = await b.acquire()
            session1 = b.session
            stop.process.kill()                          # crash, no goodbye
            stop.process.wait(5)
            with pytest.raises(ConnectionLostError):
                await b.get()
            with pytest.raises(ConnectionLostError):
                await b.acquire()
            assert not b.connected
            _, _, stop2 = await asyncio.to_thread(start_embedded_twin, cfg(), mode="process", control_addr=ctrl, data_addr=data)
            deadline = time.monotonic() + 15
            while True:
                try:
                    values = await b.get()
                    break
                except ConnectionLostError:
                    assert time.monotonic() < deadline, "did not reconnect"
                    await asyncio.sleep(0.1)
            assert values["C10"] == 0.0                  # a new twin: the state is read back, not assumed
            await asyncio.sleep(0.3)
            assert b.connected and b.session != session1 and b.restarts >= 1
            f2 = await b.acquire()                       # data channel reconnected too
            assert f2.seq == 0 and f2.meta["session"] == b.session and f.meta["session"] == session1
        finally:
            await b.close()

    try:
        asyncio.run(run())
    finally:
        stop()
        if stop2:
            stop2()
    assert False in events and True in events[events.index(False):]  # lost, then up again


def test_ipc_transport(tmp_path):
    c, d, stop = start_embedded_twin(cfg(), mode="thread", control_addr=f"ipc://{tmp_path}/c", data_addr=f"ipc://{tmp_path}/d")

    async def run():
        async with ZmqTwinBackend(c, d, heartbeat_s=0) as b:
            f = await b.acquire()
            assert f.image.shape == (32, 32)

    try:
        asyncio.run(run())
    finally:
        stop()


def test_local_backend_same_semantics():
    async def run():
        async with LocalTwinBackend(Microscope(cfg(), seed=0)) as b:
            assert (await b.knobs())["C21.x"].maximum == pytest.approx(10e-6)
            with pytest.raises(KnobLimitError):
                await b.set({"C10": 1e-8, "C12.x": 2e-6})
            assert (await b.get(["C10"])) == {"C10": 0.0}
            with pytest.raises(UnknownKnobError):
                await b.get(["nope"])
            await b.set({"C10": 1e-8})
            f = await b.acquire()
            assert f.state["C10"] == 1e-8 and f.image.shape == (32, 32) and "true_aberrations" in f.meta
        with pytest.raises(ConnectionLostError):
            await b.get()

    asyncio.run(run())


def test_paced_twin_follows_wall_clock():
    srv = TwinServer(Microscope(cfg(settle_time_s=0.2), seed=0), "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", pace=True).start()

    async def run():
        async with ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0) as b:
            t0_twin = (await b.state())["t_twin"]
            t0 = time.monotonic()
            await b.set({"C10": 1e-8})                      # waits the settle time for real
            assert time.monotonic() - t0 >= 0.18
            await asyncio.sleep(0.3)                        # idle time passes on the twin clock too
            dt_twin = (await b.state())["t_twin"] - t0_twin
            assert abs(dt_twin - (time.monotonic() - t0)) < 0.1

    try:
        asyncio.run(run())
    finally:
        srv.stop()


def test_embedded_twin_start_errors_are_clear():
    with pytest.raises(ValueError, match="mode"):
        start_embedded_twin(cfg(), mode="fiber")
    with pytest.raises(RuntimeError, match="detector_dtype"):
        start_embedded_twin(cfg(detector_dtype="int8"), mode="process")


def test_bind_failure_leaves_nothing_bound(server):
    free = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(zmq.ZMQError):
        TwinServer(Microscope(cfg(), seed=0), server.control_addr, free).start()  # control port taken
    s = zmq.Context.instance().socket(zmq.PUB)
    s.setsockopt(zmq.LINGER, 0)
    deadline = time.monotonic() + 3
    while True:  # the data port of the failed server is released (ZeroMQ closes asynchronously)
        try:
            s.bind(free)
            break
        except zmq.ZMQError:
            assert time.monotonic() < deadline, "the failed server kept its data port bound"
            time.sleep(0.05)
    s.close()


def test_oversized_control_message_is_dropped_server_survives(server):
    with pytest.raises(zmq.Again):
        raw_request(server.control_addr, [b"\x00" * (2 << 20)], timeout_ms=500)
    ok = P.decode_reply(raw_request(server.control_addr, [req_bytes(id=3)])[-1])
    assert ok.ok and ok.id == 3
