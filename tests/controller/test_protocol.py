"""Protocol schema: encode/decode round trips and validation of every malformed case (no sockets)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from beamloop.controller.protocol import messages as P


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def good_req(**over):
    obj = {"v": P.PROTOCOL_VERSION, "kind": "req", "id": 7, "cmd": "set", "args": {"values": {"C10": 1e-8}}, "t": 1.5}
    obj.update(over)
    return obj


def test_request_round_trip():
    req = P.Request(id=42, cmd="get", args={"names": ["C10"]}, t=123.25)
    back = P.decode_request(P.encode_request(req))
    assert back == req


@pytest.mark.parametrize(
    "buf, code, words",
    [
        (b"\xc1\x00garbage", P.BAD_MESSAGE, "msgpack"),
        (pack([1, 2, 3]), P.BAD_MESSAGE, "map"),
        (pack(good_req())[:-3], P.BAD_MESSAGE, "msgpack"),                      # truncated
        (pack({k: v for k, v in good_req().items() if k != "v"}), P.BAD_MESSAGE, "'v'"),
        (pack(good_req(v=1)), P.VERSION_MISMATCH, "version 1"),
        (pack(good_req(v="1")), P.BAD_MESSAGE, "'v'"),
        (pack(good_req(kind="rep")), P.BAD_MESSAGE, "kind"),
        (pack(good_req(id=-1)), P.BAD_MESSAGE, "'id'"),
        (pack(good_req(id="seven")), P.BAD_MESSAGE, "'id'"),
        (pack(good_req(cmd=5)), P.BAD_MESSAGE, "'cmd'"),
        (pack(good_req(cmd="self_destruct")), P.UNKNOWN_COMMAND, "self_destruct"),
        (pack(good_req(args=[1])), P.BAD_MESSAGE, "'args'"),
        (pack(good_req(t=float("nan"))), P.BAD_MESSAGE, "'t'"),
    ],
)
def test_bad_requests_are_named(buf, code, words):
    with pytest.raises(P.ProtocolError) as ei:
        P.decode_request(buf)
    assert ei.value.code == code
    assert words in str(ei.value)


def test_version_error_keeps_request_id():
    with pytest.raises(P.ProtocolError) as ei:
        P.decode_request(pack(good_req(v=9, id=99)))
    assert ei.value.request_id == 99


def test_reply_round_trips_and_errors():
    ok = P.Reply(id=3, ok=True, result={"values": {"C10": 0.0}}, t=1.0)
    assert P.decode_reply(P.encode_reply(ok)) == ok
    err = P.error_reply(4, P.KNOB_LIMIT, "too far", 2.0, knob="C10", value=1.0, minimum=-1e-6, maximum=1e-6)
    back = P.decode_reply(P.encode_reply(err))
    assert not back.ok and back.error["code"] == P.KNOB_LIMIT and back.error["details"]["knob"] == "C10"
    with pytest.raises(P.ProtocolError, match="'ok'"):
        P.decode_reply(pack({"v": P.PROTOCOL_VERSION, "kind": "rep", "id": 1, "ok": "yes"}))
    with pytest.raises(P.ProtocolError) as ei:
        P.decode_reply(pack({"v": 0, "kind": "rep", "id": 1, "ok": True}))
    assert ei.value.code == P.VERSION_MISMATCH
    with pytest.raises(P.ProtocolError, match="'error'"):
        P.decode_reply(pack({"v": P.PROTOCOL_VERSION, "kind": "rep", "id": 1, "ok": False, "error": "bad"}))


def header(**over) -> P.FrameHeader:
    h = P.FrameHeader(seq=5, t_acquired=0.25, t_sent=1e9, dtype="uint16", shape=(4, 6),
                      state={"C10": 1e-8}, request_id=None, session="abc", meta={"source": "pattern"})
    for k, v in over.items():
        setattr(h, k, v)
    return h


def test_frame_round_trip_is_zero_copy():
    img = np.arange(24, dtype=np.uint16).reshape(4, 6)
    parts = P.frame_message(header(), img)
    assert parts[0] == P.STREAM_TOPIC
    assert isinstance(parts[2], memoryview) and parts[2].obj is img or np.shares_memory(np.asarray(parts[2]), img)
    buf = bytearray(parts[2])
    h, out = P.decode_frame([parts[0], bytes(parts[1]), buf])
    assert h.seq == 5 and h.shape == (4, 6) and h.state == {"C10": 1e-8} and h.meta["source"] == "pattern"
    assert np.array_equal(out, img)
    buf[0] = 99  # the decoded array views the received buffer: no copy
    assert out[0, 0] == 99


def raw_header(**over) -> bytes:
    obj = {"v": P.PROTOCOL_VERSION, "kind": "frame", "seq": 1, "t_acquired": 0.0, "t_sent": 0.0, "dtype": "uint16",
           "shape": [4, 6], "state": {}, "request_id": None, "session": "s", "meta": {}}
    obj.update(over)
    return pack(obj)


BUF = bytes(48)


@pytest.mark.parametrize(
    "parts, words",
    [
        ([b"S", raw_header()], "3 parts"),
        ([raw_header(), BUF], "3 parts"),
        ([b"S", raw_header(), BUF, b"x"], "3 parts"),
        ([b"Aabcd", raw_header(), BUF], "topic"),
        ([b"S", raw_header(client="abcd"), BUF], "topic"),
        ([b"S", raw_header(), BUF[:-2]], "truncated"),
        ([b"S", raw_header(), BUF + b"\0\0"], "bytes"),
        ([b"S", raw_header(shape=[4, 7]), BUF], "needs 56"),
        ([b"S", raw_header(dtype="complex64"), BUF], "dtype"),
        ([b"S", raw_header(dtype=">u2"), BUF], "dtype"),
        ([b"S", raw_header(shape=[0, 6]), BUF], "shape"),
        ([b"S", raw_header(shape="4x6"), BUF], "shape"),
        ([b"S", raw_header(shape=[1, 1, 1, 48]), BUF], "shape"),
        ([b"S", raw_header(seq=-3), BUF], "seq"),
        ([b"S", raw_header(t_sent=float("inf")), BUF], "t_sent"),
        ([b"S", raw_header(state={"C10": "near"}), BUF], "state"),
        ([b"S", raw_header(kind="req"), BUF], "kind"),
        ([b"S", raw_header(request_id="x"), BUF], "request_id"),
        ([b"S", raw_header()[:-4], BUF], "msgpack"),
        ([b"S", b"not msgpack at all \xc1", BUF], "msgpack"),
    ],
)
def test_bad_frames_are_named(parts, words):
    with pytest.raises(P.ProtocolError) as ei:
        P.decode_frame(parts)
    assert ei.value.code == P.BAD_MESSAGE
    assert words in str(ei.value)


def test_frame_wrong_version():
    with pytest.raises(P.ProtocolError) as ei:
        P.decode_frame([b"S", raw_header(v=1), BUF])
    assert ei.value.code == P.VERSION_MISMATCH


def test_frame_message_checks_image_against_header():
    with pytest.raises(P.ProtocolError, match="does not match"):
        P.frame_message(header(), np.zeros((4, 6), np.float32))
    with pytest.raises(P.ProtocolError, match="does not match"):
        P.frame_message(header(), np.zeros((6, 4), np.uint16))


def test_nan_image_refused():
    img = np.ones((3, 3), np.float32)
    P.check_image(img)
    img[1, 1] = np.nan
    with pytest.raises(P.ProtocolError, match="NaN"):
        P.check_image(img)


def test_state_map_types():
    assert P.check_state_map({"C10": 1}, "x") == {"C10": 1.0}
    with pytest.raises(P.ProtocolError, match="number"):
        P.check_state_map({"C10": True}, "x")
    with pytest.raises(P.ProtocolError, match="map"):
        P.check_state_map([("C10", 1.0)], "x")


def test_acquire_frames_carry_their_client_in_topic_and_header():
    img = np.zeros((4, 6), np.uint16)
    parts = P.frame_message(header(client="ab12", request_id=3), img)
    assert parts[0] == b"Aab12"
    h, _ = P.decode_frame([parts[0], bytes(parts[1]), bytes(parts[2])])
    assert h.client == "ab12" and h.request_id == 3
