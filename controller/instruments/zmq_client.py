"""A :class:`MicroscopeBackend` over the beamloop ZeroMQ protocol (asyncio + pyzmq).

Client side of ``docs/protocol.md``: a DEALER on the control channel (request ids,
per-request timeouts, typed errors) and a SUB on the data channel (frames decoded and
validated without copying the pixels). The data channel is received in its own thread with its
own ZeroMQ context (:mod:`.zmq_data`: validates frames, counts lost frames from sequence gaps,
hands ``acquire`` frames to their waiters and streamed frames to :meth:`frames`), so control
replies never queue behind frames in the caller's loop. Two asyncio tasks run in the caller's
loop: the control reader (matches replies to pending requests by id) and the heartbeat.

Errors: out-of-limit ``set`` -> :class:`KnobLimitError` (nothing applied); unknown knob ->
:class:`UnknownKnobError`; no reply within the timeout or a dead peer ->
:class:`ConnectionLostError`; any other error reply -> :class:`RemoteError` with the
protocol ``code``. After a timeout the control socket is recreated (queued, stale
requests are discarded, never delivered late); ZeroMQ reconnects TCP by itself, and the
next request succeeds once the instrument answers again. A ``set`` that timed out may or
may not have been applied: read the knobs back (``get``) after reconnecting; ``set``
takes absolute values, so repeating it is safe.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import threading
import time
from typing import Any

import zmq
import zmq.asyncio

from beamloop.controller.core.backend import (
    BackendError,
    ConnectionLostError,
    Frame,
    KnobInfo,
    MicroscopeBackend,
    UnknownKnobError,
)
from beamloop.controller.instruments.zmq_data import DataChannel
from beamloop.controller.instruments.zmq_scan import ScanClient
from beamloop.controller.instruments.zmq_wire import (  # noqa: F401 - re-export
    NotOwnerError,
    RemoteError,
    _error_from,
    _knob_infos,
    _to_frame,
)
from beamloop.controller.protocol import messages as P
from beamloop.controller.protocol.priority import realtime_asyncio_context

log = logging.getLogger(__name__)


class ZmqTwinBackend(ScanClient, DataChannel, MicroscopeBackend):
    """The twin (or any instrument speaking the protocol) over ZeroMQ; with the scan interface
    (:class:`.zmq_scan.ScanClient`: ``scan_info``, ``move_probe``, ``survey``, ``measure_point``).

    control_addr / data_addr: endpoints of the instrument's ROUTER and PUB sockets.
    timeout_s: reply timeout of control requests (s); acquire_timeout_s: for ``acquire``
    (rendering takes time). heartbeat_s: heartbeat period (0 = no heartbeat task).
    stream_queue: how many streamed frames :meth:`frames` buffers (oldest dropped).
    rcvhwm: frames ZeroMQ may queue on the data socket before pushing back on the
    instrument (whose own queue then drops frames; losses show as sequence gaps).
    context: a ``zmq.asyncio.Context`` for the control socket (default: a shared one whose I/O
    thread runs at real-time priority if permitted); the data socket always has its own context,
    owned by the receiver thread.
    keys: :class:`~beamloop.controller.protocol.keys.ClientKeys` for a CURVE instrument (or None).
    lease_ttl_s: take the lease at :meth:`connect` with this time-to-live (s); None: the first
    write takes it with the instrument's default. The client has a random routing id (:attr:`client_id`), kept
    across reconnects: the instrument routes this client's ``acquire`` frames to it alone and
    ties the lease to it. :meth:`close` releases the lease, keeping the knobs where they are.
    """

    def __init__(
        self,
        control_addr: str,
        data_addr: str,
        timeout_s: float = 2.0,
        *,
        acquire_timeout_s: float = 30.0,
        heartbeat_s: float = 0.5,
        stream_queue: int = 64,
        rcvhwm: int = 4000,
        context: zmq.asyncio.Context | None = None,
        keys=None,
        lease_ttl_s: float | None = None,
    ):
        self.control_addr, self.data_addr = control_addr, data_addr
        self.rcvhwm = rcvhwm
        self.timeout_s, self.acquire_timeout_s, self.heartbeat_s = timeout_s, acquire_timeout_s, heartbeat_s
        # control on its own context: its I/O thread never queues behind frames (SCHED_RR if allowed)
        self._ctrl_ctx = context or realtime_asyncio_context()
        self.keys, self.lease_ttl_s = keys, lease_ttl_s
        self.routing_id = os.urandom(P.CLIENT_ID_BYTES)
        self.client_id = P.client_hex(self.routing_id)
        self.wrong_client_frames = 0   # acquire frames for another client that reached us (must stay 0)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._frame_waiters: dict[int, asyncio.Future] = {}
        self._stream_frames: collections.deque[Frame] = collections.deque(maxlen=stream_queue)
        self._stream_event: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._ctrl: zmq.asyncio.Socket | None = None
        self._receiver = None   # zmq_data.FrameReceiver while connected
        self._stats_lock = threading.Lock()
        self._ctrl_idle = threading.Event()   # set while no control request waits for its reply
        self._ctrl_idle.set()
        self._knobs: dict[str, KnobInfo] = {}
        self.session: str | None = None
        self.connected = False
        self.last_rtt_s: float | None = None
        self.on_state_change = None  # optional callback(connected: bool, reason: str)
        # data-channel statistics
        self.frames_received = 0
        self.lost_frames = 0
        self.bad_messages = 0
        self.last_bad_message = ""
        self.restarts = 0
        self._last_seq: int | None = None
        self._data_session: str | None = None
        self.t_first_frame: float | None = None   # perf_counter() of the first / last frame received
        self.t_last_frame: float | None = None

    def reset_stats(self) -> None:
        """Zero the data-channel counters (frames_received, lost_frames, bad_messages, times)."""
        with self._stats_lock:
            self.frames_received = self.lost_frames = self.bad_messages = 0
            self.t_first_frame = self.t_last_frame = None

    # --- lifecycle ----------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open both sockets, say hello (checks the protocol version, reads the knobs)
        and start the reader and heartbeat tasks. Raises :class:`ConnectionLostError` if
        the instrument does not answer within ``timeout_s``."""
        if self._receiver is None:
            self._stream_event = asyncio.Event()
            self._start_receiver(asyncio.get_running_loop())
        if self._ctrl is None:
            self._new_control_socket()
        res = await self._request("hello", {}, self.timeout_s)
        if res.get("protocol") != P.PROTOCOL_VERSION:
            raise RemoteError(P.VERSION_MISMATCH, f"instrument speaks protocol {res.get('protocol')!r}, we speak {P.PROTOCOL_VERSION}")
        if self.lease_ttl_s is not None:
            await self.lease(self.lease_ttl_s)
        self._knobs = _knob_infos(res.get("knobs"))
        self.session = res.get("session")
        await asyncio.sleep(0.05)  # let the SUB subscription reach the publisher (ZeroMQ "slow joiner")
        if self.heartbeat_s > 0 and not self._tasks:
            self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="zmq-heartbeat"))

    async def release(self, keep: bool = True) -> bool:
        """Give up the lease (``keep``: leave the knobs where they are; False: the instrument puts
        back the values from when the lease was taken). Returns whether a lease was held."""
        res = await self._request("release", {"keep": keep}, min(self.timeout_s, 0.5))
        return bool(res.get("released"))

    async def lease(self, ttl_s: float | None = None) -> dict[str, Any]:
        """Take (or renew) the lease on the knobs; :class:`NotOwnerError` if another client holds it."""
        return await self._request("lease", {} if ttl_s is None else {"ttl_s": float(ttl_s)}, self.timeout_s)

    async def close(self) -> None:
        if self._ctrl is not None and self.connected:
            try:
                await self.release(keep=True)
            except (BackendError, asyncio.CancelledError, zmq.ZMQError):
                pass
        ctrl_task = getattr(self, "_ctrl_task", None)
        if ctrl_task is not None:
            self._tasks.append(ctrl_task)
            self._ctrl_task = None
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        await self._stop_receiver()
        for fut in list(self._pending.values()) + list(self._frame_waiters.values()):
            if not fut.done():
                fut.set_exception(ConnectionLostError("backend closed"))
        self._pending.clear()
        self._frame_waiters.clear()
        if self._ctrl is not None:
            self._ctrl.close(linger=0)
        self._ctrl = None
        self.connected = False  # closed on purpose: not reported as a lost connection

    def _new_control_socket(self) -> None:
        """(Re)create the DEALER and its reader task; anything queued on the old one is dropped."""
        old_task = getattr(self, "_ctrl_task", None)
        if old_task is not None:
            old_task.cancel()
        # replies to requests in flight would arrive on the old socket: fail them now
        for rid, fut in list(self._pending.items()):
            if not fut.done():
                fut.set_exception(ConnectionLostError(
                    f"control link to {self.control_addr} was reset (another request timed out) before request {rid} was answered"
                ))
        self._pending.clear()
        if self._ctrl is not None:
            self._ctrl.close(linger=0)
        s = self._ctrl_ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IMMEDIATE, 1)       # never queue requests for a peer that is not connected
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        s.setsockopt(zmq.ROUTING_ID, self.routing_id)
        if self.keys is not None:
            from beamloop.controller.protocol.keys import apply_client

            apply_client(s, self.keys)
        s.connect(self.control_addr)
        self._ctrl = s
        self._ctrl_task = asyncio.get_running_loop().create_task(self._control_reader(s), name="zmq-control-reader")

    def _set_connected(self, up: bool, reason: str) -> None:
        if up != self.connected:
            self.connected = up
            (log.info if up else log.warning)("instrument %s: %s", "connected" if up else "connection lost", reason)
            if self.on_state_change is not None:
                try:
                    self.on_state_change(up, reason)
                except Exception:  # a display callback must not break the link
                    log.exception("on_state_change callback failed")

    # --- control channel ----------------------------------------------------------------------
    async def _control_reader(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            try:
                parts = await sock.recv_multipart()
            except zmq.ZMQError as exc:
                if sock.closed:
                    return
                log.warning("control socket error: %s", exc)
                await asyncio.sleep(0.01)
                continue
            if len(parts) != 1:
                self._bad(f"control reply with {len(parts)} parts (want 1)")
                continue
            try:
                rep = P.decode_reply(parts[0])
            except P.ProtocolError as exc:
                self._bad(f"control reply: {exc}")
                continue
            fut = self._pending.pop(rep.id, None) if rep.id is not None else None
            if fut is None:
                log.debug("reply to unknown or expired request %r dropped", rep.id)
                continue
            if not fut.done():
                fut.set_result(rep)

    async def _request(self, cmd: str, args: dict[str, Any], timeout_s: float, rid: int | None = None) -> dict[str, Any]:
        if self._ctrl is None:
            raise ConnectionLostError("not connected: call connect() first")
        if rid is None:
            rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._control_begins()   # the data receiver steps aside until the reply is in (bounded)
        payload = P.encode_request(P.Request(rid, cmd, args, time.time()))
        try:
            async with asyncio.timeout(timeout_s):
                sock = self._ctrl
                try:
                    await sock.send(payload)
                except (zmq.ZMQError, asyncio.CancelledError) as exc:
                    # closing the socket (a concurrent timeout reset the link) cancels its send
                    # future; only a cancellation of this task itself must propagate
                    if isinstance(exc, asyncio.CancelledError) and (_cancelling() or not sock.closed):
                        raise
                    raise ConnectionLostError(f"control link to {self.control_addr} was reset while sending {cmd!r}") from None
                rep: P.Reply = await fut
        except TimeoutError:
            self._pending.pop(rid, None)
            self._new_control_socket()  # drop anything still queued: a late, stale command must never arrive
            self._set_connected(False, f"no reply to {cmd!r} within {timeout_s} s")
            raise ConnectionLostError(
                f"instrument at {self.control_addr} did not answer {cmd!r} within {timeout_s} s"
                + ("; the set may or may not have been applied, read the knobs back after reconnecting" if cmd == "set" else "")
            ) from None
        finally:
            self._control_ends()
            self._pending.pop(rid, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # mark retrieved (it may have been failed while we were still sending)
        self._set_connected(True, f"reply to {cmd!r}")
        self.last_reply_t = rep.t  # instrument Unix time of the last reply (diagnostics)
        if rep.ok:
            return rep.result
        raise _error_from(rep.error or {})

    # --- MicroscopeBackend --------------------------------------------------------------------
    async def knobs(self) -> dict[str, KnobInfo]:
        res = await self._request("knobs", {}, self.timeout_s)
        self._knobs = _knob_infos(res.get("knobs"))
        return dict(self._knobs)

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        res = await self._request("get", {"names": names}, self.timeout_s)
        return P.check_state_map(res.get("values"), "get reply 'values'")

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        """Set knobs (SI), all-or-nothing. Limits are checked here first (so a bad value
        never leaves this process) and again by the instrument."""
        if not isinstance(values, dict):
            raise TypeError(f"set: values must be a dict of knob name -> float, got {type(values).__name__}")
        for name, v in values.items():
            if self._knobs and name not in self._knobs:
                raise UnknownKnobError(f"unknown knob {name!r}; this instrument has {sorted(self._knobs)}; nothing applied")
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"set: value for knob {name!r} must be a number (SI), got {v!r}") from None
            if name in self._knobs:
                self._knobs[name].check(v)
        res = await self._request("set", {"values": {k: float(v) for k, v in values.items()}}, self.timeout_s)
        return P.check_state_map(res.get("values"), "set reply 'values'")

    async def acquire(self, retries: int = 2) -> Frame:
        """Ask for one frame at the current settings and wait for it on the data channel.

        A frame lost on the data channel (publisher queue overflow, subscription not yet
        established) is re-requested up to ``retries`` times."""
        for attempt in range(retries + 1):
            rid = next(self._ids)
            waiter = asyncio.get_running_loop().create_future()
            self._frame_waiters[rid] = waiter
            try:
                res = await self._request("acquire", {}, self.acquire_timeout_s, rid=rid)
                seq = res.get("seq")
                try:
                    async with asyncio.timeout(max(1.0, self.timeout_s)):
                        h, image = await waiter
                except TimeoutError:
                    log.warning("frame %s of acquire %d never arrived on the data channel (attempt %d)", seq, rid, attempt + 1)
                    continue
            finally:
                self._frame_waiters.pop(rid, None)
            P.check_image(image, f"frame seq {h.seq}")
            return _to_frame(h, image)
        raise ConnectionLostError(
            f"acquire: the instrument confirmed {retries + 1} exposures but no frame arrived on the data channel {self.data_addr}"
        )

    async def heartbeat(self) -> float:
        t0 = time.perf_counter()
        res = await self._request("heartbeat", {}, self.timeout_s)
        rtt = time.perf_counter() - t0
        self.last_rtt_s = rtt
        sess = res.get("session")
        if self.session is not None and sess != self.session:
            log.warning("instrument restarted (session %s -> %s): its knob state may have changed", self.session, sess)
            self.restarts += 1
        self.session = sess
        return rtt

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.heartbeat()
            except ConnectionLostError:
                pass  # already marked lost; keep trying, the next success marks it up
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the heartbeat must outlive any single failure
                log.warning("heartbeat error: %s: %s", type(exc).__name__, exc)

    # --- extras: state, streaming -----------------------------------------------------------------
    async def state(self) -> dict[str, Any]:
        """The instrument's state: knobs, twin clock, next frame seq, stream status."""
        return await self._request("state", {}, self.timeout_s)

    async def start_stream(self, *, source: str = "twin", rate_hz: float = 0.0, count: int = 0,
                           size_px: int | None = None, dtype: str | None = None) -> dict[str, Any]:
        """Start a frame stream on the data channel (see ``stream`` in docs/protocol.md)."""
        args: dict[str, Any] = {"source": source, "rate_hz": float(rate_hz), "count": int(count)}
        if size_px is not None:
            args["size_px"] = int(size_px)
        if dtype is not None:
            args["dtype"] = dtype
        return await self._request("stream", args, self.timeout_s)

    async def stop_stream(self) -> None:
        await self._request("stream_stop", {}, self.timeout_s)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())


ZmqScanBackend = ZmqTwinBackend   # the name `beamloop explore --microscope` uses: same client, scan commands included
