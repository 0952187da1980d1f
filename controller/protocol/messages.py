"""The beamloop instrument protocol: message schema, version, encode/decode, validation.

Two channels (see ``docs/protocol.md`` for the byte-level specification):

* **control**: request/reply. A client (ZeroMQ DEALER or REQ) sends one msgpack map per
  request; the instrument (ROUTER) answers with one msgpack map carrying the same
  request id. Commands: ``hello``, ``knobs``, ``get``, ``set``, ``state``, ``acquire``,
  ``heartbeat``, ``stream``, ``stream_stop``, ``lease``, ``release`` and the scan commands
  ``scan_info``, ``move_probe``, ``survey``, ``measure_point`` (:mod:`.scan`).
* **data**: frames, published by the instrument (XPUB) as three-part messages
  ``[topic, header, buffer]``: a routing topic (:func:`stream_topic` for streamed frames,
  :func:`acquire_topic` of the requesting client for ``acquire`` frames, so a client only
  ever receives its own), a msgpack header (version, sequence number, timestamps, dtype,
  shape, the knob state the frame was taken at, the client it is for) and the raw
  little-endian C-order pixel buffer, sent and received without copying.

Every message carries the protocol version ``"v"``. Decoding validates everything and
raises :class:`ProtocolError` (with an error ``code`` from :data:`ERROR_CODES`) naming
the offending field; nothing here does I/O.

Units: knob values in SI (metres, radians); times in seconds (``t_*`` wall clock is Unix
time, ``t_acquired`` is the instrument clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

PROTOCOL_VERSION = 2   # 2: topic part on data frames, client ids, leases (docs/protocol.md)

# --- error codes (string codes travel on the wire) ---------------------------------------
BAD_MESSAGE = "BAD_MESSAGE"          # not msgpack, not a map, missing/ill-typed field, bad envelope
VERSION_MISMATCH = "VERSION_MISMATCH"  # "v" is not PROTOCOL_VERSION
UNKNOWN_COMMAND = "UNKNOWN_COMMAND"  # "cmd" not one of COMMANDS
BAD_ARGUMENT = "BAD_ARGUMENT"        # args of the wrong type/shape (e.g. a knob value that is not a number)
KNOB_LIMIT = "KNOB_LIMIT"            # a value outside a knob's limits or not finite; nothing applied
UNKNOWN_KNOB = "UNKNOWN_KNOB"        # a knob name the instrument does not have; nothing applied
BUSY = "BUSY"                        # the instrument cannot do this now (e.g. a stream already running)
INTERNAL = "INTERNAL"                # the instrument failed; message says why
NOT_OWNER = "NOT_OWNER"              # another client holds the lease on the knobs (this one is read-only)
PROBE_LIMIT = "PROBE_LIMIT"          # a probe position outside the scan field; the probe did not move
NOT_SUPPORTED = "NOT_SUPPORTED"      # the instrument has no such capability (e.g. no scan)
ERROR_CODES = (BAD_MESSAGE, VERSION_MISMATCH, UNKNOWN_COMMAND, BAD_ARGUMENT, KNOB_LIMIT, UNKNOWN_KNOB, BUSY, INTERNAL,
               NOT_OWNER, PROBE_LIMIT, NOT_SUPPORTED)

# scan commands (protocol.scan): probe position, survey image, 4D-STEM point measurement
SCAN_COMMANDS = ("scan_info", "move_probe", "survey", "measure_point")
COMMANDS = ("hello", "knobs", "get", "set", "state", "acquire", "heartbeat", "stream", "stream_stop", "lease",
            "release") + SCAN_COMMANDS
# commands that change the instrument: only the lease holder may send them
WRITE_COMMANDS = ("set", "stream", "stream_stop", "move_probe", "survey")

# data-channel topics (first message part; ZeroMQ subscriptions match it by prefix)
STREAM_TOPIC = b"S"
ACQUIRE_TOPIC_PREFIX = b"A"
CLIENT_ID_BYTES = 16     # a client's routing id (DEALER identity); its hex form names it on the wire


def client_hex(identity: bytes) -> str:
    """The wire name of a client: the hex of its control-socket routing id."""
    return bytes(identity).hex()


def stream_topic() -> bytes:
    return STREAM_TOPIC


def acquire_topic(client: str) -> bytes:
    """Topic of the frames ``acquire`` produced for ``client`` (its hex id)."""
    return ACQUIRE_TOPIC_PREFIX + client.encode()

# dtype names allowed in frame headers -> numpy little-endian dtype
DTYPES: dict[str, np.dtype] = {
    "uint8": np.dtype("<u1"),
    "uint16": np.dtype("<u2"),
    "uint32": np.dtype("<u4"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
}
MAX_DIM = 65536          # largest allowed image side (pixels)
MAX_NDIM = 3             # frames are 2-D images, optionally with a leading channel axis
MAX_REQUEST_ID = 2**63 - 1


class ProtocolError(ValueError):
    """A message that does not follow the protocol. ``code`` is one of :data:`ERROR_CODES`;
    ``request_id`` is the id of the offending request when it could be read."""

    def __init__(self, code: str, message: str, request_id: int | None = None):
        self.code = code
        self.request_id = request_id
        super().__init__(f"{code}: {message}")
        self.detail = message


# --- small helpers ---------------------------------------------------------------------------

def _packb(obj: dict) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _unpack_map(buf: bytes | memoryview, what: str) -> dict:
    try:
        obj = msgpack.unpackb(buf, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several types (ExtraData, ValueError, ...)
        raise ProtocolError(BAD_MESSAGE, f"{what} is not valid msgpack ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(BAD_MESSAGE, f"{what} must be a msgpack map, got {type(obj).__name__}")
    return obj


def _check_version(obj: dict, what: str, request_id: int | None = None) -> None:
    if "v" not in obj:
        raise ProtocolError(BAD_MESSAGE, f"{what} has no protocol version field 'v'", request_id)
    v = obj["v"]
    if type(v) is not int:
        raise ProtocolError(BAD_MESSAGE, f"{what} field 'v' must be an integer, got {v!r}", request_id)
    if v != PROTOCOL_VERSION:
        raise ProtocolError(
            VERSION_MISMATCH, f"{what} has protocol version {v}, this side speaks {PROTOCOL_VERSION}", request_id
        )


def _is_number(x: Any) -> bool:
    return (type(x) is float or type(x) is int) and not isinstance(x, bool)


def _finite_float(obj: dict, key: str, what: str, request_id: int | None = None, optional: bool = False) -> float | None:
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise ProtocolError(BAD_MESSAGE, f"{what} is missing field {key!r}", request_id)
    x = obj[key]
    if not _is_number(x) or not math.isfinite(x):
        raise ProtocolError(BAD_MESSAGE, f"{what} field {key!r} must be a finite number, got {x!r}", request_id)
    return float(x)


def check_state_map(state: Any, what: str, request_id: int | None = None, code: str = BAD_MESSAGE) -> dict[str, float]:
    """Validate a ``{knob name: number}`` map; return it with float values.

    Non-finite values are *not* rejected here (a ``set`` with NaN must reach the limit
    check and be refused there as ``KNOB_LIMIT``); type errors are.
    """
    if not isinstance(state, dict):
        raise ProtocolError(code, f"{what} must be a map of knob name -> number, got {type(state).__name__}", request_id)
    out = {}
    for k, x in state.items():
        if not isinstance(k, str):
            raise ProtocolError(code, f"{what} has a non-string knob name {k!r}", request_id)
        if not _is_number(x):
            raise ProtocolError(code, f"{what}[{k!r}] must be a number (SI units), got {x!r}", request_id)
        out[k] = float(x)
    return out


# --- control channel ------------------------------------------------------------------------

@dataclass
class Request:
    """A control request. ``id``: client-chosen unsigned integer, echoed in the reply;
    ``cmd``: one of :data:`COMMANDS`; ``args``: command arguments; ``t``: client Unix time (s)."""

    id: int
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0


@dataclass
class Reply:
    """A control reply. ``ok`` with ``result``, or not ``ok`` with ``error``
    (``{"code": str, "message": str, "details": map}``). ``t``: instrument Unix time (s)."""

    id: int | None
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    t: float = 0.0


def encode_request(req: Request) -> bytes:
    return _packb({"v": PROTOCOL_VERSION, "kind": "req", "id": req.id, "cmd": req.cmd, "args": req.args, "t": req.t})


def decode_request(buf: bytes | memoryview) -> Request:
    """Parse and validate one request; raise :class:`ProtocolError` naming the fault."""
    obj = _unpack_map(buf, "request")
    rid = obj.get("id")
    rid = rid if (type(rid) is int and 0 <= rid <= MAX_REQUEST_ID) else None
    _check_version(obj, "request", rid)
    if obj.get("kind") != "req":
        raise ProtocolError(BAD_MESSAGE, f"request field 'kind' must be 'req', got {obj.get('kind')!r}", rid)
    if rid is None:
        raise ProtocolError(
            BAD_MESSAGE, f"request field 'id' must be an integer in [0, 2^63-1], got {obj.get('id')!r}", None
        )
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError(BAD_MESSAGE, f"request field 'cmd' must be a string, got {cmd!r}", rid)
    if cmd not in COMMANDS:
        raise ProtocolError(UNKNOWN_COMMAND, f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}", rid)
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise ProtocolError(BAD_MESSAGE, f"request field 'args' must be a map with string keys, got {args!r}", rid)
    t = _finite_float(obj, "t", "request", rid, optional=True) or 0.0
    return Request(id=rid, cmd=cmd, args=args, t=t)


def encode_reply(rep: Reply) -> bytes:
    obj: dict[str, Any] = {"v": PROTOCOL_VERSION, "kind": "rep", "id": rep.id, "ok": rep.ok, "t": rep.t}
    if rep.ok:
        obj["result"] = rep.result
    else:
        obj["error"] = rep.error
    return _packb(obj)


def error_reply(request_id: int | None, code: str, message: str, t: float = 0.0, **details: Any) -> Reply:
    assert code in ERROR_CODES, code
    return Reply(id=request_id, ok=False, error={"code": code, "message": message, "details": details}, t=t)


def decode_reply(buf: bytes | memoryview) -> Reply:
    """Parse and validate one reply; raise :class:`ProtocolError` naming the fault."""
    obj = _unpack_map(buf, "reply")
    _check_version(obj, "reply")
    if obj.get("kind") != "rep":
        raise ProtocolError(BAD_MESSAGE, f"reply field 'kind' must be 'rep', got {obj.get('kind')!r}")
    rid = obj.get("id")
    if rid is not None and not (type(rid) is int and 0 <= rid <= MAX_REQUEST_ID):
        raise ProtocolError(BAD_MESSAGE, f"reply field 'id' must be an unsigned integer or nil, got {rid!r}")
    ok = obj.get("ok")
    if type(ok) is not bool:
        raise ProtocolError(BAD_MESSAGE, f"reply field 'ok' must be a boolean, got {ok!r}")
    t = _finite_float(obj, "t", "reply", optional=True) or 0.0
    if ok:
        result = obj.get("result", {})
        if not isinstance(result, dict):
            raise ProtocolError(BAD_MESSAGE, f"reply field 'result' must be a map, got {type(result).__name__}")
        return Reply(id=rid, ok=True, result=result, t=t)
    err = obj.get("error")
    if not isinstance(err, dict) or not isinstance(err.get("code"), str) or not isinstance(err.get("message"), str):
        raise ProtocolError(BAD_MESSAGE, f"reply field 'error' must be a map with string 'code' and 'message', got {err!r}")
    details = err.get("details") or {}
    if not isinstance(details, dict):
        raise ProtocolError(BAD_MESSAGE, f"reply error 'details' must be a map, got {details!r}")
    return Reply(id=rid, ok=False, error={"code": err["code"], "message": err["message"], "details": details}, t=t)


# --- data channel ---------------------------------------------------------------------------

@dataclass
class FrameHeader:
    """Header of one data-channel frame.

    seq: frame sequence number (0, 1, 2 ... per instrument session, gaps = lost frames);
    t_acquired: instrument clock at the start of the exposure (s); t_sent: instrument Unix
    time when published (s); dtype: a key of :data:`DTYPES`; shape: array shape (rows,
    cols) or (channels, rows, cols); state: knob values (SI) the frame was taken at;
    request_id: the id of the ``acquire`` request that produced it, or None for streamed
    frames; session: instrument session id; meta: anything else (exposure_s, source,
    true aberrations for a twin ...); client: hex id of the client whose ``acquire`` produced
    it ("" for streamed frames): request ids are only unique per client.
    """

    seq: int
    t_acquired: float
    t_sent: float
    dtype: str
    shape: tuple[int, ...]
    state: dict[str, float] = field(default_factory=dict)
    request_id: int | None = None
    session: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    client: str = ""

    @property
    def nbytes(self) -> int:
        n = DTYPES[self.dtype].itemsize
        for s in self.shape:
            n *= s
        return n


def encode_frame_header(h: FrameHeader) -> bytes:
    return _packb(
        {
            "v": PROTOCOL_VERSION,
            "kind": "frame",
            "seq": h.seq,
            "t_acquired": h.t_acquired,
            "t_sent": h.t_sent,
            "dtype": h.dtype,
            "shape": list(h.shape),
            "state": h.state,
            "request_id": h.request_id,
            "session": h.session,
            "meta": h.meta,
            "client": h.client,
        }
    )


def frame_message(h: FrameHeader, image: np.ndarray) -> list:
    """The three parts ``[topic, header bytes, pixel buffer]`` for ``image`` (no copy if it is
    already C-contiguous little-endian of ``h.dtype``). Checks that they agree. The topic is
    the client's acquire topic if ``h.client`` is set, else the stream topic."""
    want = DTYPES.get(h.dtype)
    if want is None:
        raise ProtocolError(BAD_MESSAGE, f"frame dtype {h.dtype!r} not in {sorted(DTYPES)}")
    if image.dtype != want or tuple(image.shape) != tuple(h.shape):
        raise ProtocolError(
            BAD_MESSAGE, f"image {image.dtype}{image.shape} does not match header {h.dtype}{tuple(h.shape)}"
        )
    image = np.ascontiguousarray(image)
    topic = acquire_topic(h.client) if h.client else STREAM_TOPIC
    return [topic, encode_frame_header(h), memoryview(image).cast("B")]


