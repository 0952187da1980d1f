"""The command-link protocol, read from ``link_protocol.yaml`` (the single source of truth).

Used by the host driver (``beamloop.controller.instruments.board_driver``), the Python board model
(``beamloop.firmware.board_model``) and the cocotb tests; ``cmd_defs.vh`` for the RTL is
generated from the same YAML by :func:`verilog_header` (``python -m
beamloop.firmware.link_protocol --write`` rewrites it; a test checks it is up to date).

Wire format: ``COBS(cmd seq len data crc16) 0x00``; big-endian fields; CRC-16/IBM-3740
(poly 0x1021, init 0xFFFF, unreflected) over ``cmd..data``. COBS and CRC come from the
``cobs`` and ``crc`` packages, not hand-written code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cobs import cobs
from crc import Calculator, Crc16

YAML_PATH = Path(__file__).with_name("link_protocol.yaml")
HEADER_PATH = Path(__file__).parent / "rtl" / "cmd_defs.vh"

_TYPE_BYTES = {"u8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u48": 6}


class ProtocolError(Exception):
    """A frame that cannot be decoded or built; the message names the offending part."""


@dataclass(frozen=True)
class Command:
    name: str
    code: int
    doc: str
    request: tuple[tuple[str, str], ...]
    response: tuple[tuple[str, str], ...]

    @property
    def request_len(self) -> int:
        return sum(_TYPE_BYTES[t] for _, t in self.request)

    @property
    def response_len(self) -> int:
        return sum(_TYPE_BYTES[t] for _, t in self.response)


@dataclass(frozen=True)
class Frame:
    """A decoded payload: command code, sequence number and data bytes (CRC checked)."""

    cmd: int
    seq: int
    data: bytes


class Protocol:
    """Parsed protocol description with frame codec helpers."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.version: int = spec["version"]
        fr = spec["framing"]
        self.max_data: int = fr["max_data"]
        self.rx_buffer: int = fr["rx_buffer"]
        self.response_flag: int = fr["response_flag"]
        self.error_cmd: int = fr["error_cmd"]
        self.baud: int = spec["uart"]["baud"]
        self.commands: dict[str, Command] = {}
        for name, c in spec["commands"].items():
            self.commands[name] = Command(
                name, int(c["code"]), c.get("doc", ""),
                tuple((f, t) for f, t in c["request"]), tuple((f, t) for f, t in c["response"]))
        self.by_code = {c.code: c for c in self.commands.values()}
        self.errors: dict[str, int] = {n: int(e["code"]) for n, e in spec["errors"].items()}
        self.error_names = {v: k for k, v in self.errors.items()}
        self.status_flags: dict[str, int] = {n: int(b) for n, b in spec["status_flags"].items()}
        self._crc = Calculator(Crc16.IBM_3740)
        if not 5 < self.rx_buffer <= 63:
            raise ProtocolError(f"framing.rx_buffer={self.rx_buffer} must be in 6..63 (cmd_link.v counter width)")
        for c in self.commands.values():
            if c.response_len > self.max_data or c.request_len + 5 > self.rx_buffer:
                raise ProtocolError(f"command {c.name}: field lengths exceed framing limits")

    # --- CRC / COBS -------------------------------------------------------------------
    def crc16(self, data: bytes) -> int:
        return int(self._crc.checksum(bytes(data)))

    def encode_frame(self, cmd: int, seq: int, data: bytes = b"") -> bytes:
        """Bytes for the wire: COBS-encoded payload plus the 0x00 delimiter."""
        for name, v in (("cmd", cmd), ("seq", seq)):
            if not 0 <= v <= 255:
                raise ProtocolError(f"{name}={v} does not fit a byte")
        if len(data) > 255:
            raise ProtocolError(f"data length {len(data)} does not fit the len byte")
        body = bytes([cmd, seq, len(data)]) + bytes(data)
        return cobs.encode(body + self.crc16(body).to_bytes(2, "big")) + b"\x00"

    def decode_frame(self, raw: bytes) -> Frame:
        """Decode one frame (without its delimiter). Raises ProtocolError naming the fault
        with ``.code`` set to the protocol error code the firmware would answer with."""
        try:
            body = cobs.decode(bytes(raw))
        except cobs.DecodeError as exc:
            raise _perr(self, "BAD_FRAME", f"COBS decoding failed: {exc}") from None
        if len(body) < 5:
            raise _perr(self, "BAD_LENGTH", f"frame of {len(body)} bytes is shorter than 5")
        if self.crc16(body) != 0:  # CRC over payload+crc of an unreflected CRC is 0
            raise _perr(self, "BAD_CRC", f"CRC mismatch in frame {body.hex()}")
        if body[2] != len(body) - 5:
            raise _perr(self, "BAD_LENGTH", f"len field {body[2]} != {len(body) - 5} data bytes")
        return Frame(body[0], body[1], bytes(body[3:-2]))

    # --- fields -----------------------------------------------------------------------
    def pack(self, fields: tuple[tuple[str, str], ...], values: dict[str, int]) -> bytes:
        out = b""
        for name, typ in fields:
            if name not in values:
                raise ProtocolError(f"missing field {name!r}")
            n = _TYPE_BYTES[typ]
            v = int(values[name])
            signed = typ.startswith("s")
            lo, hi = (-(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1) if signed else (0, (1 << (8 * n)) - 1)
            if not lo <= v <= hi:
                raise ProtocolError(f"field {name!r}={v} out of range for {typ} [{lo}, {hi}]")
            out += v.to_bytes(n, "big", signed=signed)
        return out

    def unpack(self, fields: tuple[tuple[str, str], ...], data: bytes) -> dict[str, int]:
        need = sum(_TYPE_BYTES[t] for _, t in fields)
        if len(data) != need:
            raise ProtocolError(f"data of {len(data)} bytes, expected {need}")
        out, i = {}, 0
        for name, typ in fields:
            n = _TYPE_BYTES[typ]
            out[name] = int.from_bytes(data[i:i + n], "big", signed=typ.startswith("s"))
            i += n
        return out


def _perr(proto: Protocol, name: str, msg: str) -> ProtocolError:
    e = ProtocolError(msg)
    e.code = proto.errors[name]  # type: ignore[attr-defined]
    return e


@functools.lru_cache(maxsize=None)
def load(path: str | None = None) -> Protocol:
    """The protocol from ``link_protocol.yaml`` (cached)."""
    return Protocol(yaml.safe_load(Path(path or YAML_PATH).read_text()))


def verilog_header(proto: Protocol | None = None) -> str:
    """Text of ``rtl/cmd_defs.vh`` generated from the YAML."""
    p = proto or load()
    lines = [
        "// GENERATED from firmware/link_protocol.yaml by beamloop.firmware.link_protocol -- do not edit.",
        "// Regenerate: python -m beamloop.firmware.link_protocol --write",
        "`ifndef BEAMLOOP_CMD_DEFS_VH",
        "`define BEAMLOOP_CMD_DEFS_VH",
        f"`define PROTO_VERSION 8'd{p.version}",
        f"`define PROTO_MAX_DATA {p.max_data}",
        f"`define PROTO_RX_BUFFER {p.rx_buffer}",
        f"`define PROTO_RSP_FLAG 8'h{p.response_flag:02X}",
        f"`define PROTO_ERROR_CMD 8'h{p.error_cmd:02X}",
    ]
    for c in p.commands.values():
        lines += [f"`define CMD_{c.name} 8'h{c.code:02X}",
                  f"`define REQ_LEN_{c.name} 8'd{c.request_len}",
                  f"`define RSP_LEN_{c.name} 8'd{c.response_len}"]
    for n, code in p.errors.items():
        lines.append(f"`define ERR_{n} 8'h{code:02X}")
    for n, bit in p.status_flags.items():
        lines.append(f"`define FLAG_{n} {bit}")
    lines.append("`endif")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    text = verilog_header()
    if "--write" in args:
        HEADER_PATH.write_text(text)
        print(f"wrote {HEADER_PATH}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
