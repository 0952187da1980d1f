"""Serve any :class:`~beamloop.controller.core.backend.MicroscopeBackend` over the beamloop protocol.

The instrument side of ``docs/protocol.md`` for the twin (``beamloop twin``), a Nion Swift
bridge (``beamloop serve --instrument nion``) or anything else with a backend. This module is the
server's lifecycle (bind, start, stop, session); each thread's work lives in its own module. Three
threads, two ZeroMQ contexts (so the control channel has its own I/O thread, never queued behind frames):

* **control** (context 1, :mod:`.control_channel`): the ROUTER. Decodes every request, answers ``hello``/``heartbeat``/
  ``knobs`` itself at once (never behind a frame), renews the owner's lease, fires the
  dead-man when it expires, and hands everything else to the backend thread through a
  bounded, fair per-client queue (:mod:`.scheduler`; a full queue answers ``BUSY``).
* **backend** (:mod:`.backend_jobs`): an asyncio loop that owns the backend and runs one job at a time (the
  instrument is one column), round-robin over clients; checks the lease for writes.
* **publisher** (context 2, :mod:`.data_publisher`): the XPUB data socket. Publishes acquired frames (to the
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
import os
import queue
import secrets
import threading
import time

import zmq

from beamloop.controller.core.backend import MicroscopeBackend
from beamloop.controller.protocol import keys as K
from beamloop.controller.serve import streams as S
from beamloop.controller.serve.backend_jobs import BackendJobs
from beamloop.controller.serve.control_channel import (  # noqa: F401 - re-export
    CONTROL_HWM,
    FAST_COMMANDS,
    MAX_CONTROL_BYTES,
    ControlChannel,
)
from beamloop.controller.serve.data_publisher import (  # noqa: F401 - re-export
    DATA_HWM_FRAMES,
    MAX_SUB_BYTES,
    MAX_SUBSCRIPTIONS,
    DataPublisher,
)
from beamloop.controller.serve.lease import DEFAULT_TTL_S, Lease
from beamloop.controller.protocol.priority import realtime_context
from beamloop.controller.serve.scheduler import FairQueue

log = logging.getLogger(__name__)

DEFAULT_CONTROL_ADDR = "tcp://127.0.0.1:5555"
DEFAULT_DATA_ADDR = "tcp://127.0.0.1:5556"
PER_CLIENT_QUEUE = 8             # requests waiting per client
MAX_CLIENTS = 64                 # clients with requests waiting


def any_port(addr: str) -> str:
    """Accept ``tcp://host:0`` as "any free port" (ZeroMQ spells it ``*``)."""
    if addr.startswith("tcp://") and addr.endswith(":0"):
        return addr[:-1] + "*"
    return addr


class InstrumentServer(ControlChannel, BackendJobs, DataPublisher):
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
                      "lease_expiries": 0, "restores_verified": 0, "control_realtime": False}
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
        self._ctx_ctrl, self._ctx_data = realtime_context(), zmq.Context()   # control I/O thread: SCHED_RR if allowed
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
