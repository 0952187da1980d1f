"""Python model of the board's command path: cmd_link + dac_limiter + watchdog.

Two uses:
- golden model of the RTL in the cocotb tests (``hil_tests/firmware``): it decodes the byte
  stream exactly as ``cmd_link.v`` does (streaming COBS decoder, 32-byte receive buffer,
  the same order of checks, the same counters), so responses can be compared byte for byte;
- a fake board for host-driver tests without hardware (``controller/instruments/board_driver.py`` talks to it
  over a pty or an in-memory stream).

Simplifications, stated: DAC outputs reach an accepted target at once (the RTL ramps at the
compiled slew rate; the cocotb top-level tests build the RTL with an instant slew so the
two agree, and ``dac_limiter`` is checked cycle by cycle in its own test), and the
watchdog runs on a caller-supplied clock (seconds).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from beamloop.firmware.link_protocol import Protocol, load


@dataclass
class BoardConfig:
    """Compiled parameters of the board (defaults = beamloop_top defaults)."""

    n_channels: int = 8
    dac_bits: int = 16
    hw_min: int = 0
    hw_max: int = 65535
    hw_step: int = 4096
    reset_value: int = 32768
    wd_timeout_s: float = 1.0
    ev_depth: int = 8
    net_placeholder: int = 1
    shift: int = 4          # reset values of the network input shifts (beamloop_top SHIFT/DSHIFT)
    dshift: int = 4


@dataclass
class _Channel:
    target: int
    output: int
    lo: int
    hi: int
    step: int


@dataclass
class BoardModel:
    """Byte-level model: ``feed(bytes) -> bytes`` returns the board's answer bytes."""

    config: BoardConfig = field(default_factory=BoardConfig)
    clock: Callable[[], float] = time.monotonic
    proto: Protocol = field(default_factory=load)

    def __post_init__(self) -> None:
        c = self.config
        self.channels = [_Channel(c.reset_value, c.reset_value, c.hw_min, c.hw_max, c.hw_step)
                         for _ in range(c.n_channels)]
        self.counters = {k: 0 for k in ("rx_ok", "crc_errors", "len_errors", "unknown_cmds", "refusals")}
        self.frames = self.ingest_errors = self.triggers = self.wd_trips = 0
        self.ingest_error = False
        self.trig_overflow = False
        self.threshold = 0
        self.shift, self.dshift = self.config.shift, self.config.dshift
        self.events: deque[tuple[int, int, int]] = deque()
        self.wd_tripped = False
        self._last_hb = self.clock()
        self._reset_decoder()

    # ------------------------------------------------------------------ decoder (as RTL)
    def _reset_decoder(self) -> None:
        self._buf: list[int] = []
        self._first = True
        self._blk_left = 0
        self._blk_ff = False
        self._overflow = False

    def feed(self, data: bytes) -> bytes:
        """Process received bytes; return the concatenated answer frames."""
        out = b""
        for b in bytes(data):
            if b == 0:
                if not self._first:
                    out += self._execute(list(self._buf), self._blk_left != 0, self._overflow)
                self._reset_decoder()
                continue
            if self._blk_left == 0:
                emit = None if (self._first or self._blk_ff) else 0
                self._blk_left, self._blk_ff, self._first = b - 1, b == 0xFF, False
            else:
                emit, self._blk_left = b, self._blk_left - 1
            if emit is not None:
                if len(self._buf) < self.proto.rx_buffer:
                    self._buf.append(emit)
                else:
                    self._overflow = True
        return out

    # ------------------------------------------------------------------ watchdog
    def _update_watchdog(self) -> None:
        if not self.wd_tripped and self.clock() - self._last_hb >= self.config.wd_timeout_s:
            self.wd_tripped = True
            self.wd_trips += 1

    def flags(self) -> int:
        self._update_watchdog()
        f, sf = 0, self.proto.status_flags
        f |= int(self.wd_tripped) << sf["WD_TRIPPED"]
        f |= int(self.ingest_error) << sf["INGEST_ERROR"]
        f |= int(any(c.output != c.target for c in self.channels)) << sf["RAMPING"]
        f |= int(self.trig_overflow) << sf["TRIG_OVERFLOW"]
        f |= int(self.config.net_placeholder) << sf["NET_PLACEHOLDER"]
        return f

    # ------------------------------------------------------------------ trigger events
    def push_trigger(self, frame: int, timestamp: int, score: int) -> None:
        """Queue a trigger event as trigger_core would (drops and flags when full)."""
        self.triggers += 1
        if len(self.events) >= self.config.ev_depth:
            self.trig_overflow = True
        else:
            self.events.append((frame, timestamp, score))

    # ------------------------------------------------------------------ execution
    def _answer(self, cmd: int, seq: int, data: bytes) -> bytes:
        return self.proto.encode_frame(cmd, seq, data)

    def _error(self, seq: int, code: str | int, cmd: int) -> bytes:
        code = self.proto.errors[code] if isinstance(code, str) else code
        return self._answer(self.proto.error_cmd, seq, bytes([code, cmd]))

    def _execute(self, buf: list[int], cobs_err: bool, overflow: bool) -> bytes:
        p = self.proto
        self._update_watchdog()
        n = len(buf)
        seq = buf[1] if n >= 2 else 0
        cmd = buf[0] if n >= 1 else 0
        ferr = None
        if overflow:
            ferr = "BAD_LENGTH"
        elif cobs_err:
            ferr = "BAD_FRAME"
        elif n < 5:
            ferr = "BAD_LENGTH"
        elif p.crc16(bytes(buf)) != 0:
            ferr = "BAD_CRC"
        elif buf[2] != n - 5:
            ferr = "BAD_LENGTH"
        if ferr:
            self.counters["crc_errors" if ferr == "BAD_CRC" else "len_errors"] += 1
            return self._error(seq, ferr, cmd)
        c = p.by_code.get(cmd)
        if c is None:
            self.counters["unknown_cmds"] += 1
            return self._error(seq, "UNKNOWN_CMD", cmd)
        if buf[2] != c.request_len:
            self.counters["len_errors"] += 1
            return self._error(seq, "BAD_LENGTH", cmd)
        status_before = dict(self.counters)
        self.counters["rx_ok"] += 1
        args = p.unpack(c.request, bytes(buf[3:-2]))
        rsp_cmd = cmd | p.response_flag
        name = c.name
        if name == "PING":
            self._last_hb = self.clock()
            data = {"version": p.version, "n_channels": self.config.n_channels,
                    "dac_bits": self.config.dac_bits, "net_placeholder": self.config.net_placeholder}
        elif name in ("SET_DAC", "SET_LIMITS"):
            err = self._limiter(name, args)
            if err:
                self.counters["refusals"] += 1
                return self._error(seq, err, cmd)
            data = args
        elif name in ("GET_DAC", "GET_LIMITS"):
            ch = args["channel"]
            if ch >= self.config.n_channels:
                self.counters["refusals"] += 1
                return self._error(seq, "BAD_CHANNEL", cmd)
            k = self.channels[ch]
            data = ({"channel": ch, "target": k.target, "output": k.output} if name == "GET_DAC"
                    else {"channel": ch, "min": k.lo, "max": k.hi, "step": k.step})
        elif name == "GET_STATUS":
            data = {"flags": self.flags(), "frames": self.frames, "ingest_errors": self.ingest_errors,
                    "rx_ok": status_before["rx_ok"], "crc_errors": status_before["crc_errors"],
                    "len_errors": status_before["len_errors"], "unknown_cmds": status_before["unknown_cmds"],
                    "refusals": status_before["refusals"], "triggers": self.triggers, "wd_trips": self.wd_trips}
        elif name == "GET_TRIGGER":
            if self.events:
                fr, ts, sc = self.events.popleft()
                data = {"pending": len(self.events), "valid": 1, "frame": fr, "timestamp": ts, "score": sc}
            else:
                data = {"pending": 0, "valid": 0, "frame": 0, "timestamp": 0, "score": 0}
        elif name == "RESUME":
            flags = self.flags() & ~(1 << p.status_flags["WD_TRIPPED"])
            self.wd_tripped = False
            self._last_hb = self.clock()
            data = {"flags": flags}
        elif name == "SET_SHIFTS":
            if args["shift"] > 31 or args["dshift"] > 31:
                self.counters["refusals"] += 1
                return self._error(seq, "BAD_VALUE", cmd)
            self.shift, self.dshift = args["shift"], args["dshift"]
            data = args
        elif name == "SET_THRESHOLD":
            self.threshold = args["threshold"]
            data = args
        else:  # pragma: no cover - the YAML and this model must list the same commands
            raise NotImplementedError(name)
        return self._answer(rsp_cmd, seq, p.pack(c.response, data))

    def _limiter(self, name: str, a: dict[str, int]) -> str | None:
        cfg = self.config
        ch = a["channel"]
        if ch >= cfg.n_channels:
            return "BAD_CHANNEL"
        k = self.channels[ch]
        if name == "SET_DAC":
            v = a["value"]
            if self.wd_tripped:
                return "WATCHDOG_HOLD"
            if v < k.lo:
                return "BELOW_MIN"
            if v > k.hi:
                return "ABOVE_MAX"
            if abs(v - k.output) > k.step:
                return "STEP_TOO_LARGE"
            k.target = k.output = v
            return None
        lo, hi, st = a["min"], a["max"], a["step"]
        if (lo < cfg.hw_min or hi > cfg.hw_max or lo > hi or st > cfg.hw_step
                or not lo <= k.output <= hi or not lo <= k.target <= hi):
            return "BAD_LIMITS"
        k.lo, k.hi, k.step = lo, hi, st
        return None
