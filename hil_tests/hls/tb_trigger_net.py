"""cocotb bench of ``trigger_net``: stream vectors with random valid gaps, compare every word.

Vectors and expected words come from the pytest side (``BL_TN_VECTORS``: an .npz with ``words``
(hex strings of in_data) and ``expected`` (signed out_data integers)), made by the golden model
in ``golden_trigger_net.py`` from PyTorch. Checks: every word equal, one output per input, and
the in->out latency equals the wrapper's LATENCY parameter.
"""

from __future__ import annotations

import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge


@cocotb.test()
async def trigger_net_bit_exact(dut):
    data = np.load(os.environ["BL_TN_VECTORS"])
    words = [int(w, 16) for w in data["words"]]
    expected = [int(v) for v in data["expected"]]
    latency = int(os.environ["BL_TN_LATENCY"])
    rng = random.Random(int(os.environ.get("BL_TN_SEED", "1")))
    cocotb.start_soon(Clock(dut.clk, 5, unit="ns").start())
    dut.in_valid.value = 0
    dut.in_data.value = 0
    got: list[tuple[int, int]] = []
    sent: list[int] = []
    cycle = 0

    async def monitor():
        nonlocal cycle
        while True:
            await RisingEdge(dut.clk)
            cycle += 1
            await FallingEdge(dut.clk)
            if int(dut.out_valid.value):
                got.append((cycle, int(dut.out_data.value.to_signed())))

    cocotb.start_soon(monitor())
    await FallingEdge(dut.clk)
    for w in words:
        while rng.random() < 0.2:          # a bubble: in_valid low, garbage on in_data
            dut.in_valid.value = 0
            dut.in_data.value = rng.getrandbits(256)
            await FallingEdge(dut.clk)
        dut.in_valid.value = 1
        dut.in_data.value = w
        sent.append(cycle)
        await FallingEdge(dut.clk)
    dut.in_valid.value = 0
    for _ in range(latency + 5):
        await FallingEdge(dut.clk)
    assert len(got) == len(words), f"{len(words)} vectors in, {len(got)} out_valid words out"
    bad = [(i, g[1], e) for i, (g, e) in enumerate(zip(got, expected)) if g[1] != e]
    assert not bad, f"{len(bad)}/{len(words)} mismatches, first (index, rtl, pytorch): {bad[:5]}"
    lat = {g[0] - s for g, s in zip(got, sent)}
    assert lat == {latency}, f"measured latencies {sorted(lat)} != LATENCY {latency}"
    dut._log.info("trigger_net: %d/%d bit-exact, latency %d cycles", len(words) - len(bad), len(words), latency)
