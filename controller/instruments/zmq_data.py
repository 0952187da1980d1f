"""The data channel of :class:`~.zmq_client.ZmqTwinBackend`: frames received in their own thread.

A :class:`FrameReceiver` thread owns the SUB socket and its own ZeroMQ context (its own I/O
thread), so 10,000 frames/s are received and decoded outside the caller's event loop: a control
reply never waits behind a batch of frames (docs/protocol.md, "Link benchmark"). The thread
decodes and validates each frame without copying the pixels, counts lost frames from sequence
gaps (numbering restarts with a new instrument session), drops frames routed to another client
(:attr:`wrong_client_frames` must stay 0), hands ``acquire`` frames to their waiters (matched by
client id and request id, resolved in the loop with ``call_soon_threadsafe``) and streamed frames
to :meth:`DataChannel.frames` (the loop is woken only when a consumer waits). Malformed messages
are counted and dropped, never raised.

The receiver and its context's I/O thread run ``RECEIVER_NICE_DELTA`` nicer than the process and
step aside (``PARK_MAX_S``) while a control request is in flight: under a full CPU the control
reply is never queued behind frame decoding nor behind the GIL held by a preempted receiver.

Units: times from ``time.perf_counter()`` in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from typing import AsyncIterator, Callable

import zmq

from beamloop.controller.core.backend import ConnectionLostError, Frame
from beamloop.controller.instruments.zmq_wire import _to_frame
from beamloop.controller.protocol import messages as P

log = logging.getLogger("beamloop.controller.instruments.zmq_client")

POLL_S = 0.02                 # the receiver looks at its stop flag at least this often (s)
START_TIMEOUT_S = 5.0         # the receiver thread must have connected its socket within this (s)
GIL_SWITCH_S = 2e-4           # the loop thread takes the GIL from the receiver within about this (s)
PARK_MAX_S = 3e-3             # the receiver steps aside for a control round trip at most this long (s)
RECEIVER_NICE_DELTA = 5       # the receiver and its ZeroMQ I/O thread run this much nicer than the process
MAX_DRAIN = 256               # frames taken in one go before the receiver looks at its stop flag again


def _new_threads(before: set[str]) -> list[int]:
    """Linux thread ids of this process that are not in ``before`` (``/proc/self/task``); [] elsewhere."""
    try:
        return [int(t) for t in set(os.listdir("/proc/self/task")) - before]
    except OSError:
        return []


def _task_ids() -> set[str]:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


def make_nicer(tids: list[int], delta: int = RECEIVER_NICE_DELTA) -> int:
    """Raise the nice value of threads ``tids`` by ``delta`` (needs no privilege); return how many changed.

    Bulk data work then yields the CPU to the control path when the cores are busy (the event loop
    answering control replies, the real-time control threads), while still using any idle CPU."""
    done = 0
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + delta))
            done += 1
        except (OSError, AttributeError):
            pass
    return done


class ReceiverError(ConnectionLostError):
    """The data-channel receiver thread could not open or connect its socket."""


class FrameReceiver(threading.Thread):
    """The data-channel thread of one backend: SUB socket, decode, validate, dispatch.

    ``on_message(parts)`` is called in this thread for every message (it must not raise; the
    backend's :meth:`DataChannel._on_data`). ``setup(socket)`` configures the socket (options,
    keys, subscriptions) before it connects to ``addr``. Daemon thread: never keeps the
    interpreter alive; :meth:`stop` ends it and closes the socket and context.
    """

    def __init__(self, addr: str, setup: Callable[[zmq.Socket], None], on_message: Callable[[list], None],
                 name: str = "zmq-data-receiver"):
        super().__init__(name=name, daemon=True)
        self.addr, self._setup, self._on_message = addr, setup, on_message
        self._stop_flag = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.niced = 0   # threads (this one, the context's I/O and reaper threads) made nicer

    def start_and_wait(self) -> None:
        """Start the thread and wait until its socket is connected; :class:`ReceiverError` if not."""
        if sys.getswitchinterval() > GIL_SWITCH_S:
            # receiver and event loop share the GIL: with the default 5 ms a busy receiver could
            # hold a control reply back for 5 ms (the instrument server uses the same value)
            sys.setswitchinterval(GIL_SWITCH_S)
        self.start()
        if not self._ready.wait(START_TIMEOUT_S):
            self.stop()
            raise ReceiverError(f"data receiver for {self.addr} did not start within {START_TIMEOUT_S} s")
        if self._error is not None:
            raise ReceiverError(f"data receiver for {self.addr}: {type(self._error).__name__}: {self._error}") from self._error

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Ask the thread to end and wait up to ``timeout_s`` (it looks every ``POLL_S``); True if it ended."""
        self._stop_flag.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)
        return not self.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop_flag.is_set()

    def run(self) -> None:
        self.niced = make_nicer([threading.get_native_id()])
        before = _task_ids()
        ctx = zmq.Context(io_threads=1)
        sock = None
        try:
            try:
                sock = ctx.socket(zmq.SUB)   # starts the context's I/O (and reaper) thread
                self.niced += make_nicer(_new_threads(before))
                self._setup(sock)
                sock.connect(self.addr)
            except Exception as exc:  # noqa: BLE001 - reported to start_and_wait
                self._error = exc
                return
            finally:
                self._ready.set()
            self._serve(sock)
        finally:
            if sock is not None:
                sock.close(linger=0)
            ctx.term()

    def _serve(self, sock: zmq.Socket) -> None:
        poll_ms = int(POLL_S * 1000)
        while not self._stop_flag.is_set():
            try:
                if not sock.poll(poll_ms, zmq.POLLIN):
                    continue
                for _ in range(MAX_DRAIN):
                    try:
                        parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._on_message(parts)
            except zmq.ZMQError as exc:
                log.warning("data socket error: %s", exc)
                time.sleep(POLL_S)


