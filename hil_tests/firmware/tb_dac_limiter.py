"""cocotb bench: dac_limiter alone, cycle by cycle against golden_dac_limiter, with random
requests (in and out of limits, also while one is in flight: ignored), random limit changes and
random watchdog holds. Checks the safety properties every cycle: outputs inside the limits, at
most SLEW per tick; answers exactly when the model answers (pipeline latency included)."""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from bfm import start
from golden_dac_limiter import DacLimiterModel

E = {k: int(os.environ[f"BL_{k}"]) for k in ("NCH", "DW", "HW_MIN", "HW_MAX", "HW_STEP", "RESET", "SLEW", "TICK_DIV")}


@cocotb.test()
async def limiter_matches_model(dut):
    for s in ("req_valid", "req_op", "req_ch", "req_value", "req_min", "req_max", "req_step", "hold"):
        getattr(dut, s).value = 0
    await start(dut, rx_idle=False)
    m = DacLimiterModel(E["NCH"], E["HW_MIN"], E["HW_MAX"], E["HW_STEP"], E["RESET"], E["SLEW"], E["TICK_DIV"])
    # align the model's tick counter with the RTL's after reset (read between edges)
    await FallingEdge(dut.clk)
    m.tick_cnt = int(dut.tick_cnt.value)
    for name in ("up", "dn", "ne", "stale", "pend"):      # the registered ramp flags, likewise
        bits = int(getattr(dut, f"{name}_r" if name in ("up", "dn", "ne") else name).value)
        setattr(m, name, [bool((bits >> c) & 1) for c in range(E["NCH"])])
    rng = random.Random(int(os.environ.get("BL_SEED", "5")))
    dw = E["DW"]
    hold = 0
    errs_seen = set()
    for cyc in range(int(os.environ.get("BL_CYCLES", "6000"))):
        req = None
        if rng.random() < 0.15:
            ch = rng.choice(list(range(E["NCH"])) + [E["NCH"], 200])
            op = int(rng.random() < 0.2)
            base = m.out[ch] if ch < E["NCH"] else 0
            value = rng.choice([base + rng.randint(-E["HW_STEP"] - 20, E["HW_STEP"] + 20),
                                rng.randrange(1 << 32), E["HW_MIN"] - 1, E["HW_MAX"] + 1])
            value = max(0, min(value, (1 << 32) - 1))
            lo = rng.choice([E["HW_MIN"], E["HW_MIN"] - 1, base - rng.randint(0, 300)])
            hi = rng.choice([E["HW_MAX"], E["HW_MAX"] + 1, base + rng.randint(0, 300)])
            st = rng.choice([E["HW_STEP"], E["HW_STEP"] + 1, rng.randint(0, E["HW_STEP"])])
            req = (op, ch, value, max(lo, 0), max(hi, 0), st)
        if rng.random() < 0.012:   # often enough that holds start inside a request's flight
            hold ^= 1
        pulse = int(rng.random() < 0.01)   # one-cycle hold pulses: every cycle of a flight counts
        dut.hold.value = hold | pulse
        dut.req_valid.value = int(req is not None)
        if req:
            (dut.req_op.value, dut.req_ch.value, dut.req_value.value, dut.req_min.value,
             dut.req_max.value, dut.req_step.value) = req
        await RisingEdge(dut.clk)
        err = m.clock(req, hold | pulse)
        await ReadOnly()
        if err is not None:
            assert int(dut.rsp_valid.value) == 1 and int(dut.rsp_err.value) == err, \
                f"cycle {cyc}: req {req} hold {hold}: rtl err {int(dut.rsp_err.value)} model {err}"
            errs_seen.add(err)
        else:
            assert int(dut.rsp_valid.value) == 0, f"cycle {cyc}: rtl answered, model did not"
        v = dut.dac_out.value.to_unsigned()
        outs = [(v >> (dw * c)) & ((1 << dw) - 1) for c in range(E["NCH"])]
        assert outs == m.out, f"cycle {cyc}: outputs {outs} model {m.out}"
        for c in range(E["NCH"]):
            lo, hi, _ = m.lim[c]
            assert E["HW_MIN"] <= outs[c] <= E["HW_MAX"] and lo <= outs[c] <= hi
        await FallingEdge(dut.clk)   # leave ReadOnly before driving the next request
    assert {0, 6, 7, 8, 9, 10, 5} <= errs_seen, f"not every decision exercised: {errs_seen}"

