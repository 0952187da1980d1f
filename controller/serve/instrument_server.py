"""Serve any :class:`~beamloop.controller.core.backend.MicroscopeBackend` over the beamloop protocol.

The instrument side of ``docs/protocol.md`` for the twin (``beamloop twin``), a Nion Swift
bridge (``beamloop serve --instrument nion``) or anything else with a backend. Three threads,
two ZeroMQ contexts (so the control channel has its own I/O thread, never queued behind frames):

* **control** (context 1): the ROUTER. Decodes every request, answers ``hello``/``heartbeat``/
  ``knobs`` itself at once (never behind a frame), renews the owner's lease, fires the
  dead-man when it expires, and hands everything else to the backend thread through a
  bounded, fair per-client queue (:mod:`.scheduler`; a full queue answers ``BUSY``).
* **backend**: an asyncio loop that owns the backend and runs one job at a time (the
  instrument is one column), round-robin over clients; checks the lease for writes.
* **publisher** (context 2): the XPUB data socket. Publishes acquired frames (to the
  requesting client's topic only), instrument and test-pattern streams, assigns sequence
  numbers, and admits subscriptions (only the stream topic and acquire topics; bounded count).

Security (:mod:`.keys`): with ``keys`` both sockets are CURVE servers and a ZAP handler admits
only authorised client keys; without keys only loopback/ipc endpoints may be bound.
Ownership (:mod:`.lease`): one client holds the lease; ``set``/``stream``/``stream_stop`` from
any other are refused (``NOT_OWNER``); when the holder goes silent the knobs go back to the
values they had when it took the lease.

Units: SI knob values; times in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import queue
import secrets
import threading
import time
from typing import Any

import zmq

from beamloop.controller.core.backend import KnobLimitError, MicroscopeBackend, UnknownKnobError
from beamloop.controller.protocol import messages as P
from beamloop.controller.protocol import keys as K
from beamloop.controller.serve import streams as S
from beamloop.controller.serve.lease import DEFAULT_TTL_S, Lease
from beamloop.controller.serve.scheduler import FairQueue, QueueFull

log = logging.getLogger(__name__)

DEFAULT_CONTROL_ADDR = "tcp://127.0.0.1:5555"
DEFAULT_DATA_ADDR = "tcp://127.0.0.1:5556"
DATA_HWM_FRAMES = 4000           # per-subscriber send queue (frames): 0.4 s at 10 kframes/s
MAX_CONTROL_BYTES = 64 << 10     # largest control message part (bytes); ZeroMQ drops the peer of a bigger one
CONTROL_HWM = 100                # messages queued per control peer, each way
MAX_SUB_BYTES = 1024             # largest data-channel message a peer may send (subscriptions; the CURVE handshake needs ~300 B)
MAX_SUBSCRIPTIONS = 1024         # subscriptions admitted on the data channel at once
PER_CLIENT_QUEUE = 8             # requests waiting per client
MAX_CLIENTS = 64                 # clients with requests waiting
FAST_COMMANDS = ("hello", "heartbeat", "knobs")


def any_port(addr: str) -> str:
    """Accept ``tcp://host:0`` as "any free port" (ZeroMQ spells it ``*``)."""
    if addr.startswith("tcp://") and addr.endswith(":0"):
        return addr[:-1] + "*"
    return addr


def _valid_topic(topic: bytes) -> bool:
    if topic == P.STREAM_TOPIC:
        return True
    body = topic[1:]
    return (topic[:1] == P.ACQUIRE_TOPIC_PREFIX and 2 <= len(body) <= 64
            and all(c in b"0123456789abcdef" for c in body))


