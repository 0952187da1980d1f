"""cocotb side of the hardware-in-the-loop instrument: beamloop_top in Icarus, its UART bridged
to a TCP socket (BL_HIL_PORT). The host driver's bytes go into `uart_rx` bit by bit; whatever the
RTL sends on `uart_tx` goes back over the socket. Simulated time is capped at BL_HIL_RATE simulated
seconds per wall second (the bridge sleeps while idle when the simulation runs ahead), so the RTL
watchdog (WD_TIMEOUT cycles) and the host heartbeat (wall-clock period) live on comparable clocks. A line-based side channel on the same socket is
not used: the byte stream is exactly the serial line.

Per-request trace (BL_HIL_TRACE file): for every host write, the sim time at its first bit and
the sim time at which the DAC outputs next changed (request -> DAC update latency); the sim time
of every heartbeat (PING pulse into the watchdog) and of every watchdog trip with the DAC outputs
at that moment (the file is rewritten at each trip, so a running session can read it)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import cocotb
from cocotb.triggers import RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource

sys.path.insert(0, str(Path(__file__).parents[1] / "firmware"))
from bfm import Uart, start  # noqa: E402


@cocotb.test()
async def hil_bridge(dut):
    port = int(os.environ["BL_HIL_PORT"])
    cpb = int(os.environ.get("BL_CPB", "8"))
    idle_sleep = float(os.environ.get("BL_HIL_IDLE_SLEEP", "0.001"))
    trace_path = os.environ.get("BL_HIL_TRACE")
    rate = float(os.environ.get("BL_HIL_RATE", "1e-3"))      # simulated s per wall s (cap while idle)
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
    # frame channel: host sends u32 n + n uint16 pixels (64 x 64, row by row); the bench answers one
    # JSON line per frame once its network score is out: eof/score/trigger sim times, trigger, score
    fsrv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fsrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    fsrv.bind(("127.0.0.1", int(os.environ["BL_HIL_FRAME_PORT"])))
    fsrv.listen(1)
    fsrv.setblocking(False)
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_size=16)
    src.log.setLevel(logging.WARNING)          # no per-row INFO dump (64 lines of pixels per frame)
    fconn, fbuf = None, b""
    tr = dut.u_trigger
    FEAT_CYCLES = 6      # last pixel -> features valid (feature_extract.v; tb_trigger_path asserts it)

    Path(os.environ["BL_HIL_READY"]).write_text(str(port))
    conn = None
    while conn is None:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            time.sleep(0.005)
            await Timer(1, unit="us")
    conn.setblocking(False)
    sim0, wall0 = get_sim_time("ns"), time.time()
    trace = []
    wd = {"heartbeat_ns": [], "trips": []}

    def dump():
        if trace_path:
            Path(trace_path).write_text(json.dumps({"dac_updates": trace, "sim_ns": get_sim_time("ns"),
                                                    "wd_trips": int(dut.u_wd.trips.value), **wd}))

    async def watch_heartbeat():
        while True:
            await RisingEdge(dut.hb)
            wd["heartbeat_ns"] = (wd["heartbeat_ns"] + [get_sim_time("ns")])[-64:]

    async def watch_trips():
        while True:
            await RisingEdge(dut.wd_tripped)
            await RisingEdge(dut.clk)
            last = wd["heartbeat_ns"][-1] if wd["heartbeat_ns"] else None
            wd["trips"].append({"trip_ns": get_sim_time("ns"), "last_heartbeat_ns": last,
                                "dac_out": int(dut.dac_out.value)})
            dump()

    cocotb.start_soon(watch_heartbeat())
    cocotb.start_soon(watch_trips())
    dac_prev = int(dut.dac_out.value)
    pending = []          # sim time (ns) of writes waiting for a DAC change
    inflight = 0          # request frames written, answers not yet back (no idle pacing then)
    while True:
        if fconn is None:
            try:
                fconn, _ = fsrv.accept()
                fconn.setblocking(False)
            except BlockingIOError:
                pass
        else:
            try:
                fbuf += fconn.recv(1 << 16)
            except BlockingIOError:
                pass
            if len(fbuf) >= 4:
                n = int.from_bytes(fbuf[:4], "little")
                if len(fbuf) >= 4 + 2 * n:
                    px = [int.from_bytes(fbuf[4 + 2 * i: 6 + 2 * i], "little") for i in range(n)]
                    fbuf = fbuf[4 + 2 * n:]
                    w = 64
                    for y in range(n // w):
                        await src.send(AxiStreamFrame(tdata=px[y * w:(y + 1) * w], tuser=[1] + [0] * (w - 1) if y == 0 else [0] * w))
                    n_trig = int(tr.u_trig.triggers.value)
                    await RisingEdge(tr.u_feat.m_feat_valid)       # edge callbacks: no Python per clock
                    t_feat = get_sim_time("ns")
                    await RisingEdge(tr.u_trig.score_ok)
                    t_s = get_sim_time("ns")
                    score, fr = tr.u_trig.score.value.to_signed(), int(tr.u_trig.frame_hold.value)
                    await RisingEdge(dut.clk)
                    await RisingEdge(dut.clk)
                    trig = int(tr.u_trig.triggers.value) != n_trig
                    fconn.sendall((json.dumps({"frame": fr, "eof_ns": t_feat - FEAT_CYCLES * 10, "score_ns": t_s,
                                               "score": score, "trigger": trig, "trigger_ns": t_s + 10 if trig else None})
                                   + "\n").encode())
        try:
            data = conn.recv(4096)
            if data == b"":
                break
        except BlockingIOError:
            data = b""
        except (ConnectionResetError, BrokenPipeError):   # the host closed with bytes unread: also an end
            break
        if data:
            t0 = get_sim_time("ns")
            pending.append(t0)
            inflight += data.count(0)
            await uart.write(data)
        if uart.received:
            out, uart.received = bytes(uart.received), []
            inflight = max(0, inflight - out.count(0))
            try:
                conn.sendall(out)
            except (ConnectionResetError, BrokenPipeError):
                break
        dac = int(dut.dac_out.value)
        if dac != dac_prev:
            now = get_sim_time("ns")
            trace += [{"request_ns": t, "dac_ns": now} for t in pending[-1:]]
            pending, dac_prev = [], dac
        if not data and inflight == 0:        # rate cap: simulated time never runs ahead of wall time x rate
            ahead = (get_sim_time("ns") - sim0) * 1e-9 / rate - (time.time() - wall0)
            time.sleep(min(max(ahead, 0.0), 0.05) if ahead > 0 else idle_sleep * 0.1)
            await Timer(1, unit="us")
        elif not data:
            await Timer(1, unit="us")
        else:
            await RisingEdge(dut.clk)
    conn.close()
    srv.close()
    fsrv.close()
    dump()