def decode_frame(parts: list) -> tuple[FrameHeader, np.ndarray]:
    """Validate a three-part data message ``[topic, header, buffer]`` and return the header
    and a read-only array viewing the received buffer (zero-copy). ``parts`` items may be
    bytes, memoryviews or ``zmq.Frame``. The topic must agree with the header's ``client``.
    """
    if len(parts) != 3:
        raise ProtocolError(BAD_MESSAGE, f"frame message must have 3 parts [topic, header, buffer], got {len(parts)}")
    topic, head, buf = parts
    topic = bytes(getattr(topic, "buffer", topic))
    head = getattr(head, "buffer", head)
    buf = getattr(buf, "buffer", buf)
    obj = _unpack_map(head, "frame header")
    _check_version(obj, "frame header")
    if obj.get("kind") != "frame":
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'kind' must be 'frame', got {obj.get('kind')!r}")
    seq = obj.get("seq")
    if type(seq) is not int or seq < 0:
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'seq' must be an unsigned integer, got {seq!r}")
    t_acq = _finite_float(obj, "t_acquired", "frame header")
    t_sent = _finite_float(obj, "t_sent", "frame header")
    dtype = obj.get("dtype")
    if dtype not in DTYPES:
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'dtype' must be one of {sorted(DTYPES)}, got {dtype!r}")
    shape = obj.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_NDIM
        or not all(type(s) is int and 0 < s <= MAX_DIM for s in shape)
    ):
        raise ProtocolError(
            BAD_MESSAGE, f"frame header field 'shape' must be 1..{MAX_NDIM} positive integers <= {MAX_DIM}, got {shape!r}"
        )
    state = check_state_map(obj.get("state", {}), "frame header field 'state'")
    rid = obj.get("request_id")
    if rid is not None and not (type(rid) is int and 0 <= rid <= MAX_REQUEST_ID):
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'request_id' must be an unsigned integer or nil, got {rid!r}")
    session = obj.get("session", "")
    if not isinstance(session, str):
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'session' must be a string, got {session!r}")
    meta = obj.get("meta", {}) or {}
    if not isinstance(meta, dict):
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'meta' must be a map, got {type(meta).__name__}")
    client = obj.get("client", "") or ""
    if not isinstance(client, str) or len(client) > 2 * 255:
        raise ProtocolError(BAD_MESSAGE, f"frame header field 'client' must be a short string, got {client!r}")
    want_topic = acquire_topic(client) if client else STREAM_TOPIC
    if topic != want_topic:
        raise ProtocolError(BAD_MESSAGE, f"frame topic {topic[:40]!r} does not match its header (client {client!r})")
    h = FrameHeader(seq, t_acq, t_sent, dtype, tuple(shape), state, rid, session, meta, client)
    mv = memoryview(buf)
    if mv.nbytes != h.nbytes:
        raise ProtocolError(
            BAD_MESSAGE,
            f"frame buffer has {mv.nbytes} bytes but header {dtype}{tuple(shape)} needs {h.nbytes} (truncated or wrong shape)",
        )
    image = np.frombuffer(mv, dtype=DTYPES[dtype]).reshape(h.shape)
    return h, image


def check_image(image: np.ndarray, what: str = "frame") -> None:
    """Refuse images with NaN/inf pixels (float dtypes) with a clear error."""
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ProtocolError(BAD_MESSAGE, f"{what} contains NaN or infinite pixels")
