"""cocotb bench: frame_ingest alone (small W x H) with random input gaps, random output
back-pressure and random malformed lines; every forwarded beat, the frame and error counts
are compared with golden_trigger.ingest."""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource

import golden_trigger as G
from bfm import start

W, H = int(os.environ["BL_W"]), int(os.environ["BL_H"])


@cocotb.test()
async def ingest_matches_model(dut):
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    await start(dut, rx_idle=False)
    rng = random.Random(int(os.environ.get("BL_SEED", "11")))
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_size=16)
    src.set_pause_generator(iter(lambda: rng.random() < 0.3, None))
    got = []

    async def sink():
        while True:
            dut.m_axis_tready.value = int(rng.random() < 0.7)
            await RisingEdge(dut.clk)
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                u = int(dut.m_axis_tuser.value)
                got.append((int(dut.m_axis_tdata.value), int(dut.m_axis_x.value), int(dut.m_axis_y.value),
                            u & 1, u >> 1))

    cocotb.start_soon(sink())
    beats = []
    lines = []
    for f in range(int(os.environ.get("BL_NFRAMES", "40"))):
        n_lines = H if rng.random() < 0.7 else rng.choice([H - 1, H + 1, 1])
        for y in range(n_lines):
            n = W if rng.random() < 0.85 else rng.choice([1, W - 1, W + 1, 2 * W])
            data = [rng.randrange(1 << 16) for _ in range(n)]
            sof = [1 if (y == 0 and i == 0) else 0 for i in range(n)]
            if rng.random() < 0.02:
                sof[rng.randrange(n)] = 1          # stray start of frame
            lines.append(AxiStreamFrame(tdata=data, tuser=sof))
            beats += [(d, s, i == n - 1) for i, (d, s) in enumerate(zip(data, sof))]
    for ln in lines:
        await src.send(ln)
    await src.wait()
    await ClockCycles(dut.clk, 50)
    exp, frames, errors, last = G.ingest(beats, W, H)
    assert got == exp, f"forwarded beats differ at {next(i for i, (a, b) in enumerate(zip(got, exp)) if a != b) if got and exp else 0}"
    assert int(dut.frames.value) == frames and frames > 5
    assert int(dut.pixels.value) == len(beats)
    assert int(dut.errors.value) == errors and errors > 3
    assert int(dut.error_flag.value) == 1 and int(dut.last_error.value) == last
