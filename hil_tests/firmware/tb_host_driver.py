"""cocotb bench: the host driver's own protocol layer (controller.instruments.board_driver.LinkCodec) talks to
the RTL through its UART -- the bytes the driver would put on the serial port go through
uart_rx/cmd_link/dac_limiter and the RTL's answers are parsed by the driver."""

from __future__ import annotations

import os

import cocotb
import pytest
from cocotb.triggers import ClockCycles

from bfm import Uart, start
from beamloop.controller.instruments.board_driver import BoardRefused, LinkCodec

CPB = int(os.environ.get("BL_CPB", "8"))


class RtlBoard:
    """Minimal cocotb-side transport: the same request()/parse() path as BoardLink."""

    def __init__(self, uart: Uart):
        self.uart, self.codec = uart, LinkCodec()

    async def request(self, name, **fields):
        seq, raw = self.codec.request(name, **fields)
        await self.uart.write(raw)
        while True:
            out = self.codec.parse(name, seq, (await self.uart.read_frame())[:-1])
            if out is not None:
                return out


@cocotb.test()
async def host_driver_against_rtl(dut):
    await start(dut)
    b = RtlBoard(Uart(dut, dut.uart_rx, dut.uart_tx, CPB))
    info = await b.request("PING")
    assert info == {"version": 1, "n_channels": 8, "dac_bits": 16, "net_placeholder": 1}
    assert (await b.request("SET_DAC", channel=5, value=34000))["value"] == 34000
    await ClockCycles(dut.clk, 5)
    assert (dut.dac_out.value.to_unsigned() >> 80) & 0xFFFF == 34000
    got = await b.request("GET_DAC", channel=5)
    assert got == {"channel": 5, "target": 34000, "output": 34000}
    with pytest.raises(BoardRefused) as ei:
        await b.request("SET_DAC", channel=5, value=61000)
    assert ei.value.name == "ABOVE_MAX"
    await b.request("SET_LIMITS", channel=5, min=33000, max=35000, step=100)
    assert await b.request("GET_LIMITS", channel=5) == {"channel": 5, "min": 33000, "max": 35000, "step": 100}
    with pytest.raises(BoardRefused) as ei:
        await b.request("SET_LIMITS", channel=5, min=0, max=35000, step=100)
    assert ei.value.name == "BAD_LIMITS"
    assert (await b.request("SET_THRESHOLD", threshold=-12345))["threshold"] == -12345
    assert dut.u_link.threshold.value.to_signed() == -12345
    assert await b.request("SET_SHIFTS", shift=9, dshift=7) == {"shift": 9, "dshift": 7}
    assert (int(dut.u_link.shift.value), int(dut.u_link.dshift.value)) == (9, 7)
    with pytest.raises(BoardRefused) as ei:
        await b.request("SET_SHIFTS", shift=3, dshift=40)
    assert ei.value.name == "BAD_VALUE" and int(dut.u_link.dshift.value) == 7
    st = await b.request("GET_STATUS")
    assert st["rx_ok"] == 10 and st["refusals"] == 3 and st["flags"] == 1 << 4
    ev = await b.request("GET_TRIGGER")
    assert ev["valid"] == 0
