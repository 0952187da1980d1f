"""The data channel of :class:`~.instrument_server.InstrumentServer` (its ``srv-publisher`` thread).

Owns the XPUB socket: publishes acquired frames (to the requesting client's topic only, then
replies to the acquire), instrument and test-pattern streams, assigns sequence numbers, and admits
subscriptions itself (``XPUB_MANUAL``: only the stream topic and well-formed acquire topics, at most
:data:`MAX_SUBSCRIPTIONS` at once).
The publisher thread runs at a higher fair-share weight when permitted (:func:`raise_publisher_thread`).

Units: times in seconds, rates in frames/s.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

import zmq

from beamloop.controller.protocol import messages as P
from beamloop.controller.serve import streams as S

log = logging.getLogger("beamloop.controller.serve.instrument_server")

DATA_HWM_FRAMES = 4000           # per-subscriber send queue (frames): 0.4 s at 10 kframes/s
MAX_SUB_BYTES = 1024             # largest data-channel message a peer may send (subscriptions; the CURVE handshake needs ~300 B)
MAX_SUBSCRIPTIONS = 1024         # subscriptions admitted on the data channel at once
PUBLISHER_NICE_DELTA = -5        # the publisher runs this much less nice than the process, if permitted
ADMIT_EVERY_S = 1e-3             # the publisher looks at new subscriptions this often while streaming (s)


def _valid_topic(topic: bytes) -> bool:
    if topic == P.STREAM_TOPIC:
        return True
    body = topic[1:]
    return (topic[:1] == P.ACQUIRE_TOPIC_PREFIX and 2 <= len(body) <= 64
            and all(c in b"0123456789abcdef" for c in body))


def raise_publisher_thread(delta: int = PUBLISHER_NICE_DELTA) -> bool:
    """Make the calling (publisher) thread ``-delta`` less nice if permitted (``CAP_SYS_NICE``; off with
    ``BEAMLOOP_NO_RT=1``); return whether it changed.

    The publisher holds the GIL for most of its work; when the CPUs are full and it is preempted while
    holding it, the real-time control thread waits for the GIL until the publisher runs again
    (priority inversion: the GIL does not inherit priority). A higher weight keeps it from waiting
    for a CPU for long; it stays an ordinary (fair-share) thread, so it cannot starve anything."""
    if os.environ.get("BEAMLOOP_NO_RT") or not hasattr(os, "setpriority"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(-20, os.getpriority(os.PRIO_PROCESS, tid) + delta))
        return True
    except OSError:
        log.debug("the publisher thread stays at the process's nice value (no CAP_SYS_NICE)")
        return False


class DataPublisher:
    """Mixin of :class:`~.instrument_server.InstrumentServer`: the publisher thread's methods."""

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
        self.stats["publisher_raised"] = raise_publisher_thread()
        push = self._push_socket()
        pattern: list = []
        st: S.Stream | None = None
        try:
            next_admit = 0.0
            while not self._stop.is_set():
                t_loop = time.perf_counter()
                if t_loop >= next_admit:   # subscriptions at most every ADMIT_EVERY_S: a NOBLOCK recv costs ~8 us
                    self._admit_subscriptions()
                    next_admit = t_loop + ADMIT_EVERY_S
                try:   # while streaming, look at the queue without raising queue.Empty per frame
                    job = (self._pubq.get_nowait() if self._pubq.qsize() else None) if st is not None \
                        else self._pubq.get(timeout=0.005)
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
