"""Wire helpers of the ZeroMQ client: typed errors from error replies, knob lists, frames.

Error replies become :class:`KnobLimitError` (``KNOB_LIMIT``), :class:`UnknownKnobError`
(``UNKNOWN_KNOB``), :class:`NotOwnerError` (``NOT_OWNER``) or :class:`RemoteError` (any other
protocol code). Units: SI knob values, times in seconds.
"""

from __future__ import annotations

from typing import Any

from beamloop.controller.core.backend import BackendError, Frame, KnobInfo, KnobLimitError, UnknownKnobError
from beamloop.controller.protocol import messages as P



class RemoteError(BackendError):
    """The instrument answered with an error other than a limit or unknown knob.
    ``code`` is the protocol error code (``BAD_ARGUMENT``, ``BUSY``, ``INTERNAL`` ...)."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        self.code, self.details = code, details or {}
        super().__init__(f"{code}: {message}")


class NotOwnerError(RemoteError):
    """Another client holds the lease on the knobs: this one may read but not write."""


def _knob_infos(items: Any) -> dict[str, KnobInfo]:
    if not isinstance(items, list):
        raise RemoteError(P.BAD_MESSAGE, f"knob list must be a list, got {type(items).__name__}")
    out = {}
    for it in items:
        try:
            info = KnobInfo(str(it["name"]), str(it["unit"]), float(it["minimum"]), float(it["maximum"]), it.get("aberration"))
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteError(P.BAD_MESSAGE, f"malformed knob description {it!r}: {exc}") from None
        out[info.name] = info
    return out


def _error_from(err: dict) -> BackendError:
    code, msg, d = err.get("code"), err.get("message", ""), err.get("details") or {}
    if code == P.KNOB_LIMIT:
        try:
            return KnobLimitError(d["knob"], d["value"], d["minimum"], d["maximum"])
        except KeyError:
            return RemoteError(code, msg, d)
    if code == P.UNKNOWN_KNOB:
        return UnknownKnobError(msg)
    if code == P.NOT_OWNER:
        return NotOwnerError(code, msg, d)
    return RemoteError(str(code), msg, d)


def _to_frame(h: P.FrameHeader, image) -> Frame:
    meta = dict(h.meta)
    meta.update(session=h.session, t_sent=h.t_sent, request_id=h.request_id)
    return Frame(image=image, seq=h.seq, t_acquired=h.t_acquired, state=dict(h.state), meta=meta)
