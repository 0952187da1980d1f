"""cocotb side of the hardware-in-the-loop instrument: beamloop_top in Icarus, its UART bridged
to a TCP socket (BL_HIL_PORT). The host driver's bytes go into `uart_rx` bit by bit; whatever the
RTL sends on `uart_tx` goes back over the socket. While the link is idle, simulated time is paced
to ~1 us per ms of wall time, so the RTL watchdog (WD_TIMEOUT cycles) and the host heartbeat
(wall-clock period) live on comparable clocks. A line-based side channel on the same socket is
not used: the byte stream is exactly the serial line.

Per-request trace (BL_HIL_TRACE file): for every host write, the sim time at its first bit and
the sim time at which the DAC outputs next changed (request -> DAC update latency)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import cocotb
from cocotb.triggers import RisingEdge, Timer
from cocotb.utils import get_sim_time

sys.path.insert(0, str(Path(__file__).parents[1] / "firmware"))
from bfm import Uart, start  # noqa: E402


@cocotb.test()
async def hil_bridge(dut):
    port = int(os.environ["BL_HIL_PORT"])
    cpb = int(os.environ.get("BL_CPB", "8"))
    idle_sleep = float(os.environ.get("BL_HIL_IDLE_SLEEP", "0.001"))
    trace_path = os.environ.get("BL_HIL_TRACE")
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tuser.value = 0
    dut.s_axis_tlast.value = 0
    await start(dut)
    uart = Uart(dut, dut.uart_rx, dut.uart_tx, cpb)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.setblocking(False)
    Path(os.environ["BL_HIL_READY"]).write_text(str(port))
    conn = None
    while conn is None:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            time.sleep(0.005)
            await Timer(1, unit="us")
    conn.setblocking(False)
    trace = []
    dac_prev = int(dut.dac_out.value)
    pending = []          # sim time (ns) of writes waiting for a DAC change
    inflight = 0          # request frames written, answers not yet back (no idle pacing then)
    while True:
        try:
            data = conn.recv(4096)
            if data == b"":
                break
        except BlockingIOError:
            data = b""
        if data:
            t0 = get_sim_time("ns")
            pending.append(t0)
            inflight += data.count(0)
            await uart.write(data)
        if uart.received:
            out, uart.received = bytes(uart.received), []
            inflight = max(0, inflight - out.count(0))
            conn.sendall(out)
        dac = int(dut.dac_out.value)
        if dac != dac_prev:
            now = get_sim_time("ns")
            trace += [{"request_ns": t, "dac_ns": now} for t in pending[-1:]]
            pending, dac_prev = [], dac
        if not data and inflight == 0:
            time.sleep(idle_sleep)
            await Timer(1, unit="us")
        elif not data:
            await Timer(1, unit="us")
        else:
            await RisingEdge(dut.clk)
    conn.close()
    srv.close()
    if trace_path:
        Path(trace_path).write_text(json.dumps({"dac_updates": trace, "sim_ns": get_sim_time("ns"),
                                                "wd_trips": int(dut.u_wd.trips.value)}))
