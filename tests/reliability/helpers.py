"""Shared pieces of the reliability suite: a small twin served on loopback, raw sockets."""

from __future__ import annotations

import msgpack
import zmq

from beamloop.controller.protocol import messages as P
from beamloop.controller.serve.twin_server import TwinServer
from beamloop.sim.microscope import Microscope, MicroscopeConfig

SMALL = {"size_px": 32, "sample_patch_px": 512, "max_oversample": 4}


def small_config(**kw) -> MicroscopeConfig:
    return MicroscopeConfig.deterministic(ronchigram=SMALL, **kw)


def twin_server(**kw) -> TwinServer:
    m = Microscope(small_config(), seed=0)
    m.acquire()  # warm up the simulator (the first frame builds its grids: seconds on a loaded machine)
    return TwinServer(m, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", **kw).start()


def req(cmd: str, rid: int = 1, **args) -> bytes:
    return msgpack.packb({"v": P.PROTOCOL_VERSION, "kind": "req", "id": rid, "cmd": cmd, "args": args}, use_bin_type=True)


class RawClient:
    """A DEALER with a fixed identity, optional CURVE keys; call() returns the decoded reply or None on timeout."""

    def __init__(self, addr: str, identity: bytes | None = None, keys=None, timeout_ms: int = 10000):
        self.ctx = zmq.Context()
        self.s = self.ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        if identity:
            self.s.setsockopt(zmq.ROUTING_ID, identity)
        if keys is not None:
            from beamloop.controller.protocol.keys import apply_client

            apply_client(self.s, keys)
        self.s.RCVTIMEO = self.s.SNDTIMEO = timeout_ms
        self.s.connect(addr)
        self.rid = 0

    def call(self, cmd: str, **args):
        self.rid += 1
        try:
            self.s.send(req(cmd, self.rid, **args))  # blocks (then times out) while no authenticated peer exists
        except zmq.Again:
            return None
        try:
            return P.decode_reply(self.s.recv())
        except zmq.Again:
            return None

    def close(self):
        self.s.close(0)
        self.ctx.term()
