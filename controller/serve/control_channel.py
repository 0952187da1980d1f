"""The control channel of :class:`~.instrument_server.InstrumentServer` (its ``srv-control`` thread).

The ROUTER thread decodes every request, answers ``hello``/``heartbeat``/``knobs`` itself at once
(never behind a frame), refuses a bad ``set`` at the door (all-or-nothing, before it queues or
takes the lease), renews the sender's lease, fires the dead-man when the owner's lease expires,
and hands everything else to the backend thread (:mod:`.backend_jobs`) through the bounded, fair
per-client queue (:mod:`.scheduler`; a full queue answers ``BUSY``). Replies from the other
threads come back over an inproc PULL socket and leave through the ROUTER here (one owning thread
per socket).

Units: SI knob values; times in seconds.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import zmq

from beamloop.controller.protocol import messages as P
from beamloop.controller.serve import streams as S
from beamloop.controller.serve.lease import Lease
from beamloop.controller.protocol.priority import raise_this_thread
from beamloop.controller.serve.scheduler import QueueFull

log = logging.getLogger("beamloop.controller.serve.instrument_server")

MAX_CONTROL_BYTES = 64 << 10     # largest control message part (bytes); ZeroMQ drops the peer of a bigger one
CONTROL_HWM = 100                # messages queued per control peer, each way
FAST_COMMANDS = ("hello", "heartbeat", "knobs")
FLOOD_BATCH = 100                # requests in one poll cycle beyond which the real-time control thread ...
FLOOD_PAUSE_S = 1e-3             # ... sleeps this long (s) before the next cycle (normal traffic never does)


class ControlChannel:
    """Mixin of :class:`~.instrument_server.InstrumentServer`: the control thread's methods."""

    def _control_loop(self) -> None:
        self.stats["control_realtime"] = raise_this_thread()   # preempts ordinary threads when a request arrives
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                events = dict(poller.poll(20))
            except zmq.ZMQError:
                break
            if self._pull in events:
                for _ in range(1000):
                    try:
                        parts = self._pull.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._router.send_multipart(parts)
            if self._router in events:
                for handled in range(1000):
                    try:
                        parts = self._router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self._on_control(parts)
                    except Exception:  # noqa: BLE001 - the server must outlive any request
                        log.exception("control message handling failed")
                if handled >= FLOOD_BATCH and self.stats["control_realtime"]:
                    time.sleep(FLOOD_PAUSE_S)   # a flood at real-time priority must leave the CPU to others
            expired = self.lease.pop_expired()
            if expired is not None:
                self.stats["lease_expiries"] += 1
                log.warning("lease of client %s expired (silent %.1f s): restoring the knobs to %s",
                            expired.owner[:8], expired.ttl_s, expired.start_values)
                self._submit_urgent(("restore", expired))

    def _reply(self, envelope: list[bytes], rep: P.Reply) -> None:
        self._router.send_multipart(envelope + [P.encode_reply(rep)])

    def _on_control(self, parts: list[bytes]) -> None:
        # envelope: [identity, payload] from a DEALER, [identity, b"", payload] from a REQ
        self.stats["requests"] += 1
        if len(parts) >= 2 and parts[1] == b"":
            envelope, body = parts[:2], parts[2:]
        else:
            envelope, body = parts[:1], parts[1:]
        if len(body) != 1:
            self.stats["bad_requests"] += 1
            self._reply(envelope, P.error_reply(None, P.BAD_MESSAGE,
                                                f"control message must have exactly one body part, got {len(body)}", time.time()))
            return
        try:
            req = P.decode_request(body[0])
        except P.ProtocolError as exc:
            self.stats["bad_requests"] += 1
            self._reply(envelope, P.error_reply(exc.request_id, exc.code, exc.detail, time.time()))
            return
        client = P.client_hex(envelope[0])
        self.lease.touch(client)
        if req.cmd in FAST_COMMANDS:
            self._reply(envelope, self._fast(req, client))
            return
        try:
            if req.cmd == "stream":
                req.args["_parsed"] = S.parse_stream(req.args, self.frame_rate_hz or S.MAX_INSTRUMENT_RATE_HZ,
                                                     self.detector_dtype)
            if req.cmd == "lease" and req.args.get("ttl_s") is not None:
                Lease.check_ttl(req.args["ttl_s"])
            if req.cmd == "set":
                refusal = self._check_set(req)
                if refusal is not None:
                    self._reply(envelope, refusal)
                    return
            self.jobs.put(client, (req, envelope))
        except P.ProtocolError as exc:
            self._reply(envelope, P.error_reply(req.id, exc.code, exc.detail, time.time()))
            return
        except ValueError as exc:
            self._reply(envelope, P.error_reply(req.id, P.BAD_ARGUMENT, str(exc), time.time()))
            return
        except QueueFull as exc:
            self.stats["busy"] += 1
            self._reply(envelope, P.error_reply(req.id, P.BUSY, f"{req.cmd}: {exc}", time.time()))
            return
        self._wake_backend()

    def _check_set(self, req: P.Request) -> P.Reply | None:
        """Refuse a bad ``set`` at the door (before it queues or takes the lease): all-or-nothing."""
        if "values" not in req.args:
            raise P.ProtocolError(P.BAD_ARGUMENT, "set: missing argument 'values' (map of knob name -> SI value)")
        values = P.check_state_map(req.args["values"], "set: 'values'", req.id, code=P.BAD_ARGUMENT)
        limits = {k["name"]: k for k in self._knob_list}
        for name, v in values.items():
            k = limits.get(name)
            if k is None:
                return P.error_reply(req.id, P.UNKNOWN_KNOB, f"set: unknown knob {name!r}; known {sorted(limits)}; "
                                     "nothing applied", time.time(), knob=name)
            if not (math.isfinite(v) and k["minimum"] <= v <= k["maximum"]):
                return P.error_reply(req.id, P.KNOB_LIMIT, f"knob {name!r}: requested {v!r} {k['unit']} is outside its "
                                     f"limits [{k['minimum']!r}, {k['maximum']!r}] (or not finite); refused, nothing applied",
                                     time.time(), knob=name, value=_wire_float(v), minimum=k["minimum"], maximum=k["maximum"])
        return None

    def _fast(self, req: P.Request, client: str) -> P.Reply:
        now = time.time()
        if req.cmd == "heartbeat":
            return P.Reply(req.id, True, {"session": self.session, "uptime_s": now - self._t_start,
                                          "owner": self.lease.holder() == client}, t=now)
        if req.cmd == "knobs":
            return P.Reply(req.id, True, {"knobs": self._knob_list}, t=now)
        return P.Reply(req.id, True, {
            "protocol": P.PROTOCOL_VERSION, "server": self.server_name, "session": self.session,
            "knobs": self._knob_list, "data_addr": self.data_addr, "frame_rate_hz": self.frame_rate_hz,
            "pace": self.pace, "client": client, "lease_ttl_s": self.lease.default_ttl_s,
            "secure": self.keys is not None}, t=now)


def _wire_float(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return repr(x)
