"""`beamloop twin` serves the twin over real sockets until interrupted."""

from __future__ import annotations

import asyncio
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest

from beamloop.controller.instruments.zmq_client import ZmqTwinBackend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_beamloop_twin_serves_and_stops_on_ctrl_c():
    ctrl, data = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "beamloop.tools.cli", "twin", "--size", "32", "--no-pace", "--control", ctrl, "--data", data],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline, out = time.monotonic() + 60, ""
        while "twin serving" not in out:
            assert time.monotonic() < deadline and proc.poll() is None, out
            if sel.select(1.0):
                out += proc.stdout.readline()

        async def run():
            async with ZmqTwinBackend(ctrl, data, timeout_s=5.0, heartbeat_s=0) as b:
                start = await b.get()
                assert set(start) == {"C10", "C12.x", "C12.y", "C21.x", "C21.y"}
                f = await b.acquire()
                assert f.image.shape == (32, 32)
                # --misalign (default): the hidden aberrations are not zero at zero knobs
                assert any(abs(v) > 1e-10 for v in f.meta["true_aberrations"].values())

        asyncio.run(run())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