class InstrumentServer:
    """A backend behind a control ROUTER and a data XPUB socket.

    control_addr / data_addr: endpoints to bind (``tcp://127.0.0.1:0`` picks a free port; read
    :attr:`control_addr` / :attr:`data_addr` after :meth:`start`). keys: :class:`ServerKeys`
    (CURVE) or None (loopback only). lease_ttl_s: default lease time-to-live (s).
    """

    def __init__(self, backend: MicroscopeBackend, control_addr: str = DEFAULT_CONTROL_ADDR,
                 data_addr: str = DEFAULT_DATA_ADDR, *, keys: K.ServerKeys | None = None,
                 data_hwm: int = DATA_HWM_FRAMES, lease_ttl_s: float = DEFAULT_TTL_S,
                 per_client_queue: int = PER_CLIENT_QUEUE, max_clients: int = MAX_CLIENTS, prepare: bool = True):
        self.backend = backend
        self._want_control, self._want_data = any_port(control_addr), any_port(data_addr)
        self.control_addr = self.data_addr = ""
        self.keys, self.data_hwm, self.prepare = keys, data_hwm, prepare
        self.session = secrets.token_hex(8)
        self.lease = Lease(lease_ttl_s)
        self.jobs = FairQueue(per_client_queue, max_clients)
        self.frame_rate_hz = float(getattr(backend, "frame_rate_hz", 0.0) or 0.0)
        self.detector_dtype = getattr(backend, "detector_dtype", "uint16")
        self.pace = bool(getattr(backend, "pace", False))
        self.server_name = getattr(backend, "server_name", f"beamloop-{type(backend).__name__}")
        self._knob_list: list[dict] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._pubq: queue.Queue = queue.Queue(maxsize=64)
        self._seq = 0
        self._pattern: S.Stream | None = None
        self._twin_stream: S.Stream | None = None
        self._t_start = time.time()
        self._inproc = f"inproc://replies-{secrets.token_hex(6)}"
        self._auth: list = []
        self.stats = {"requests": 0, "bad_requests": 0, "busy": 0, "not_owner": 0, "subscriptions_refused": 0,
                      "lease_expiries": 0, "restores_verified": 0}
        self._subs = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._urgent: list = []

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout_s: float = 120.0) -> "InstrumentServer":
        """Bind both sockets, connect the backend, start the threads; return once serving.
        Raises ``zmq.ZMQError`` (address in use), :class:`~.keys.InsecureBindError`, or the
        backend's connect error, with nothing left bound."""
        K.check_bind(self._want_control, self.keys)
        K.check_bind(self._want_data, self.keys)
        self._ctx_ctrl, self._ctx_data = zmq.Context(), zmq.Context()
        try:
            self._bind()
        except BaseException:
            self._close_sockets()
            raise
        self._threads = [threading.Thread(target=self._backend_thread, name="srv-backend", daemon=True)]
        self._threads[0].start()
        if not self._ready.wait(timeout_s) or self._start_error is not None:
            err = self._start_error or TimeoutError(f"backend did not connect within {timeout_s} s")
            self.stop()
            raise err
        for target, name in ((self._control_loop, "srv-control"), (self._publisher_loop, "srv-publisher")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        log.info("%s serving control %s data %s session %s%s", self.server_name, self.control_addr, self.data_addr,
                 self.session, " (CURVE)" if self.keys else "")
        return self

    def _bind(self) -> None:
        if self.keys is not None:
            self._auth = [K.start_authenticator(c, self.keys) for c in (self._ctx_ctrl, self._ctx_data)]
        pub = self._pub = self._ctx_data.socket(zmq.XPUB)
        pub.setsockopt(zmq.SNDHWM, self.data_hwm)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.XPUB_MANUAL, 1)       # we admit each subscription ourselves
        pub.setsockopt(zmq.MAXMSGSIZE, MAX_SUB_BYTES)
        if self.keys is not None:
            K.apply_server(pub, self.keys)
        pub.bind(self._want_data)
        self.data_addr = pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        r = self._router = self._ctx_ctrl.socket(zmq.ROUTER)
        r.setsockopt(zmq.LINGER, 0)
        r.setsockopt(zmq.ROUTER_MANDATORY, 0)
        r.setsockopt(zmq.ROUTER_HANDOVER, 1)     # a client that reconnects keeps its identity (and lease)
        r.setsockopt(zmq.MAXMSGSIZE, MAX_CONTROL_BYTES)
        r.setsockopt(zmq.RCVHWM, CONTROL_HWM)
        r.setsockopt(zmq.SNDHWM, CONTROL_HWM)
        if self.keys is not None:
            K.apply_server(r, self.keys)
        r.bind(self._want_control)
        self.control_addr = r.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._pull = self._ctx_ctrl.socket(zmq.PULL)
        self._pull.bind(self._inproc)

    def _push_socket(self) -> zmq.Socket:
        s = self._ctx_ctrl.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self._inproc)
        return s

    def _close_sockets(self) -> None:
        for name in ("_router", "_pub", "_pull"):
            sock = getattr(self, name, None)
            if sock is not None:
                sock.close(linger=0)
                setattr(self, name, None)
        for a in self._auth:
            try:
                a.stop()
            except Exception:  # noqa: BLE001
                pass
        self._auth = []

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads, close the backend and the sockets (idempotent)."""
        self._stop.set()
        if self._loop is not None and self._wake is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass
        alive = []
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)
                if t.is_alive():
                    alive.append(t.name)
        if alive:  # closing a socket under a running thread crashes libzmq: leave them to the process exit
            log.error("server threads %s did not stop within %.1f s; sockets left open", alive, timeout)
            return
        self._close_sockets()
        for c in ("_ctx_ctrl", "_ctx_data"):
            ctx = getattr(self, c, None)
            if ctx is not None:
                ctx.destroy(linger=0)   # every owning thread has ended: safe to close what is left
                setattr(self, c, None)
        for addr in (self.control_addr, self.data_addr):
            if addr.startswith("ipc://"):
                try:
                    os.unlink(addr[len("ipc://"):])
                except OSError:
                    pass

    def serve_forever(self) -> None:
        """Start (if needed) and block until :meth:`stop` or KeyboardInterrupt."""
        if not self._threads:
            self.start()
        try:
            while not self._stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> "InstrumentServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def next_seq(self) -> int:
        return self._seq

    # --- control thread ------------------------------------------------------------------------
    def _control_loop(self) -> None:
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
                for _ in range(1000):
                    try:
                        parts = self._router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self._on_control(parts)
                    except Exception:  # noqa: BLE001 - the server must outlive any request
                        log.exception("control message handling failed")
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

    # --- backend thread --------------------------------------------------------------------------
    def _wake_backend(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _submit_urgent(self, job: tuple) -> None:
        self._urgent.append(job)
        self._wake_backend()

    def _backend_thread(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._backend_main())
        except BaseException as exc:  # noqa: BLE001
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:
                log.exception("backend thread failed")
        finally:
            try:
                loop.run_until_complete(self.backend.close())
            except Exception:  # noqa: BLE001
                log.exception("backend close failed")
            loop.close()

    async def _backend_main(self) -> None:
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()
        await self.backend.connect()
        if self.prepare and hasattr(self.backend, "prepare"):
            await asyncio.to_thread(self.backend.prepare)
        knobs = await self.backend.knobs()
        self._knob_list = [{"name": k.name, "unit": k.unit, "minimum": k.minimum, "maximum": k.maximum,
                            "aberration": k.aberration} for k in knobs.values()]
        self._push = self._push_socket()   # replies from this thread
        self._ready.set()
        while not self._stop.is_set():
            if self._urgent:
                job = self._urgent.pop(0)
                await self._restore(job[1])
                continue
            item = self.jobs.get(timeout=0)
            if item is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.05)
                except TimeoutError:
                    pass
                continue
            client, (req, envelope) = item
            try:
                rep = await self._job(req, envelope, client)
            except P.ProtocolError as exc:
                rep = P.error_reply(req.id, exc.code, exc.detail, time.time())
            except KnobLimitError as exc:
                rep = P.error_reply(req.id, P.KNOB_LIMIT, str(exc), time.time(), knob=exc.knob,
                                    value=_wire_float(exc.value), minimum=exc.minimum, maximum=exc.maximum)
            except UnknownKnobError as exc:
                rep = P.error_reply(req.id, P.UNKNOWN_KNOB, str(exc), time.time(), knob=str(exc))
            except Exception as exc:  # noqa: BLE001 - never let a request kill the server
                log.exception("command %s failed", req.cmd)
                rep = P.error_reply(req.id, P.INTERNAL, f"{req.cmd} failed: {type(exc).__name__}: {exc}", time.time())
            if rep is not None:
                self._push.send_multipart(envelope + [P.encode_reply(rep)])
        self._push.close(linger=0)

    def _t_instr(self) -> float:
        f = getattr(self.backend, "instrument_time", None)
        return float(f()) if f is not None else time.time()

    async def _restore(self, expired) -> None:
        """The dead-man: put the knobs back to the values at lease start and read them back."""
        try:
            async with self._io:
                await self.backend.set(dict(expired.start_values))
                back = await self.backend.get(list(expired.start_values))
            ok = all(abs(back[k] - v) <= 1e-12 + 1e-9 * abs(v) for k, v in expired.start_values.items())
            if ok:
                self.stats["restores_verified"] += 1
            log.warning("dead-man restore %s: read back %s", "verified" if ok else "MISMATCH", back)
        except Exception:  # noqa: BLE001
            log.exception("dead-man restore FAILED")
        await self._stop_streams()

    async def _stop_streams(self) -> None:
        self._twin_stream = None
        self._pubq.put(("pattern_stop",))

    async def _take_lease(self, client: str, ttl: float | None, req: P.Request) -> P.Reply | None:
        """Make sure ``client`` holds the lease (taking it if free); a refusal reply otherwise."""
        if self.lease.holder() == client and ttl is None:
            return None
        async with self._io:
            start = await self.backend.get()
        granted, st = self.lease.try_take(client, ttl, start)
        if not granted:
            self.stats["not_owner"] += 1
            return P.error_reply(req.id, P.NOT_OWNER, f"{req.cmd}: another client holds the lease on the knobs "
                                 f"(expires in {st.ttl_s - (time.monotonic() - st.t_seen):.1f} s unless renewed); "
                                 "this client is read-only", time.time())
        return None

    async def _job(self, req: P.Request, envelope: list[bytes], client: str) -> P.Reply | None:
        a = req.args
        ok = lambda **result: P.Reply(id=req.id, ok=True, result=result, t=time.time())  # noqa: E731
        if req.cmd in P.WRITE_COMMANDS or req.cmd == "lease":
            refusal = await self._take_lease(client, a.get("ttl_s") if req.cmd == "lease" else None, req)
            if refusal is not None:
                return refusal
        if req.cmd == "lease":
            return ok(granted=True, **{k: v for k, v in self.lease.describe().items() if k != "owner"})
        if req.cmd == "release":
            keep = a.get("keep", True)
            st = self.lease.state
            if st is None or st.owner != client:
                return ok(released=False)
            if keep is False:
                async with self._io:
                    await self.backend.set(dict(st.start_values))
            self.lease.release(client)
            return ok(released=True, kept=keep is not False)
        if req.cmd == "get":
            names = a.get("names")
            if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
                raise P.ProtocolError(P.BAD_ARGUMENT, f"get: 'names' must be a list of strings or nil, got {names!r}")
            async with self._io:
                values = await self.backend.get(names)
            return ok(values=values, t_twin=self._t_instr())
        if req.cmd == "set":
            if "values" not in a:
                raise P.ProtocolError(P.BAD_ARGUMENT, "set: missing argument 'values' (map of knob name -> SI value)")
            values = P.check_state_map(a["values"], "set: 'values'", req.id, code=P.BAD_ARGUMENT)
            async with self._io:
                applied = await self.backend.set(values)
            return ok(values=applied, t_twin=self._t_instr())
        if req.cmd == "state":
            async with self._io:
                values = await self.backend.get()
            st = self._pattern or self._twin_stream
            stream = {"active": st is not None, **(st.describe() if st else {})}
            lease = self.lease.describe()
            lease["yours"] = lease.pop("owner", None) == client
            return ok(knobs=values, t_twin=self._t_instr(), next_seq=self._seq, session=self.session, stream=stream,
                      uptime_s=time.time() - self._t_start, lease=lease)
        if req.cmd == "acquire":
            async with self._io:
                frame = await self.backend.acquire()
            self._pubq.put(("frame", frame, client, req.id, envelope))
            return None  # the publisher replies after the frame is out
        if req.cmd == "stream":
            st: S.Stream = a["_parsed"]
            if self._pattern is not None or self._twin_stream is not None:
                return P.error_reply(req.id, P.BUSY, "stream: a stream is already running; send stream_stop first", time.time())
            if st.source == "pattern":
                self._pattern = st
                self._pubq.put(("pattern", st))
            else:
                self._twin_stream = st
                asyncio.get_running_loop().create_task(self._run_twin_stream(st))
            return ok(started=True, source=st.source, count=st.count, rate_hz=st.rate_hz, dtype=st.dtype, shape=list(st.shape))
        if req.cmd == "stream_stop":
            await self._stop_streams()
            return ok(stopped=True)
        raise P.ProtocolError(P.UNKNOWN_COMMAND, f"unknown command {req.cmd!r}")  # pragma: no cover

    async def _run_twin_stream(self, st: S.Stream) -> None:
        """Instrument frames at ``st.rate_hz`` (a camera slower than asked simply runs slower)."""
        st.t_start = time.perf_counter()
        period = 1.0 / st.rate_hz
        try:
            while self._twin_stream is st and not self._stop.is_set() and (not st.count or st.sent < st.count):
                async with self._io:   # FIFO lock: clients' jobs interleave with stream frames
                    frame = await self.backend.acquire()
                self._pubq.put(("frame", frame, "", None, None))
                st.sent += 1
                delay = st.t_start + st.sent * period - time.perf_counter()
                if delay < 0:
                    st.t_start -= delay  # re-anchor instead of bursting
                await asyncio.sleep(max(delay, 0.0))
        except Exception:  # noqa: BLE001
            log.exception("instrument stream failed")
        finally:
            if self._twin_stream is st:
                self._twin_stream = None

    # --- publisher thread -------------------------------------------------------------------------
    def _publish(self, image, state: dict, t_acquired: float, request_id: int | None, meta: dict, client: str) -> int:
        seq = self._seq
        h = P.FrameHeader(seq, t_acquired, time.time(), image.dtype.name, image.shape, state, request_id,
                          self.session, meta, client)
        self._pub.send_multipart(P.frame_message(h, image), copy=False)
        self._seq = seq + 1
        return seq

    def _admit_subscriptions(self) -> None:
        for _ in range(256):
            try:
                msg = self._pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not msg:
                continue
            sub, topic = msg[0] == 1, msg[1:]
            if not sub:
                self._subs = max(0, self._subs - 1)   # libzmq already dropped it
                continue
            if not _valid_topic(topic) or self._subs >= MAX_SUBSCRIPTIONS:
                self.stats["subscriptions_refused"] += 1
                continue
            self._pub.setsockopt(zmq.SUBSCRIBE, topic)
            self._subs += 1

    def _publisher_loop(self) -> None:
        push = self._push_socket()
        pattern: list = []
        st: S.Stream | None = None
        try:
            while not self._stop.is_set():
                self._admit_subscriptions()
                try:
                    job = self._pubq.get_nowait() if st is not None else self._pubq.get(timeout=0.005)
                except queue.Empty:
                    job = None
                if job is not None:
                    kind = job[0]
                    if kind == "frame":
                        _, frame, client, rid, envelope = job
                        try:
                            seq = self._publish(frame.image, frame.state, frame.t_acquired, rid, dict(frame.meta), client)
                            rep = P.Reply(rid, True, {"seq": seq, "t_acquired": frame.t_acquired}, t=time.time())
                        except Exception as exc:  # noqa: BLE001
                            log.exception("publishing a frame failed")
                            rep = P.error_reply(rid, P.INTERNAL, f"acquire failed: {type(exc).__name__}: {exc}", time.time())
                        if envelope is not None:
                            push.send_multipart(envelope + [P.encode_reply(rep)])
                    elif kind == "pattern":
                        st = job[1]
                        st.first_seq, st.t_start = self._seq, time.perf_counter()
                        pattern = S.pattern_frames(st)
                    elif kind == "pattern_stop":
                        st = self._pattern = None
                    continue
                if st is None:
                    continue
                now = time.perf_counter()
                n = S.due_frames(st, now)
                for _ in range(n):
                    self._publish(pattern[st.sent % S.PATTERN_POOL], {}, now, None, {"source": "pattern"}, "")
                    st.sent += 1
                if st.count and st.sent >= st.count:
                    st = self._pattern = None
                elif n == 0 and st.rate_hz > 0:
                    wait = st.t_start + st.sent / st.rate_hz - time.perf_counter()
                    if wait > 0:
                        time.sleep(min(wait, 0.001))
        finally:
            push.close(linger=0)


def _wire_float(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return repr(x)
