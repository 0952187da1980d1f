"""Scan commands of the protocol: probe position, survey image, point measurement (4D-STEM).

Control-channel commands (request/reply, like ``get``/``set``; ``docs/protocol.md``):

* ``scan_info`` {} -> ``{shape: [nx, ny], step_m, detectors: {name: n_regions},
  camera_shape: [h, w] | nil, camera_rad_per_px: float | nil}``
* ``move_probe`` {x_m, y_m} -> ``{position_m: [x, y]}``. Out of the scan field:
  ``PROBE_LIMIT`` (refused, the probe did not move). A write command (lease).
* ``survey`` {detector} -> ``{image: <array>, detector}``: a raster of the whole field (moves
  the probe, so a write command).
* ``measure_point`` {detectors: [names] | nil, camera: bool} -> ``{position_m, sums: {name:
  <array>}, com_rad: [cx, cy] | nil, frame: <array> | nil, t_acquired, meta}``.

An instrument without a scan answers ``NOT_SUPPORTED``; an unknown detector ``UNKNOWN_KNOB``.
Arrays travel inside the msgpack reply as ``{dtype, shape, data}`` (``data``: raw little-endian
C-order bytes, dtype a key of :data:`messages.DTYPES`), validated on decoding. Survey images and
4D frames are small (64 x 64 float64 = 32 KiB, 96 x 96 float32 = 36 KiB), so they take the
control channel, not the frame stream. Units SI: metres, radians, seconds; counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from beamloop.controller.core.backend import PointMeasurement, ScanInfo
from beamloop.controller.protocol import messages as P

__all__ = ["encode_array", "decode_array", "scan_info_to_wire", "scan_info_from_wire", "point_to_wire",
           "point_from_wire", "check_position", "check_detectors"]

MAX_ARRAY_BYTES = 64 << 20


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """``{dtype, shape, data}`` of ``a`` (converted to little-endian; float64 if not a wire dtype)."""
    a = np.asarray(a)
    name = next((k for k, d in P.DTYPES.items() if d == a.dtype.newbyteorder("<")), None)
    if name is None:
        a, name = a.astype("<f8"), "float64"
    a = np.ascontiguousarray(a, dtype=P.DTYPES[name])
    return {"dtype": name, "shape": list(a.shape), "data": a.tobytes()}


def decode_array(obj: Any, what: str) -> np.ndarray:
    """The array of an ``{dtype, shape, data}`` map; :class:`ProtocolError` naming ``what`` if malformed."""
    if not isinstance(obj, dict):
        raise P.ProtocolError(P.BAD_MESSAGE, f"{what} must be an array map {{dtype, shape, data}}, got {type(obj).__name__}")
    dtype, shape, data = obj.get("dtype"), obj.get("shape"), obj.get("data")
    if dtype not in P.DTYPES:
        raise P.ProtocolError(P.BAD_MESSAGE, f"{what} dtype must be one of {sorted(P.DTYPES)}, got {dtype!r}")
    if not isinstance(shape, list) or len(shape) > 4 or not all(type(s) is int and 0 <= s <= P.MAX_DIM for s in shape):
        raise P.ProtocolError(P.BAD_MESSAGE, f"{what} shape must be up to 4 sizes in [0, {P.MAX_DIM}], got {shape!r}")
    if not isinstance(data, (bytes, bytearray)):
        raise P.ProtocolError(P.BAD_MESSAGE, f"{what} data must be bytes, got {type(data).__name__}")
    n = P.DTYPES[dtype].itemsize * math.prod(shape)
    if len(data) != n or n > MAX_ARRAY_BYTES:
        raise P.ProtocolError(P.BAD_MESSAGE, f"{what} has {len(data)} bytes, {dtype}{tuple(shape)} needs {n}")
    return np.frombuffer(bytes(data), dtype=P.DTYPES[dtype]).reshape(shape).copy()


def check_position(args: dict, request_id: int | None = None) -> tuple[float, float]:
    """``x_m``, ``y_m`` of a ``move_probe`` request: numbers (finiteness is the instrument's
    limit check: NaN is refused there as ``PROBE_LIMIT``)."""
    out = []
    for k in ("x_m", "y_m"):
        v = args.get(k)
        if not ((type(v) is float or type(v) is int) and not isinstance(v, bool)):
            raise P.ProtocolError(P.BAD_ARGUMENT, f"move_probe: {k!r} must be a number (m), got {v!r}", request_id)
        out.append(float(v))
    return out[0], out[1]


def check_detectors(v: Any, request_id: int | None = None) -> list[str] | None:
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(n, str) for n in v):
        raise P.ProtocolError(P.BAD_ARGUMENT, f"measure_point: 'detectors' must be a list of names or nil, got {v!r}",
                              request_id)
    return list(v)


def scan_info_to_wire(info: ScanInfo) -> dict[str, Any]:
    return {"shape": [int(info.shape[0]), int(info.shape[1])], "step_m": float(info.step_m),
            "detectors": {str(k): int(v) for k, v in info.detectors.items()},
            "camera_shape": list(info.camera_shape) if info.camera_shape else None,
            "camera_rad_per_px": None if info.camera_rad_per_px is None else float(info.camera_rad_per_px)}


def scan_info_from_wire(r: dict) -> ScanInfo:
    try:
        shape = tuple(int(s) for s in r["shape"])
        step = float(r["step_m"])
        dets = {str(k): int(v) for k, v in dict(r["detectors"]).items()}
        cam = r.get("camera_shape")
        rpp = r.get("camera_rad_per_px")
    except (KeyError, TypeError, ValueError) as exc:
        raise P.ProtocolError(P.BAD_MESSAGE, f"scan_info reply malformed: {exc!r}") from None
    if len(shape) != 2 or min(shape) < 1 or not (math.isfinite(step) and step > 0):
        raise P.ProtocolError(P.BAD_MESSAGE, f"scan_info reply: shape {shape} / step_m {step!r} invalid")
    return ScanInfo(shape=shape, step_m=step, detectors=dets, camera_shape=tuple(cam) if cam else None,
                    camera_rad_per_px=None if rpp is None else float(rpp))


def point_to_wire(m: PointMeasurement) -> dict[str, Any]:
    return {"position_m": [float(m.position_m[0]), float(m.position_m[1])],
            "sums": {k: encode_array(np.asarray(v)) for k, v in m.sums.items()},
            "com_rad": None if m.com_rad is None else [float(c) for c in np.asarray(m.com_rad)[:2]],
            "frame": None if m.frame is None else encode_array(np.asarray(m.frame)),
            "t_acquired": float(m.t_acquired),
            "meta": {k: v for k, v in m.meta.items() if isinstance(v, (int, float, str, bool))}}


def point_from_wire(r: dict) -> PointMeasurement:
    try:
        pos = (float(r["position_m"][0]), float(r["position_m"][1]))
        sums_in = dict(r["sums"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise P.ProtocolError(P.BAD_MESSAGE, f"measure_point reply malformed: {exc!r}") from None
    sums = {str(k): decode_array(v, f"measure_point sums[{k!r}]") for k, v in sums_in.items()}
    com = r.get("com_rad")
    frame = r.get("frame")
    return PointMeasurement(position_m=pos, sums=sums, com_rad=None if com is None else np.asarray(com, dtype=float),
                            frame=None if frame is None else decode_array(frame, "measure_point frame"),
                            t_acquired=float(r.get("t_acquired", 0.0)), meta=dict(r.get("meta") or {}))
