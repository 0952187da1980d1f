"""cocotb bench: dac_spi. A golden SPI-slave model (AD5676 frame format: samples MOSI on
SCLK falling edges while SYNC_n is low) decodes the frames; every frame must carry
{0011, channel, value of that channel}, channels round robin."""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import ClockCycles, Edge

from bfm import start

NCH, DW = 8, 16


def decode_frame(bits: list[int]) -> tuple[int, int, int]:
    """AD5676 24-bit frame -> (command, address, data)."""
    assert len(bits) == 24, f"frame of {len(bits)} bits"
    w = 0
    for b in bits:
        w = (w << 1) | b
    return w >> 20, (w >> 16) & 0xF, w & 0xFFFF


@cocotb.test()
async def spi_frames_carry_dac_values(dut):
    rng = random.Random(2)
    vals = [rng.randrange(1 << DW) for _ in range(NCH)]
    dut.values.value = sum(v << (DW * c) for c, v in enumerate(vals))
    await start(dut, rx_idle=False)
    frames, bits = [], []
    prev_sclk, prev_sync = 0, 1

    async def slave():
        nonlocal prev_sclk, prev_sync, bits
        while True:
            await Edge(dut.clk)
            sclk, sync = int(dut.sclk.value), int(dut.sync_n.value)
            if sync == 0 and prev_sclk == 1 and sclk == 0:
                bits.append(int(dut.mosi.value))
            if prev_sync == 0 and sync == 1:
                frames.append(decode_frame(bits))
                bits = []
            prev_sclk, prev_sync = sclk, sync

    cocotb.start_soon(slave())
    await ClockCycles(dut.clk, 2 * 2 * 26 * NCH * 2 + 50)
    assert len(frames) >= 2 * NCH
    for i, (cmd, addr, data) in enumerate(frames):
        assert cmd == 0b0011 and addr == i % NCH and data == vals[addr], (i, cmd, addr, data)
    # a new value reaches its channel within one round
    vals[3] = (vals[3] + 12345) % (1 << DW)
    dut.values.value = sum(v << (DW * c) for c, v in enumerate(vals))
    n0 = len(frames)
    await ClockCycles(dut.clk, 2 * 2 * 26 * (NCH + 1) + 50)
    assert any(a == 3 and d == vals[3] for _, a, d in frames[n0:])
