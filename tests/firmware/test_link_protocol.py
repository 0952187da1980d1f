"""The protocol description, its generated Verilog header and the board model's decoder."""

from __future__ import annotations

import random

import pytest
from cobs import cobs

from beamloop.firmware.board_model import BoardModel
from beamloop.firmware.link_protocol import HEADER_PATH, ProtocolError, load, verilog_header


def test_committed_header_is_up_to_date():
    assert HEADER_PATH.read_text() == verilog_header(), \
        "rtl/cmd_defs.vh is stale: run python -m beamloop.firmware.link_protocol --write"


def test_crc_is_ccitt_false_and_residue_zero():
    p = load()
    assert p.crc16(b"123456789") == 0x29B1
    body = b"\x02\x07\x05\x00\x00\x00\x80\x00"
    assert p.crc16(body + p.crc16(body).to_bytes(2, "big")) == 0


def test_round_trip_and_errors():
    p = load()
    raw = p.encode_frame(2, 9, b"\x00\x01\x02")
    assert raw.endswith(b"\x00") and b"\x00" not in raw[:-1]
    f = p.decode_frame(raw[:-1])
    assert (f.cmd, f.seq, f.data) == (2, 9, b"\x00\x01\x02")
    bad = bytearray(cobs.decode(raw[:-1]))
    bad[3] ^= 1
    with pytest.raises(ProtocolError, match="CRC") as ei:
        p.decode_frame(cobs.encode(bytes(bad)))
    assert ei.value.code == p.errors["BAD_CRC"]
    with pytest.raises(ProtocolError, match="out of range"):
        p.pack(p.commands["SET_DAC"].request, {"channel": 300, "value": 1})
    with pytest.raises(ProtocolError, match="missing"):
        p.pack(p.commands["SET_DAC"].request, {"channel": 1})


def test_model_streaming_decoder_agrees_with_cobs_library():
    """The board model decodes COBS as the RTL does; on valid encodings it must agree with
    the cobs package (checked through the answer: a valid frame is executed)."""
    p = load()
    rng = random.Random(0)
    for _ in range(300):
        value = rng.choice([0, 0x100, 0x10000, 0x8000, rng.randrange(1 << 32)])
        m = BoardModel()
        raw = p.encode_frame(p.commands["SET_DAC"].code, rng.randrange(256), bytes([0]) + value.to_bytes(4, "big"))
        ans = p.decode_frame(m.feed(raw)[:-1])
        assert ans.cmd in (0x82, p.error_cmd)
        if ans.cmd == p.error_cmd:  # only limiter refusals, never framing errors
            assert ans.data[0] in (p.errors["ABOVE_MAX"], p.errors["STEP_TOO_LARGE"], p.errors["BELOW_MIN"])


def test_model_rejects_without_acting():
    p = load()
    m = BoardModel()
    raw = bytearray(p.encode_frame(2, 1, bytes([0]) + (33000).to_bytes(4, "big")))
    raw[-3] ^= 0x40  # corrupt a CRC byte (keep it non-zero)
    if raw[-3] == 0:
        raw[-3] = 1
    ans = p.decode_frame(m.feed(bytes(raw))[:-1])
    assert ans.cmd == p.error_cmd and ans.data[0] in (p.errors["BAD_CRC"], p.errors["BAD_FRAME"])
    assert m.channels[0].target == 32768
    assert m.feed(b"\x00\x00") == b""   # empty frames are ignored


def test_docs_list_every_command_and_error():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "firmware.md").read_text()
    p = load()
    for name, c in p.commands.items():
        assert f"| 0x{c.code:02X} | {name} |" in doc, f"docs/firmware.md lacks command {name}"
    for name, code in p.errors.items():
        assert f"| 0x{code:02X} | {name} |" in doc, f"docs/firmware.md lacks error {name}"
