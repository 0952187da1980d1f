"""The data channel of :class:`~.zmq_client.ZmqTwinBackend`: the SUB socket's reader.

Decodes and validates each frame without copying the pixels, counts lost frames from sequence
gaps (numbering restarts with a new instrument session), drops frames routed to another client
(:attr:`wrong_client_frames` must stay 0), hands ``acquire`` frames to their waiters and streamed
frames to :meth:`frames`. Malformed messages are counted and dropped, never raised.

Units: times from ``time.perf_counter()`` in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator

import zmq

from beamloop.controller.core.backend import Frame
from beamloop.controller.instruments.zmq_wire import YIELD_EVERY_S, _to_frame
from beamloop.controller.protocol import messages as P

log = logging.getLogger("beamloop.controller.instruments.zmq_client")


class DataChannel:
    """Mixin of :class:`~.zmq_client.ZmqTwinBackend`: the data reader and the stream iterator."""

    def _bad(self, reason: str) -> None:
        self.bad_messages += 1
        self.last_bad_message = reason
        if self.bad_messages <= 10 or self.bad_messages % 1000 == 0:  # no log flood from a broken peer
            log.warning("dropped malformed message #%d: %s", self.bad_messages, reason)

    async def _data_reader(self) -> None:
        sock = self._data
        sync = zmq.Socket.shadow(sock.underlying)  # drain without a Future per message
        while True:
            parts = await sock.recv_multipart(copy=False)  # sleeps here while the channel is idle
            t_end = time.perf_counter() + YIELD_EVERY_S
            while True:
                try:
                    self._on_data(parts)
                except Exception as exc:  # never let one frame kill the reader
                    self._bad(f"data: {type(exc).__name__}: {exc}")
                if time.perf_counter() > t_end:
                    break
                try:
                    parts = sync.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
            await asyncio.sleep(0)  # let the control reader run while frames pour in

    def _on_data(self, parts: list) -> None:
        try:
            h, image = P.decode_frame(parts)
        except P.ProtocolError as exc:
            self._bad(f"data: {exc}")
            return
        self.frames_received += 1
        self.t_last_frame = time.perf_counter()
        if self.t_first_frame is None:
            self.t_first_frame = self.t_last_frame
        if h.session != self._data_session:  # a new instrument session numbers from 0 again
            self._data_session, self._last_seq = h.session, None
        if self._last_seq is not None and h.seq > self._last_seq + 1:
            self.lost_frames += h.seq - self._last_seq - 1
        self._last_seq = h.seq
        if h.client:
            if h.client != self.client_id:
                self.wrong_client_frames += 1
                return
            fut = self._frame_waiters.pop(h.request_id, None) if h.request_id is not None else None
            if fut is not None and not fut.done():
                fut.set_result((h, image))
        elif self._stream_event is not None and self.stream_consumers:
            self._stream_frames.append(_to_frame(h, image))
            self._stream_event.set()

    stream_consumers = 0

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
                await self._stream_event.wait()
        finally:
            self.stream_consumers -= 1
