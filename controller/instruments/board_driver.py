"""Host driver for the beamloop FPGA board (serial command link, issue 6).

Speaks the protocol of ``firmware/link_protocol.yaml`` (read through
``beamloop.firmware.link_protocol``; COBS and CRC-16 from the ``cobs`` and ``crc``
packages). Two layers:

- :class:`LinkCodec` -- sans-I/O: builds request frames (with sequence numbers) and parses
  answer frames into dicts; raises :class:`BoardRefused` for error frames. The cocotb test
  pushes these exact bytes through the RTL UART.
- :class:`BoardLink` -- asyncio transport over any ``(StreamReader, writer)``: a serial
  port (pyserial-asyncio, :meth:`BoardLink.open_serial`), a pty, or the in-memory
  :func:`model_streams` backed by :class:`beamloop.firmware.board_model.BoardModel`.

Units: DAC values are counts (unsigned, ``dac_bits`` wide); converting to SI lens
currents/fields needs a per-channel calibration, which is not part of this module.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from beamloop.firmware.link_protocol import Protocol, ProtocolError, load


class BoardError(Exception):
    """Base class of board driver errors."""


class BoardRefused(BoardError):
    """The board answered with an error frame; nothing was applied."""

    def __init__(self, command: str, code: int, name: str):
        self.command, self.code, self.name = command, code, name
        super().__init__(f"board refused {command}: {name} (error 0x{code:02X}); nothing applied")


class BoardTimeout(BoardError):
    """No (valid) answer within the timeout: the link dropped or the board is not there."""


class BoardValueError(BoardError, TypeError):
    """A request field that is not an integer in range (a float DAC value is refused, never truncated)."""


MAX_ANSWER_BYTES = 4096   # a longer run without a delimiter is garbage: discarded, BoardError


class LinkCodec:
    """Sans-I/O protocol logic: request bytes out, answer dicts in."""

    def __init__(self, proto: Protocol | None = None):
        self.proto = proto or load()
        self._seq = itertools.count(1)

    def request(self, name: str, **fields: int) -> tuple[int, bytes]:
        """(seq, wire bytes) of command ``name`` with its request fields."""
        if name not in self.proto.commands:
            raise ValueError(f"unknown command {name!r}; known: {sorted(self.proto.commands)}")
        c = self.proto.commands[name]
        expected = {f for f, _ in c.request}
        if set(fields) != expected:
            raise ValueError(f"{name}: fields {sorted(fields)} given, expected {sorted(expected)}")
        for f, v in fields.items():
            if type(v) is not int:  # bool, float, numpy float ...: refused, never truncated
                if isinstance(v, (np_int_types())) and not isinstance(v, bool):
                    fields[f] = int(v)
                    continue
                raise BoardValueError(f"{name}: field {f!r} must be an integer, got {v!r} ({type(v).__name__}); "
                                      "nothing sent")
        seq = next(self._seq) & 0xFF
        try:
            body = self.proto.pack(c.request, fields)
        except (ValueError, OverflowError, TypeError) as exc:  # out of the field's range
            raise BoardValueError(f"{name}: {exc}; nothing sent") from None
        # leading delimiter: whatever garbage the board's receiver holds ends as its own (refused) frame
        return seq, b"\x00" + self.proto.encode_frame(c.code, seq, body)

    def parse(self, name: str, seq: int, raw: bytes) -> dict[str, int] | None:
        """Parse one answer (without delimiter) to request ``name``/``seq``.

        Returns the response fields; ``None`` for a stale frame (other seq) to be skipped;
        raises :class:`BoardRefused` for an error frame and :class:`BoardError` for garbage."""
        p = self.proto
        c = p.commands[name]
        try:
            f = p.decode_frame(raw)
        except ProtocolError as exc:
            raise BoardError(f"corrupt answer to {name}: {exc}") from None
        if f.seq != seq:
            return None
        if f.cmd == p.error_cmd:
            code = f.data[0] if f.data else 0
            raise BoardRefused(name, code, p.error_names.get(code, "UNKNOWN"))
        if f.cmd != c.code | p.response_flag:
            raise BoardError(f"answer to {name} has command 0x{f.cmd:02X}")
        return p.unpack(c.response, f.data)


def np_int_types() -> tuple:
    import numpy as np

    return (np.integer,)


class _ModelWriter:
    """A StreamWriter stand-in that feeds a BoardModel and returns its answers to a reader."""

    def __init__(self, model: Any, reader: asyncio.StreamReader):
        self.model, self.reader, self.closed = model, reader, False

    def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("model link closed")
        out = self.model.feed(data)
        if out:
            self.reader.feed_data(out)

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None


def model_streams(model: Any) -> tuple[asyncio.StreamReader, _ModelWriter]:
    """In-memory (reader, writer) pair talking to a Python board model (no hardware)."""
    reader = asyncio.StreamReader()
    return reader, _ModelWriter(model, reader)


class BoardLink:
    """asyncio driver: one request in flight at a time; answers matched by sequence number."""

    def __init__(self, reader: asyncio.StreamReader, writer: Any, *, timeout: float = 0.5,
                 proto: Protocol | None = None):
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.codec = LinkCodec(proto)
        self._lock = asyncio.Lock()
        self._hb_task: asyncio.Task | None = None
        self.discarded_bytes = 0      # stale input flushed before requests
        self.corrupt_frames = 0       # garbage frames skipped while resynchronising

    @classmethod
    async def open_serial(cls, port: str, baud: int | None = None, **kw: Any) -> "BoardLink":
        """Open a serial port (or pty) with pyserial-asyncio."""
        import serial_asyncio

        proto = kw.pop("proto", None) or load()
        reader, writer = await serial_asyncio.open_serial_connection(url=port, baudrate=baud or proto.baud)
        return cls(reader, writer, proto=proto, **kw)

    async def close(self) -> None:
        await self.stop_heartbeat()
        self.writer.close()

    async def request(self, name: str, **fields: int) -> dict[str, int]:
        """Send one command and wait for its answer (BoardRefused / BoardTimeout on failure)."""
        async with self._lock:
            seq, raw = self.codec.request(name, **fields)
            self._flush_input()
            self.writer.write(raw)
            await self.writer.drain()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            bad_frame: BoardRefused | None = None
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    if bad_frame is not None:
                        raise bad_frame
                    raise BoardTimeout(f"no answer to {name} (seq {seq}) within {self.timeout} s")
                try:
                    frame = await asyncio.wait_for(self.reader.readuntil(b"\x00"), left)
                except asyncio.TimeoutError:
                    if bad_frame is not None:
                        raise bad_frame from None
                    raise BoardTimeout(f"no answer to {name} (seq {seq}) within {self.timeout} s") from None
                except asyncio.IncompleteReadError:
                    raise BoardTimeout(f"link closed while waiting for {name}") from None
                except asyncio.LimitOverrunError as exc:
                    self._flush_input()
                    raise BoardError(f"answer to {name}: {exc.consumed} bytes without a frame delimiter "
                                     "(garbage on the line); input flushed") from None
                if len(frame) <= 1:
                    continue
                if len(frame) > MAX_ANSWER_BYTES:
                    self.corrupt_frames += 1
                    raise BoardError(f"answer to {name}: a {len(frame)}-byte frame (max {MAX_ANSWER_BYTES}); discarded")
                try:
                    out = self.codec.parse(name, seq, frame[:-1])
                except BoardRefused as exc:
                    if exc.name == "BAD_FRAME" and bad_frame is None:
                        # may be the board refusing the garbage ahead of our frame (its seq byte matched
                        # by chance): our own answer follows; short wait for it, else report this one
                        bad_frame = exc
                        deadline = min(deadline, loop.time() + 0.05)
                        continue
                    raise
                except BoardError:
                    self.corrupt_frames += 1   # garbage before our answer: skip it and resynchronise
                    continue
                if out is not None:
                    return out

    def _flush_input(self) -> None:
        """Drop whatever is buffered on the reader (stale answers, glitch bytes) before a request."""
        buf = getattr(self.reader, "_buffer", None)
        if buf:
            self.discarded_bytes += len(buf)
            buf.clear()

    # ---- commands -------------------------------------------------------------------
    async def ping(self) -> dict[str, int]:
        return await self.request("PING")

    async def set_dac(self, channel: int, value: int) -> int:
        """Request DAC ``channel`` -> ``value`` counts; returns the accepted target."""
        return (await self.request("SET_DAC", channel=channel, value=value))["value"]

    async def get_dac(self, channel: int) -> dict[str, int]:
        return await self.request("GET_DAC", channel=channel)

    async def set_limits(self, channel: int, minimum: int, maximum: int, step: int) -> dict[str, int]:
        return await self.request("SET_LIMITS", channel=channel, min=minimum, max=maximum, step=step)

    async def get_limits(self, channel: int) -> dict[str, int]:
        return await self.request("GET_LIMITS", channel=channel)

    async def status(self) -> dict[str, Any]:
        st: dict[str, Any] = dict(await self.request("GET_STATUS"))
        st["flag_names"] = [n for n, b in self.codec.proto.status_flags.items() if st["flags"] >> b & 1]
        return st

    async def pop_trigger(self) -> dict[str, int] | None:
        ev = await self.request("GET_TRIGGER")
        return ev if ev["valid"] else None

    async def resume(self) -> int:
        return (await self.request("RESUME"))["flags"]

    async def set_shifts(self, shift: int, dshift: int) -> dict[str, int]:
        """Network input shifts SHIFT/DSHIFT (0..31; the trained model's per-stream choice)."""
        return await self.request("SET_SHIFTS", shift=shift, dshift=dshift)

    async def set_threshold(self, threshold: int) -> int:
        return (await self.request("SET_THRESHOLD", threshold=threshold))["threshold"]

    # ---- heartbeat ------------------------------------------------------------------
    async def start_heartbeat(self, period: float) -> None:
        """PING every ``period`` seconds in the background (feeds the board's watchdog)."""
        async def beat() -> None:
            while True:
                await self.ping()
                await asyncio.sleep(period)
        await self.stop_heartbeat()
        self._hb_task = asyncio.create_task(beat())

    async def stop_heartbeat(self) -> None:
        if self._hb_task:
            self._hb_task.cancel()
            try:
                await self._hb_task
            except (asyncio.CancelledError, BoardError):
                pass
            self._hb_task = None
