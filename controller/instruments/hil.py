"""The RTL board in the loop: ``beamloop_top`` simulated in Icarus (cocotb), its UART on a socket.

:class:`RtlBoardProcess` builds and starts ``hil_tests/hil/tb_hil_bridge.py`` in a subprocess
(cocotb + Icarus) and waits until its TCP socket listens; :class:`RtlBoard` is the board
backend on that socket: the normal host driver (:class:`~.board_driver.BoardLink`) writes its
COBS/CRC frames into the RTL's ``uart_rx`` and reads what ``cmd_link`` answers on ``uart_tx``.
So a command travels host driver -> RTL UART -> ``cmd_link`` -> ``dac_limiter`` -> DAC outputs,
and the profile's calibration turns the DAC codes the RTL reports back into SI knob values.
Used by the composite instrument with ``connection.board: rtl`` (profile ``board-rtl``), so the
normal controller and policies run unchanged; they never learn they talk to RTL.

Build parameters (``RTL_PARAMS``): UART 4 clocks per bit, watchdog ``WD_TIMEOUT`` cycles, slew
1024 counts/us. The bridge caps simulated time at ``SIM_RATE`` (0.2 us per ms of wall time) while
idle, so the watchdog of 50 000 cycles (500 us simulated) needs at least 2.5 s of host silence
(the composite pings every quarter of that); Icarus runs this design at ~10-14 k cycles/s here,
so in practice it trips ~4-5 s after the last heartbeat. The host reads each channel's limit
registers once (:class:`_LimitCache`): every UART transaction costs ~0.1-0.3 s of wall time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_log = logging.getLogger(__name__)
HIL_DIR = Path(__file__).resolve().parents[2] / "hil_tests" / "hil"
RTL_PARAMS = {"CLKS_PER_BIT": 4, "WD_TIMEOUT": 50_000, "SLEW": 1024, "TICK_DIV": 100}
SIM_RATE = 2e-4                       # simulated seconds per wall second at most (idle pacing of the bridge)
WALL_S_PER_SIM_US = 1e-6 / SIM_RATE   # wall seconds per simulated microsecond at that cap


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtlBoardProcess:
    """The cocotb/Icarus process holding ``beamloop_top`` (start(), port, stop(), trace())."""

    def __init__(self, params: dict | None = None, start_timeout_s: float = 180.0):
        self.params = {**RTL_PARAMS, **(params or {})}
        self.timeout = start_timeout_s
        self.work = Path(tempfile.mkdtemp(prefix="beamloop_hil_"))
        self.port = _free_port()
        self.frame_port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.log = None
        self._trace: dict | None = None

    def start(self) -> "RtlBoardProcess":
        ready = self.work / "ready"
        env = {**os.environ, "BL_HIL_PORT": str(self.port), "BL_HIL_FRAME_PORT": str(self.frame_port), "BL_HIL_READY": str(ready),
               "BL_HIL_TRACE": str(self.work / "trace.json"), "BL_CPB": str(self.params["CLKS_PER_BIT"]),
               "BL_HIL_RATE": str(SIM_RATE),
               "BEAMLOOP_SIM_BUILD": str(self.work / "sim")}
        code = ("import sys, json; from beamloop.firmware.sources import run_cocotb, DEFAULT_MAP, "
                "committed_net_sources, net_params; "
                "p = json.loads(sys.argv[1]); p['MAP_FILE'] = '\"%s\"' % DEFAULT_MAP; net = committed_net_sources(); "
                "kw = dict(defines={'BEAMLOOP_TRIGGER_NET_REAL': 1}, net_sources=net) if net else {}; "
                "p.update({'OUT_W': net_params(net[0])['OUT_W']} if net else {}); "
                f"run_cocotb('beamloop_top', 'tb_hil_bridge', {str(HIL_DIR)!r}, parameters=p, build_name='hil_top', **kw)")
        self.log = open(self.work / "cocotb.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(self.params)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.time()
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the RTL simulation exited ({self.proc.returncode}); log {self.work / 'cocotb.log'}")
            if time.time() - t0 > self.timeout:
                self.stop()
                raise TimeoutError(f"the RTL simulation did not open its socket in {self.timeout} s")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """End the simulation (it ends by itself when the host closes the socket), keep its trace in
        memory and remove the work directory, unless the simulation failed (then the directory and
        its ``cocotb.log`` stay for the post-mortem, and the path is logged) or ``BEAMLOOP_KEEP_HIL``
        is set."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._trace is None:
            self._trace = self._read_trace()
        if self.log is not None and not self.log.closed:
            self.log.close()
        failed = self.proc is not None and self.proc.returncode not in (0, None)
        if failed or os.environ.get("BEAMLOOP_KEEP_HIL"):
            _log.warning("RTL simulation work directory kept: %s (exit %s)", self.work,
                         None if self.proc is None else self.proc.returncode)
        elif self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)

    def _read_trace(self) -> dict:
        p = self.work / "trace.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def trace(self) -> dict:
        """The bridge's trace (DAC updates, watchdog trips, ...): live while running, kept after stop()."""
        return self._trace if self._trace is not None else self._read_trace()


