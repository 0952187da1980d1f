"""cocotb bench: the watchdog through beamloop_top. Built with a small WD_TIMEOUT (cycles)."""

from __future__ import annotations

import os

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.utils import get_sim_time

from bfm import Uart, start
from beamloop.firmware.link_protocol import load

P = load()
CPB = int(os.environ.get("BL_CPB", "8"))
TIMEOUT = int(os.environ["BL_WD_TIMEOUT"])


@cocotb.test()
async def watchdog_fires_in_time_and_holds(dut):
    await start(dut)
    uart = Uart(dut, dut.uart_rx, dut.uart_tx, CPB)
    # keep it alive with pings for > 2 timeouts
    for i in range(4):
        await uart.write(P.encode_frame(1, i))
        await uart.read_frame()
        assert int(dut.wd_tripped.value) == 0, "tripped although heartbeats arrived in time"
    await uart.write(P.encode_frame(2, 9, bytes([0]) + (33000).to_bytes(4, "big")))
    assert P.decode_frame((await uart.read_frame())[:-1]).cmd == 0x82
    # measure cycles from the last heartbeat pulse to the trip
    await uart.write(P.encode_frame(1, 10))
    while int(dut.u_wd.heartbeat.value) == 0:
        await RisingEdge(dut.clk)
    t_hb = get_sim_time("ns")
    await uart.read_frame()
    while int(dut.wd_tripped.value) == 0:
        await RisingEdge(dut.clk)
        assert get_sim_time("ns") - t_hb <= (TIMEOUT + 3) * 10, "watchdog did not fire within its time"
    n = round((get_sim_time("ns") - t_hb) / 10)
    assert TIMEOUT - 2 <= n <= TIMEOUT + 2, f"fired after {n} cycles, expected {TIMEOUT}"
    held = dut.dac_out.value.to_unsigned()
    # DAC requests are refused while held
    await uart.write(P.encode_frame(2, 11, bytes([0]) + (33010).to_bytes(4, "big")))
    f = P.decode_frame((await uart.read_frame())[:-1])
    assert f.cmd == P.error_cmd and f.data[0] == P.errors["WATCHDOG_HOLD"], f
    # a ping alone does not release the hold
    await uart.write(P.encode_frame(1, 12))
    await uart.read_frame()
    assert int(dut.wd_tripped.value) == 1 and dut.dac_out.value.to_unsigned() == held
    st = P.unpack(P.commands["GET_STATUS"].response, (await _ask(uart, 6, 13)).data)
    assert st["flags"] & 1 and st["wd_trips"] == 1
    # RESUME releases it
    f = await _ask(uart, 8, 14)
    assert f.cmd == 0x88 and int(dut.wd_tripped.value) == 0
    f = await _ask(uart, 2, 15, bytes([0]) + (33010).to_bytes(4, "big"))
    assert f.cmd == 0x82
    await ClockCycles(dut.clk, 10)
    assert dut.dac_out.value.to_unsigned() & 0xFFFF == 33010


async def _ask(uart, cmd, seq, data=b""):
    await uart.write(P.encode_frame(cmd, seq, data))
    return P.decode_frame((await uart.read_frame())[:-1])
