"""The scan commands on the instrument server's backend thread (``protocol.scan``).

``scan_info``, ``move_probe``, ``survey`` and ``measure_point`` call the backend's scan
interface (:class:`~beamloop.controller.core.backend.MicroscopeBackend`) under the server's
instrument lock, one job at a time like every other command. The lease check of the write
commands (``move_probe``, ``survey``) has been done by :mod:`.backend_jobs` before this runs.
Typed backend errors become protocol errors: :class:`ProbeLimitError` -> ``PROBE_LIMIT``
(refused, the probe did not move), :class:`ScanNotSupportedError` -> ``NOT_SUPPORTED``, an
unknown detector (:class:`UnknownKnobError`) -> ``UNKNOWN_KNOB``. Units SI (m, rad, s).
"""

from __future__ import annotations

import time

from beamloop.controller.core.backend import ProbeLimitError, ScanNotSupportedError, UnknownKnobError
from beamloop.controller.protocol import messages as P
from beamloop.controller.protocol import scan as W

__all__ = ["scan_job"]


async def scan_job(server, req: P.Request) -> P.Reply:
    """Run one scan command on ``server.backend``; return its reply (errors as error replies)."""
    a, b = req.args, server.backend
    ok = lambda **result: P.Reply(id=req.id, ok=True, result=result, t=time.time())  # noqa: E731
    try:
        if req.cmd == "scan_info":
            async with server._io:
                info = await b.scan_info()
            return ok(**W.scan_info_to_wire(info))
        if req.cmd == "move_probe":
            x, y = W.check_position(a, req.id)
            async with server._io:
                pos = await b.move_probe(x, y)
            return ok(position_m=[float(pos[0]), float(pos[1])])
        if req.cmd == "survey":
            det = a.get("detector", "HAADF")
            if not isinstance(det, str):
                raise P.ProtocolError(P.BAD_ARGUMENT, f"survey: 'detector' must be a name, got {det!r}", req.id)
            async with server._io:
                img = await b.survey(det)
            return ok(image=W.encode_array(img), detector=det)
        if req.cmd == "measure_point":
            dets = W.check_detectors(a.get("detectors"), req.id)
            camera = a.get("camera", False)
            if type(camera) is not bool:
                raise P.ProtocolError(P.BAD_ARGUMENT, f"measure_point: 'camera' must be true/false, got {camera!r}", req.id)
            async with server._io:
                m = await b.measure_point(dets, camera=camera)
            return ok(**W.point_to_wire(m))
    except ProbeLimitError as exc:
        return P.error_reply(req.id, P.PROBE_LIMIT, str(exc), time.time(), x_m=_num(a.get("x_m")), y_m=_num(a.get("y_m")))
    except ScanNotSupportedError as exc:
        return P.error_reply(req.id, P.NOT_SUPPORTED, f"{req.cmd}: {exc}", time.time())
    except UnknownKnobError as exc:
        return P.error_reply(req.id, P.UNKNOWN_KNOB, f"{req.cmd}: {exc}", time.time())
    raise P.ProtocolError(P.UNKNOWN_COMMAND, f"not a scan command: {req.cmd!r}", req.id)  # pragma: no cover


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else repr(v)
