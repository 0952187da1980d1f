"""Bus functional models shared by the cocotb benches (UART 8N1 bit-banging, clock/reset)."""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer, with_timeout

CLK_NS = 10


async def start(dut, rx_idle: bool = True) -> None:
    """Start the 100 MHz clock and apply reset."""
    cocotb.start_soon(Clock(dut.clk, CLK_NS, unit="ns").start())
    if rx_idle and hasattr(dut, "uart_rx"):
        dut.uart_rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)


class Uart:
    """8N1 UART at ``cpb`` clock cycles per bit on ``rx`` (to the DUT) / ``tx`` (from the DUT)."""

    def __init__(self, dut, rx, tx, cpb: int):
        self.dut, self.rx, self.tx, self.cpb = dut, rx, tx, cpb
        self.bit_ns = cpb * CLK_NS
        self.received: list[int] = []
        cocotb.start_soon(self._monitor())

    async def write(self, data: bytes) -> None:
        for b in bytes(data):
            self.rx.value = 0
            await Timer(self.bit_ns, unit="ns")
            for i in range(8):
                self.rx.value = (b >> i) & 1
                await Timer(self.bit_ns, unit="ns")
            self.rx.value = 1
            await Timer(self.bit_ns, unit="ns")

    async def _monitor(self) -> None:
        while True:
            await FallingEdge(self.tx)
            await Timer(self.bit_ns // 2, unit="ns")
            if int(self.tx.value) != 0:
                continue
            b = 0
            for i in range(8):
                await Timer(self.bit_ns, unit="ns")
                b |= int(self.tx.value) << i
            await Timer(self.bit_ns, unit="ns")
            assert int(self.tx.value) == 1, "DUT sent a byte without stop bit"
            self.received.append(b)

    async def read_frame(self, timeout_us: float = 2000) -> bytes:
        """Bytes up to and including the next 0x00 delimiter."""
        async def _wait():
            while 0 not in self.received:
                await RisingEdge(self.dut.clk)
        await with_timeout(_wait(), timeout_us, "us")
        i = self.received.index(0)
        out, self.received = bytes(self.received[: i + 1]), self.received[i + 1:]
        return out