def _deliver(fut: asyncio.Future, value) -> None:
    if not fut.done():
        fut.set_result(value)


class DataChannel:
    """Mixin of :class:`~.zmq_client.ZmqTwinBackend`: the receiver thread, frame dispatch, the stream iterator.

    The counters (``frames_received``, ``lost_frames``, ``bad_messages``, times) are written by the
    receiver thread under ``_stats_lock``; read them from anywhere."""

    _ctrl_in_flight = 0          # control requests waiting for their reply (loop thread only)
    _ctrl_gen = 0                # control requests sent so far (loop thread writes, receiver reads)
    _parked_gen = 0              # the last of them the receiver stepped aside for (receiver only)
    parked_s = 0.0               # total time the receiver stepped aside (s)

    def _control_begins(self) -> None:
        """A control request is about to be sent (loop thread): the receiver parks at its next
        frame, without the GIL, until :meth:`_control_ends` or ``PARK_MAX_S``, so the reply finds
        the loop thread free to run; frames wait in ZeroMQ's queue meanwhile (``rcvhwm``)."""
        self._ctrl_in_flight += 1
        self._ctrl_gen += 1
        self._ctrl_idle.clear()

    def _control_ends(self) -> None:
        self._ctrl_in_flight -= 1
        if self._ctrl_in_flight <= 0:
            self._ctrl_in_flight = 0
            self._ctrl_idle.set()

    def _step_aside(self) -> None:
        """Receiver thread, before each frame: park once per control request sent, bounded."""
        gen = self._ctrl_gen
        if gen != self._parked_gen:
            self._parked_gen = gen
            if not self._ctrl_idle.is_set():
                t0 = time.perf_counter()
                self._ctrl_idle.wait(PARK_MAX_S)
                self.parked_s += time.perf_counter() - t0

    def _start_receiver(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stats_lock = getattr(self, "_stats_lock", None) or threading.Lock()
        rx = FrameReceiver(self.data_addr, self._setup_data_socket, self._on_data_safe)
        rx.start_and_wait()   # ReceiverError if its socket cannot connect
        self._receiver = rx

    async def _stop_receiver(self) -> None:
        rx = getattr(self, "_receiver", None)
        self._receiver = None
        if rx is None:
            return
        rx._stop_flag.set()
        deadline = time.monotonic() + 2.0
        while rx.is_alive() and time.monotonic() < deadline:  # without blocking the loop
            await asyncio.sleep(POLL_S / 4)
        if not rx.stop(0.1):
            log.warning("data receiver thread for %s did not end within 2 s (daemon: it dies with the process)",
                        self.data_addr)

    def _setup_data_socket(self, sock: zmq.Socket) -> None:
        sock.setsockopt(zmq.RCVHWM, self.rcvhwm)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 1 << 30)   # no single frame larger than 1 GiB
        if self.keys is not None:
            from beamloop.controller.protocol.keys import apply_client

            apply_client(sock, self.keys)
        sock.setsockopt(zmq.SUBSCRIBE, P.STREAM_TOPIC)
        sock.setsockopt(zmq.SUBSCRIBE, P.acquire_topic(self.client_id))

    def _bad(self, reason: str) -> None:
        """Count and log a dropped message (any thread: takes ``_stats_lock``)."""
        with self._stats_lock:
            self.bad_messages += 1
            self.last_bad_message = reason
            n = self.bad_messages
        if n <= 10 or n % 1000 == 0:  # no log flood from a broken peer
            log.warning("dropped malformed message #%d: %s", n, reason)

    def _on_data_safe(self, parts: list) -> None:
        self._step_aside()
        try:
            self._on_data(parts)
        except Exception as exc:  # never let one frame kill the receiver
            self._bad(f"data: {type(exc).__name__}: {exc}")

    def _on_data(self, parts: list) -> None:
        """One data-channel message (receiver thread): validate, count, dispatch."""
        try:
            h, image = P.decode_frame(parts)
        except P.ProtocolError as exc:
            self._bad(f"data: {exc}")
            return
        with self._stats_lock:
            self.frames_received += 1
            self.t_last_frame = time.perf_counter()
            if self.t_first_frame is None:
                self.t_first_frame = self.t_last_frame
            if h.session != self._data_session:  # a new instrument session numbers from 0 again
                self._data_session, self._last_seq = h.session, None
            if self._last_seq is not None and h.seq > self._last_seq + 1:
                self.lost_frames += h.seq - self._last_seq - 1
            self._last_seq = h.seq
            if h.client and h.client != self.client_id:
                self.wrong_client_frames += 1
                return
        if h.client:
            fut = self._frame_waiters.pop(h.request_id, None) if h.request_id is not None else None
            if fut is not None:
                self._call_in_loop(_deliver, fut, (h, image))
        elif self.stream_consumers:
            self._stream_frames.append(_to_frame(h, image))
            if self._stream_waiting:
                self._stream_waiting = False
                self._call_in_loop(self._stream_event.set)

    def _call_in_loop(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    stream_consumers = 0
    _stream_waiting = False

    async def frames(self) -> AsyncIterator[Frame]:
        """Streamed frames (those not produced by ``acquire``) that arrive while this
        iterator is active (start iterating before ``start_stream``); if the consumer is
        slow the newest ``stream_queue`` frames are kept (gaps show in ``Frame.seq``)."""
        self.stream_consumers += 1
        try:
            while True:
                while self._stream_frames:
                    yield self._stream_frames.popleft()
                self._stream_event.clear()
                self._stream_waiting = True     # the receiver wakes the loop for the next frame
                if self._stream_frames:         # one arrived before the flag was up
                    self._stream_waiting = False
                    continue
                await self._stream_event.wait()
        finally:
            self.stream_consumers -= 1
