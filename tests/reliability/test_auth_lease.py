"""Issue 14, failures 1 and 2: anyone could drive the lens; frames reached the wrong client.

Now: CURVE on both channels (a stranger without an authorised key can neither read nor move
anything, nor see a frame), one lease holder writes (others read only), the lease expires
without heartbeats and the knobs go back (also after kill -9 of the controller), a
non-loopback bind without keys is refused, and each client receives only its own frames."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
import zmq

from beamloop.controller.instruments.zmq_client import ZmqTwinBackend
from beamloop.controller.protocol import messages as P
from beamloop.controller.protocol import keys as K
from beamloop.controller.serve.twin_server import TwinServer
from beamloop.sim.microscope import Microscope

from .helpers import RawClient, small_config, twin_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def keydir(tmp_path):
    K.generate(tmp_path / "keys", "operator")
    K.generate(tmp_path / "keys", "display", server=False)
    # a stranger: a valid key pair that was never authorised on this server
    K.generate(tmp_path / "stranger", "stranger")
    return tmp_path


def _wait_until(cond, timeout=5.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            return False
        time.sleep(0.02)
    return True


def test_stranger_without_key_cannot_read_or_move_anything(keydir, counts):
    d = keydir / "keys"
    srv = twin_server(keys=K.server_keys(d))
    try:
        start = srv.microscope.get_knobs()
        own = K.client_keys(d, "operator")
        stranger = K.client_keys(keydir / "stranger", "stranger")
        strangers = {
            "plain": None,  # no CURVE at all
            "own key pair, knows the server key": K.ClientKeys(
                stranger.public, stranger.secret, own.server_public),
        }
        for why, keys in strangers.items():
            c = RawClient(srv.control_addr, keys=keys, timeout_ms=700)
            try:
                for cmd, args in (("get", {}), ("set", {"values": {"C10": 1e-7}}), ("acquire", {}),
                                  ("stream", {"source": "pattern", "rate_hz": 10.0})):
                    assert c.call(cmd, **args) is None, f"{why}: {cmd} was answered"
                    counts["stranger_requests_refused"] += 1
            finally:
                c.close()
            # and no frames on the data channel either, even subscribed to everything
            ctx = zmq.Context()
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            if keys is not None:
                K.apply_client(sub, keys)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(srv.data_addr)

            async def owner_acquires():
                async with ZmqTwinBackend(srv.control_addr, srv.data_addr, keys=own, heartbeat_s=0) as b:
                    for _ in range(3):
                        await b.acquire()
            asyncio.run(owner_acquires())
            assert sub.poll(300) == 0, f"{why}: the stranger received a frame"
            sub.close(0)
            ctx.term()
        assert srv.microscope.get_knobs() == start
        assert srv.stats["requests"] > 0 and srv.next_seq == 6   # only the owner's 6 frames were taken
    finally:
        srv.stop()


def test_authorised_client_works_and_non_loopback_bind_without_keys_is_refused(keydir):
    d = keydir / "keys"
    with pytest.raises(K.InsecureBindError, match="without CURVE keys"):
        TwinServer(Microscope(small_config()), "tcp://0.0.0.0:0", "tcp://127.0.0.1:0").start()
    with pytest.raises(K.InsecureBindError):
        TwinServer(Microscope(small_config()), "tcp://127.0.0.1:0", "tcp://*:0").start()
    with pytest.raises(K.KeyFileError, match="server.key_secret"):
        K.server_keys(keydir / "nowhere")
    srv = TwinServer(Microscope(small_config()), "tcp://0.0.0.0:0", "tcp://0.0.0.0:0", keys=K.server_keys(d)).start()
    try:
        ctrl = srv.control_addr.replace("0.0.0.0", "127.0.0.1")
        data = srv.data_addr.replace("0.0.0.0", "127.0.0.1")

        async def run():
            async with ZmqTwinBackend(ctrl, data, keys=K.client_keys(d, "operator"), heartbeat_s=0) as b:
                await b.set({"C10": 2e-8})
                f = await b.acquire()
                assert f.state["C10"] == 2e-8
        asyncio.run(run())
    finally:
        srv.stop()


def test_one_owner_others_read_only_and_lease_expiry_restores(counts):
    srv = twin_server(lease_ttl_s=0.5)
    try:
        srv.microscope.set_knobs({"C10": 11e-9})
        start = srv.microscope.get_knobs()
        a = RawClient(srv.control_addr, identity=b"A" * 16)
        b = RawClient(srv.control_addr, identity=b"B" * 16)
        try:
            assert a.call("set", values={"C10": 90e-9, "C12.x": 5e-9}).ok
            rep = b.call("set", values={"C10": -50e-9})
            assert not rep.ok and rep.error["code"] == P.NOT_OWNER
            rep = b.call("stream", source="pattern", rate_hz=10.0, count=5)
            assert not rep.ok and rep.error["code"] == P.NOT_OWNER
            assert b.call("get").result["values"]["C10"] == 90e-9        # read-only, but can read
            counts["foreign_writes_refused"] += 2
            for _ in range(5):                                        # the owner's heartbeats keep it
                assert a.call("heartbeat").result["owner"] is True
                time.sleep(0.2)
            assert srv.microscope.get_knobs()["C10"] == 90e-9
            # the owner falls silent (crash / hang): after the ttl the knobs go back to the lease start
            assert _wait_until(lambda: srv.microscope.get_knobs() == start, 3.0), srv.microscope.get_knobs()
            assert srv.stats["lease_expiries"] == 1 and srv.stats["restores_verified"] == 1
            counts["restores_verified_by_readback"] += 1
            counts["faults_injected"] += 1
            assert b.call("set", values={"C10": -50e-9}).ok           # the lease is free again
            assert not a.call("set", values={"C10": 0.0}).ok
        finally:
            a.close()
            b.close()
    finally:
        srv.stop()


def test_kill_9_of_the_controller_the_dead_man_puts_the_knobs_back(counts):
    srv = twin_server(lease_ttl_s=1.0)
    try:
        start = srv.microscope.get_knobs()
        code = (
            "import asyncio, sys\n"
            "from beamloop.controller.instruments.zmq_client import ZmqTwinBackend\n"
            "async def main():\n"
            f"    b = ZmqTwinBackend({srv.control_addr!r}, {srv.data_addr!r}, heartbeat_s=0.2)\n"
            "    await b.connect()\n"
            "    await b.set({'C10': 150e-9, 'C12.y': -20e-9})\n"
            "    print('SET', flush=True)\n"
            "    await asyncio.sleep(60)\n"
            "asyncio.run(main())\n")
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "SET"
            assert srv.microscope.get_knobs()["C10"] == 150e-9
            time.sleep(1.5)                                   # heartbeats keep the lease past its ttl
            assert srv.microscope.get_knobs()["C10"] == 150e-9
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
            assert _wait_until(lambda: srv.microscope.get_knobs() == start, 4.0), srv.microscope.get_knobs()
            counts["restores_verified_by_readback"] += 1
            counts["faults_injected"] += 1
        finally:
            p.kill()
            p.stdout.close()
    finally:
        srv.stop()


def test_two_clients_on_one_twin_never_get_each_others_frames(counts):
    srv = twin_server()
    try:
        async def run():
            a = ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0)
            b = ZmqTwinBackend(srv.control_addr, srv.data_addr, heartbeat_s=0)
            await a.connect()
            await b.connect()
            try:
                async def many(c, n=40):
                    return [await c.acquire() for _ in range(n)]
                fa, fb = await asyncio.gather(many(a), many(b))
                assert all(f.meta["client"] == a.client_id for f in fa) if "client" in fa[0].meta else True
                seqs_a, seqs_b = {f.seq for f in fa}, {f.seq for f in fb}
                assert len(seqs_a) == 40 and len(seqs_b) == 40 and not seqs_a & seqs_b
                assert a.wrong_client_frames == 0 and b.wrong_client_frames == 0
                # the publisher filtered: neither client even received the other's 40 frames
                assert a.frames_received == 40 and b.frames_received == 40
                counts["frames_routed_per_client"] += 80
            finally:
                await a.close()
                await b.close()
        asyncio.run(run())
    finally:
        srv.stop()
