"""cocotb bench: beamloop_top command path (UART -> cmd_link -> dac_limiter, watchdog).

Golden model: beamloop.firmware.board_model.BoardModel (mirrors cmd_link.v byte for byte).
Built with CLKS_PER_BIT=8 and an instant slew (SLEW=HW_MAX, TICK_DIV=1) so outputs equal
targets as in the model; the slew limit has its own cycle-accurate test (tb_dac_limiter).
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from bfm import Uart, start
from beamloop.firmware.board_model import BoardConfig, BoardModel
from beamloop.firmware.link_protocol import load

P = load()
CPB = int(os.environ.get("BL_CPB", "8"))
NCH, DW = 8, 16
HW_MIN, HW_MAX, HW_STEP, RESET = (int(os.environ[k]) for k in ("BL_HW_MIN", "BL_HW_MAX", "BL_HW_STEP", "BL_RESET"))
N_FUZZ = int(os.environ.get("BL_FUZZ", "150"))


def dac_values(dut) -> list[int]:
    v = dut.dac_out.value.to_unsigned()
    return [(v >> (DW * c)) & ((1 << DW) - 1) for c in range(NCH)]


def model() -> BoardModel:
    # the watchdog never fires in these builds (huge WD_TIMEOUT): freeze the model clock
    return BoardModel(BoardConfig(hw_min=HW_MIN, hw_max=HW_MAX, hw_step=HW_STEP, reset_value=RESET,
                                  wd_timeout_s=1e9), clock=lambda: 0.0)


def valid_request(rng: random.Random, seq: int) -> bytes:
    name = rng.choice(list(P.commands))
    c = P.commands[name]
    vals = {}
    for f, t in c.request:
        if f == "channel":
            vals[f] = rng.choice([0, 1, 2, 7, rng.randrange(256)])
        elif f == "value":
            vals[f] = rng.choice([RESET + rng.randint(-HW_STEP - 10, HW_STEP + 10), rng.randrange(1 << 32),
                                  HW_MIN - 1 if HW_MIN else 0, HW_MAX + 1, rng.randint(HW_MIN, HW_MAX)])
        elif f in ("min", "max"):
            vals[f] = rng.choice([HW_MIN, HW_MAX, rng.randint(HW_MIN, HW_MAX), HW_MAX + 5, rng.randrange(1 << 32)])
        elif f == "step":
            vals[f] = rng.choice([HW_STEP, HW_STEP + 1, rng.randint(0, HW_STEP)])
        else:
            vals[f] = rng.randint(-(1 << 31), (1 << 31) - 1) if t == "s32" else rng.randrange(1 << (8 * int(t[1:]) // 8))
    return P.encode_frame(c.code, seq, P.pack(c.request, vals))


def _framed(body: bytes) -> bytes:
    """COBS + good CRC around an arbitrary payload (cmd seq len data)."""
    from cobs import cobs
    return cobs.encode(body + P.crc16(body).to_bytes(2, "big")) + b"\x00"


def fuzz_frame(rng: random.Random, seq: int) -> bytes:
    """One delimited frame: valid, mutated, well-framed but wrong, or random (never an inner 0x00)."""
    kind = rng.random()
    if kind < 0.40:
        return valid_request(rng, seq)
    if kind < 0.65:
        raw = bytearray(valid_request(rng, seq)[:-1])
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            i = rng.randrange(len(raw))
            if op < 0.5:
                raw[i] = rng.randrange(1, 256)          # byte change (may break COBS or CRC)
            elif op < 0.75 and len(raw) > 1:
                del raw[i]                              # truncation
            else:
                raw.insert(i, rng.randrange(1, 256))    # insertion
        return bytes(raw) + b"\x00"
    known = [c.code for c in P.commands.values()]
    if kind < 0.75:   # unknown command, consistent length, good CRC
        cmd = rng.choice([c for c in range(256) if c not in known])
        n = rng.randrange(8)
        return _framed(bytes([cmd, seq, n]) + bytes(rng.randrange(256) for _ in range(n)))
    if kind < 0.85:   # known command with the wrong data length, good CRC
        c = rng.choice(list(P.commands.values()))
        n = rng.choice([x for x in range(16) if x != c.request_len])
        return _framed(bytes([c.code, seq, n]) + bytes(rng.randrange(256) for _ in range(n)))
    if kind < 0.90:   # len field disagrees with the data, good CRC
        n = rng.randrange(8)
        return _framed(bytes([rng.randrange(256), seq, (n + rng.randint(1, 5)) % 256]) + bytes(n))
    n = rng.choice([1, 2, 3, 5, 20, 40, 60])
    return bytes(rng.randrange(1, 256) for _ in range(n)) + b"\x00"


@cocotb.test()
async def golden_and_fuzz(dut):
    """Every frame's answer equals the golden model byte for byte; DAC outputs match too."""
    await start(dut)
    uart = Uart(dut, dut.uart_rx, dut.uart_tx, CPB)
    m = model()
    rng = random.Random(int(os.environ.get("BL_SEED", "1")))
    # a hand-written sequence first, then fuzz
    script = [P.encode_frame(P.commands["PING"].code, 1),
              P.encode_frame(2, 2, bytes([3]) + (RESET + 100).to_bytes(4, "big")),
              P.encode_frame(3, 3, bytes([3])),
              P.encode_frame(2, 4, bytes([3]) + (HW_MAX + 1).to_bytes(4, "big")),
              P.encode_frame(4, 5, bytes([1]) + (RESET - 50).to_bytes(4, "big") + (RESET + 50).to_bytes(4, "big") + (10).to_bytes(4, "big")),
              P.encode_frame(2, 6, bytes([1]) + (RESET + 11).to_bytes(4, "big")),
              P.encode_frame(6, 7)]
    # boundaries: exactly at min/max/step is accepted, one count beyond is refused
    R = RESET
    lim = lambda lo, hi, st: bytes([2]) + lo.to_bytes(4, "big") + hi.to_bytes(4, "big") + st.to_bytes(4, "big")
    dac = lambda v: bytes([2]) + v.to_bytes(4, "big")
    script += [P.encode_frame(4, 20, lim(R - 100, R + 100, 100))]
    script += [P.encode_frame(2, 21 + i, dac(v)) for i, v in enumerate(
        [R + 100, R + 101, R, R - 100, R - 101])]
    script += [P.encode_frame(4, 30, lim(R - 100, R + 100, 50))]
    script += [P.encode_frame(2, 31 + i, dac(v)) for i, v in enumerate([R - 49, R - 50, R - 51])]
    script += [P.encode_frame(4, 40, lim(HW_MIN - 1, R, 50)), P.encode_frame(4, 41, lim(R - 50, HW_MAX + 1, 50)),
               P.encode_frame(4, 42, lim(R - 50, R, HW_STEP + 1)), P.encode_frame(4, 43, lim(R - 40, R, 50)),
               P.encode_frame(4, 44, lim(R, R - 60, 50)), P.encode_frame(4, 45, lim(HW_MIN, HW_MAX, HW_STEP))]
    frames = script + [fuzz_frame(rng, i & 0xFF) for i in range(N_FUZZ)]
    for i, fr in enumerate(frames):
        expect = m.feed(fr)
        await uart.write(fr)
        if expect:
            got = await uart.read_frame()
            assert got == expect, f"frame {i} {fr.hex()}: got {got.hex()} expected {expect.hex()}"
        else:
            await ClockCycles(dut.clk, 40 * CPB)
            assert not uart.received, f"frame {i} {fr.hex()}: unexpected answer {bytes(uart.received).hex()}"
        await ClockCycles(dut.clk, 4)
        assert dac_values(dut) == [c.output for c in m.channels], f"frame {i}: DAC outputs differ from model"
    stats = P.unpack(P.commands["GET_STATUS"].response, P.decode_frame(m.feed(P.encode_frame(6, 0))[:-1]).data)
    dut._log.info("fuzz counters: %s", stats)
    assert stats["rx_ok"] > 10 and stats["crc_errors"] > 0 and stats["len_errors"] > 0 and stats["refusals"] > 0
    assert stats["unknown_cmds"] > 0