class _LimitCache:
    """The host driver with its limit registers read once per channel (and again after the host
    writes them with ``set_limits``): the RTL changes them only on that command, and a UART
    transaction costs ~0.1 s of wall time in Icarus. Everything else goes to the link unchanged."""

    def __init__(self, link):
        self._link, self._lim = link, {}

    async def get_limits(self, channel: int) -> dict:
        if channel not in self._lim:
            self._lim[channel] = await self._link.get_limits(channel)
        return dict(self._lim[channel])

    async def set_limits(self, channel: int, *args, **kw):
        self._lim.pop(channel, None)
        return await self._link.set_limits(channel, *args, **kw)

    def __getattr__(self, name):
        return getattr(self._link, name)


class RtlBoard:
    """A :class:`~.board.BoardBackend` on the RTL simulation's socket, opened inside the loop."""

    def __init__(self, cals, params: dict | None = None, warm_up=None):
        """warm_up: the detector backend; its first frame (seconds of one-time set-up in the twin,
        blocking the event loop) is taken while Icarus builds, before any heartbeat is due, so a
        cold detector never starves the host's heartbeat and trips the RTL watchdog."""
        self.cals, self.sim, self._b, self._writer = cals, RtlBoardProcess(params), None, None
        self._warm_up = warm_up

    async def open(self) -> None:
        from beamloop.controller.instruments.board import BoardBackend
        from beamloop.controller.instruments.board_driver import BoardLink

        if self._b is None:
            started = asyncio.get_running_loop().run_in_executor(None, self.sim.start)
            if self._warm_up is not None:
                await self._warm_up.connect()
                await self._warm_up.acquire()
            await started
            reader, writer = await asyncio.open_connection("127.0.0.1", self.sim.port)
            self._writer = writer
            self._b = BoardBackend(_LimitCache(BoardLink(reader, writer, timeout=5.0)), self.cals)
            self._frames = await asyncio.open_connection("127.0.0.1", self.sim.frame_port)
            meta = Path(__file__).resolve().parents[2] / "models" / "weights" / "trigger.json"
            if meta.exists():                 # the trained network's threshold register (fire: score > it)
                await self._b.link.set_threshold(int(json.loads(meta.read_text())["threshold_register"]))

    async def stream_frame(self, image) -> dict:
        """Stream one detector frame through the RTL trigger path (AXI-Stream): the twin's image
        binned to the RTL's 64 x 64 (sum of blocks, clipped to 16 bits). Returns the bench's record:
        frame number, sim times (ns) of the last pixel, the score and the trigger, score, trigger."""
        import numpy as np

        img = np.asarray(image, dtype=np.float64)
        f = img.reshape(64, img.shape[0] // 64, 64, img.shape[1] // 64).sum((1, 3)) if img.shape != (64, 64) else img
        px = np.clip(np.rint(f.T), 0, 65535).astype("<u2")   # [y, x] raster like the firmware
        reader, writer = self._frames
        writer.write(len(px.ravel()).to_bytes(4, "little") + px.tobytes())
        await writer.drain()
        return json.loads(await asyncio.wait_for(reader.readline(), 120))

    async def close(self) -> None:
        if self._writer is not None:
            self._frames[1].close()
            self._writer.close()
            self._writer = None
            await asyncio.get_running_loop().run_in_executor(None, self.sim.stop)

    def __getattr__(self, name):
        if name.startswith("_") or self.__dict__.get("_b") is None:
            raise AttributeError(f"{name}: the RTL board is not open yet")
        return getattr(self._b, name)
