"""The backend side of :class:`~.instrument_server.InstrumentServer` (its ``srv-backend`` thread).

An asyncio loop that owns the backend (connect, prepare, close) and runs one job at a time (the
instrument is one column), round-robin over clients (:mod:`.scheduler`); checks and takes the
lease for writes (:mod:`.lease`), runs the dead-man restore (knobs back to the values at lease
start, then read back), and drives the instrument stream. Acquired frames go to the publisher
thread (:mod:`.data_publisher`), which replies once the frame is out.

Units: SI knob values; times in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from beamloop.controller.core.backend import KnobLimitError, UnknownKnobError
from beamloop.controller.protocol import messages as P
from beamloop.controller.serve import streams as S
from beamloop.controller.serve.control_channel import _wire_float

log = logging.getLogger("beamloop.controller.serve.instrument_server")


class BackendJobs:
    """Mixin of :class:`~.instrument_server.InstrumentServer`: the backend thread's methods."""

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
        if req.cmd in P.SCAN_COMMANDS:
            from beamloop.controller.serve.scan_service import scan_job

            return await scan_job(self, req)
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