@cocotb.test()
async def dac_never_leaves_limits(dut):
    """Random byte storm (incl. zeros, overruns, valid DAC frames sent back to back): every
    cycle every DAC output stays inside its limit registers and the hardware bounds; the
    link still answers a PING afterwards."""
    await start(dut)
    uart = Uart(dut, dut.uart_rx, dut.uart_tx, CPB)
    rng = random.Random(int(os.environ.get("BL_SEED", "1")) + 7)
    violations = []
    prev = dac_values(dut)

    async def watch():
        nonlocal prev
        while True:
            await RisingEdge(dut.clk)
            v = dac_values(dut)
            lo = dut.u_dac.lim_min.value.to_unsigned()
            hi = dut.u_dac.lim_max.value.to_unsigned()
            for c in range(NCH):
                mn, mx = (lo >> (32 * c)) & 0xFFFFFFFF, (hi >> (32 * c)) & 0xFFFFFFFF
                if not (HW_MIN <= v[c] <= HW_MAX and mn <= v[c] <= mx):
                    violations.append((c, v[c], mn, mx))
                if abs(v[c] - prev[c]) > HW_STEP:
                    violations.append(("jump", c, prev[c], v[c]))
            prev = v

    cocotb.start_soon(watch())
    storm = bytearray()
    for _ in range(60):
        r = rng.random()
        if r < 0.5:
            storm += valid_request(rng, rng.randrange(256))
        else:
            storm += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
    await uart.write(bytes(storm))
    await ClockCycles(dut.clk, 400 * CPB)
    assert not violations, f"DAC limit violations: {violations[:5]}"
    # a host waits for the link to fall quiet (answers in flight), then pings: bytes sent while
    # a decoded frame still waits are dropped by design (counted as overrun)
    while True:
        n = len(uart.received)
        await ClockCycles(dut.clk, 300 * CPB)
        if len(uart.received) == n:
            break
    uart.received.clear()
    await uart.write(b"\x00" + P.encode_frame(1, 0x42))
    for _ in range(20):   # skip late answers to the storm; the PING answer must come
        got = await uart.read_frame()
        try:
            f = P.decode_frame(got[:-1])
        except Exception:
            continue
        if f.seq == 0x42 and f.cmd == 0x81:
            break
    else:
        l = dut.u_link
        raise AssertionError(f"link did not recover: no answer to PING after the storm; state={l.state.value} "
                             f"frame_ready={l.frame_ready.value} discard={l.discard.value} first={l.first.value} "
                             f"blk_left={l.blk_left.value} dcount={l.dcount.value} rx={bytes(uart.received).hex()}")
