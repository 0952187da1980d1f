"""Serve a :class:`~beamloop.sim.microscope.Microscope` over the beamloop protocol.

Two sockets, two threads, so bulk data cannot starve control:

* **control thread**: a ROUTER socket (``control_addr``) answering requests (see
  :mod:`beamloop.controller.protocol.messages`) plus an inproc PULL on which the detector thread
  hands back deferred ``acquire`` replies. It never renders images.
* **detector thread**: owns the PUB socket (``data_addr``); renders and publishes frames
  for ``acquire`` requests and for a running ``stream`` (twin Ronchigrams at the
  microscope's state, or a fixed test pattern for link benchmarks).

Every published frame gets the next data sequence number (0, 1, 2 ... per server
session), so a subscriber counts lost frames from gaps. The microscope is shared under
one lock; images are rendered outside it.

Time: with ``pace=False`` the twin clock advances only by actions (fast, deterministic);
with ``pace=True`` it follows the wall clock (drift while idle) and settle/exposure times
are really waited.

:func:`start_embedded_twin` runs a server in a background thread or a subprocess on
loopback, so a main job talks to the twin over real sockets.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import zmq

from beamloop.controller.protocol import messages as P
from beamloop.sim.microscope import KnobRangeError, Microscope, MicroscopeConfig, UnknownKnobError

log = logging.getLogger(__name__)

DEFAULT_CONTROL_ADDR = "tcp://127.0.0.1:5555"
DEFAULT_DATA_ADDR = "tcp://127.0.0.1:5556"
# PUB send queue per subscriber (frames) before a slow subscriber loses frames: 0.4 s at
# 10,000 frames/s; 128 MB of 128x128 uint16, 1 GB of 512x512. Bounded so a stalled
# consumer cannot exhaust the instrument's memory.
DATA_HWM_FRAMES = 4000
MAX_CONTROL_BYTES = 1 << 20      # largest control message part accepted (bytes)
PATTERN_POOL = 4                 # distinct test-pattern frames cycled by a pattern stream


@dataclass
class _Stream:
    source: str            # "twin" | "pattern"
    rate_hz: float         # 0 = as fast as possible
    count: int             # 0 = until stream_stop
    dtype: str
    shape: tuple[int, ...]
    sent: int = 0
    first_seq: int = -1
    t_start: float = 0.0


class TwinServer:
    """A twin behind a control ROUTER and a data PUB socket.

    control_addr / data_addr: ZeroMQ endpoints to bind (``tcp://127.0.0.1:0`` or
    ``tcp://127.0.0.1:*`` picks a free port; read :attr:`control_addr`/:attr:`data_addr`
    after :meth:`start`). ``pace``: follow wall-clock time (see module docstring).
    ``prepare``: build the Ronchigram simulator in the detector thread at start-up (the
    first ``acquire`` waits for it); off for pure link benchmarks.
    """

    def __init__(
        self,
        microscope: Microscope,
        control_addr: str = DEFAULT_CONTROL_ADDR,
        data_addr: str = DEFAULT_DATA_ADDR,
        *,
        pace: bool = False,
        data_hwm: int = DATA_HWM_FRAMES,
        context: zmq.Context | None = None,
        prepare: bool = True,
    ):
        self.microscope = microscope
        self._want_control, self._want_data = _any_port(control_addr), _any_port(data_addr)
        self.control_addr = self.data_addr = ""
        self.pace = pace
        self.prepare = prepare
        self.data_hwm = data_hwm
        self.session = secrets.token_hex(8)
        self._ctx = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stream: _Stream | None = None
        self._stream_lock = threading.Lock()
        self._seq = 0
        self._t_start = time.time()
        self._wall0 = time.monotonic()
        self._twin0 = microscope.t
        self._inproc = f"inproc://twin-replies-{id(self)}-{secrets.token_hex(4)}"

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> "TwinServer":
        """Bind both sockets and start the threads; returns self once serving.
        Raises ``zmq.ZMQError`` (e.g. address in use) with nothing left bound."""
        try:
            self._bind()
        except BaseException:
            for name in ("_router", "_pub", "_pull", "_push"):
                sock = getattr(self, name, None)
                if sock is not None:
                    sock.close(linger=0)
                    setattr(self, name, None)
            raise
        # sockets are created here but each is used only by its owning thread afterwards
        self._threads = [
            threading.Thread(target=self._control_loop, name="twin-control", daemon=True),
            threading.Thread(target=self._detector_loop, name="twin-detector", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("twin serving control %s data %s session %s", self.control_addr, self.data_addr, self.session)
        return self

    def _bind(self) -> None:
        self._pub = self._ctx.socket(zmq.PUB)
        self._pub.setsockopt(zmq.SNDHWM, self.data_hwm)
        self._pub.setsockopt(zmq.LINGER, 0)
        self._pub.bind(self._want_data)
        self.data_addr = self._pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._router = self._ctx.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self._router.setsockopt(zmq.MAXMSGSIZE, MAX_CONTROL_BYTES)  # ZeroMQ drops the peer of a bigger message
        self._router.bind(self._want_control)
        self.control_addr = self._router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._pull = self._ctx.socket(zmq.PULL)
        self._pull.bind(self._inproc)
        self._push = self._ctx.socket(zmq.PUSH)
        self._push.connect(self._inproc)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the threads and close the sockets."""
        self._stop.set()
        self._jobs.put(None)
        for t in self._threads:
            t.join(timeout)
        for s in ("_router", "_pub", "_pull", "_push"):
            sock = getattr(self, s, None)
            if sock is not None:
                sock.close(linger=0)
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

    def __enter__(self) -> "TwinServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- clock pacing -------------------------------------------------------------------------
    def _sync_clock(self) -> None:
        """(pace) advance the twin clock to wall-clock time; call with the lock held."""
        if self.pace:
            target = self._twin0 + (time.monotonic() - self._wall0)
            if target > self.microscope.t:
                self.microscope.advance(target - self.microscope.t)

    def _wait_clock(self) -> None:
        """(pace) sleep until wall-clock time catches up with the twin clock."""
        if self.pace:
            ahead = (self.microscope.t - self._twin0) - (time.monotonic() - self._wall0)
            if ahead > 0:
                time.sleep(ahead)

    # --- control thread --------------------------------------------------------------------------
    def _control_loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                events = dict(poller.poll(50))
            except zmq.ZMQError:
                break
            if self._pull in events:
                while True:
                    try:
                        parts = self._pull.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._router.send_multipart(parts)
            if self._router in events:
                while True:
                    try:
                        parts = self._router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._on_control(parts)

    def _on_control(self, parts: list[bytes]) -> None:
        # envelope: [identity, payload] from a DEALER, [identity, b"", payload] from a REQ
        if len(parts) >= 2 and parts[1] == b"":
            envelope, body = parts[:2], parts[2:]
        else:
            envelope, body = parts[:1], parts[1:]
        if len(body) != 1:
            rep = P.error_reply(None, P.BAD_MESSAGE, f"control message must have exactly one body part, got {len(body)}", time.time())
            self._router.send_multipart(envelope + [P.encode_reply(rep)])
            return
        try:
            req = P.decode_request(body[0])
        except P.ProtocolError as exc:
            rep = P.error_reply(exc.request_id, exc.code, exc.detail, time.time())
            self._router.send_multipart(envelope + [P.encode_reply(rep)])
            return
        try:
            rep = self._handle(req, envelope)
        except P.ProtocolError as exc:
            rep = P.error_reply(req.id, exc.code, exc.detail, time.time())
        except Exception as exc:  # never let a bad request kill the server
            log.exception("command %s failed", req.cmd)
            rep = P.error_reply(req.id, P.INTERNAL, f"{req.cmd} failed: {type(exc).__name__}: {exc}", time.time())
        if rep is not None:  # None: deferred (acquire), the detector thread replies
            self._router.send_multipart(envelope + [P.encode_reply(rep)])

    def _knob_list(self) -> list[dict[str, Any]]:
        return [
            {"name": s.name, "unit": s.unit, "minimum": s.minimum, "maximum": s.maximum, "aberration": s.aberration}
            for s in self.microscope.knob_specs().values()
        ]

    def _handle(self, req: P.Request, envelope: list[bytes]) -> P.Reply | None:
        m, a = self.microscope, req.args
        ok = lambda **result: P.Reply(id=req.id, ok=True, result=result, t=time.time())  # noqa: E731
        if req.cmd == "heartbeat":
            return ok(session=self.session, uptime_s=time.time() - self._t_start)
        if req.cmd == "hello":
            return ok(
                protocol=P.PROTOCOL_VERSION, server="beamloop-twin", session=self.session, knobs=self._knob_list(),
                data_addr=self.data_addr, frame_rate_hz=m.config.frame_rate_hz, pace=self.pace,
            )
        if req.cmd == "knobs":
            return ok(knobs=self._knob_list())
        if req.cmd == "get":
            names = a.get("names")
            with self._lock:
                self._sync_clock()
                values = m.get_knobs()
                t_twin = m.t
            if names is not None:
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise P.ProtocolError(P.BAD_ARGUMENT, f"get: 'names' must be a list of strings or nil, got {names!r}")
                unknown = [n for n in names if n not in values]
                if unknown:
                    return P.error_reply(req.id, P.UNKNOWN_KNOB, f"get: unknown knob(s) {unknown}; known {sorted(values)}",
                                         time.time(), knobs=unknown)
                values = {n: values[n] for n in names}
            return ok(values=values, t_twin=t_twin)
        if req.cmd == "set":
            if "values" not in a:
                raise P.ProtocolError(P.BAD_ARGUMENT, "set: missing argument 'values' (map of knob name -> SI value)")
            values = P.check_state_map(a["values"], "set: 'values'", req.id, code=P.BAD_ARGUMENT)
            try:
                with self._lock:
                    self._sync_clock()
                    applied = m.set_knobs(values)
                    t_twin = m.t
            except UnknownKnobError as exc:
                return P.error_reply(req.id, P.UNKNOWN_KNOB, str(exc), time.time(), knob=exc.knob)
            except KnobRangeError as exc:
                return P.error_reply(req.id, P.KNOB_LIMIT, str(exc), time.time(), knob=exc.knob,
                                     value=_wire_float(exc.value), minimum=exc.minimum, maximum=exc.maximum)
            self._wait_clock()
            return ok(values=applied, t_twin=t_twin)
        if req.cmd == "state":
            with self._lock:
                self._sync_clock()
                values, t_twin = m.get_knobs(), m.t
            with self._stream_lock:
                st = self._stream
                stream = {"active": st is not None, **({"source": st.source, "sent": st.sent, "first_seq": st.first_seq,
                                                          "count": st.count, "rate_hz": st.rate_hz} if st else {})}
            return ok(knobs=values, t_twin=t_twin, next_seq=self._seq, session=self.session, stream=stream,
                      uptime_s=time.time() - self._t_start)
        if req.cmd == "acquire":
            self._jobs.put(("acquire", envelope, req.id))
            return None
        if req.cmd == "stream":
            st = self._parse_stream(a)
            with self._stream_lock:
                if self._stream is not None:
                    return P.error_reply(req.id, P.BUSY, "stream: a stream is already running; send stream_stop first", time.time())
                self._jobs.put(("stream", st))
            return ok(started=True, source=st.source, count=st.count, rate_hz=st.rate_hz, dtype=st.dtype, shape=list(st.shape))
        if req.cmd == "stream_stop":
            self._jobs.put(("stream_stop",))
            return ok(stopped=True)
        raise P.ProtocolError(P.UNKNOWN_COMMAND, f"unknown command {req.cmd!r}")  # pragma: no cover

    def _parse_stream(self, a: dict) -> _Stream:
        source = a.get("source", "twin")
        if source not in ("twin", "pattern"):
            raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'source' must be 'twin' or 'pattern', got {source!r}")
        rate = a.get("rate_hz", 0.0)
        if not P._is_number(rate) or not math.isfinite(rate) or rate < 0:
            raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'rate_hz' must be a number >= 0 (0 = as fast as possible), got {rate!r}")
        count = a.get("count", 0)
        if type(count) is not int or count < 0:
            raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'count' must be an integer >= 0 (0 = until stream_stop), got {count!r}")
        if source == "pattern":
            size = a.get("size_px", 128)
            if type(size) is not int or not 1 <= size <= 4096:
                raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'size_px' must be an integer in [1, 4096], got {size!r}")
            dtype = a.get("dtype", "uint16")
            if dtype not in P.DTYPES:
                raise P.ProtocolError(P.BAD_ARGUMENT, f"stream: 'dtype' must be one of {sorted(P.DTYPES)}, got {dtype!r}")
            shape: tuple[int, ...] = (size, size)
        else:
            if rate == 0:
                rate = float(self.microscope.config.frame_rate_hz)
            dtype, shape = self.microscope.config.detector_dtype, ()
        return _Stream(source, float(rate), count, dtype, shape)

    # --- detector thread ----------------------------------------------------------------------------
    def _publish(self, image: np.ndarray, state: dict, t_acquired: float, request_id: int | None, meta: dict) -> int:
        seq = self._seq
        h = P.FrameHeader(seq, t_acquired, time.time(), image.dtype.name, image.shape, state, request_id, self.session, meta)
        self._pub.send_multipart(P.frame_message(h, image), copy=False)
        self._seq = seq + 1
        return seq

    def _twin_frame(self, request_id: int | None) -> tuple[int, float]:
        with self._lock:
            self._sync_clock()
            ex = self.microscope.expose()
        image = self.microscope.render(ex)
        P.check_image(image, "twin frame")
        meta = {"source": "twin", "exposure_s": ex.exposure_s, "exposure_seq": ex.seq, "true_aberrations": ex.aberrations}
        seq = self._publish(image, ex.knobs, ex.t, request_id, meta)
        self._wait_clock()
        return seq, ex.t

    def _detector_loop(self) -> None:
        if self.prepare:
            try:
                self.microscope.prepare()  # build the simulator now, not on the first acquire
            except Exception:
                log.exception("twin simulator set-up failed; acquire will report the error")
        pattern: list[np.ndarray] = []
        next_due = 0.0
        while not self._stop.is_set():
            st = self._stream
            try:
                job = self._jobs.get_nowait() if st is not None else self._jobs.get(timeout=0.05)
            except queue.Empty:
                job = False
            if job is None:
                break
            if job:
                kind = job[0]
                if kind == "acquire":
                    _, envelope, rid = job
                    try:
                        seq, t_acq = self._twin_frame(rid)
                        rep = P.Reply(id=rid, ok=True, result={"seq": seq, "t_acquired": t_acq}, t=time.time())
                    except Exception as exc:
                        log.exception("acquire failed")
                        rep = P.error_reply(rid, P.INTERNAL, f"acquire failed: {type(exc).__name__}: {exc}", time.time())
                    self._push.send_multipart(envelope + [P.encode_reply(rep)])
                elif kind == "stream":
                    st = job[1]
                    st.first_seq, st.t_start = self._seq, time.perf_counter()
                    if st.source == "pattern":
                        rng = np.random.default_rng(0)
                        dt = P.DTYPES[st.dtype]
                        hi = 4096 if dt.kind in "ui" else 1.0
                        pattern = [rng.integers(0, hi, st.shape).astype(dt) if dt.kind in "ui"
                                   else rng.random(st.shape).astype(dt) for _ in range(PATTERN_POOL)]
                    next_due = st.t_start
                    with self._stream_lock:
                        self._stream = st
                elif kind == "stream_stop":
                    with self._stream_lock:
                        self._stream = None
                continue
            if st is None:
                continue
            # one step of the running stream
            now = time.perf_counter()
            if st.rate_hz > 0:
                if now < next_due:
                    time.sleep(min(next_due - now, 0.001))
                    continue
                due = int((now - st.t_start) * st.rate_hz) + 1 - st.sent  # frames due by now (burst to catch up)
                if st.source == "twin" and due > 1:
                    # rendering is slower than the frame rate: a camera then simply runs slower;
                    # re-anchor the schedule rather than burst (bursts would starve acquire)
                    st.t_start = now - st.sent / st.rate_hz
                    due = 1
            else:
                due = 64 if st.source == "pattern" else 1
            if st.count:
                due = min(due, st.count - st.sent)
            for _ in range(max(due, 1)):
                if st.source == "pattern":
                    self._publish(pattern[st.sent % PATTERN_POOL], {}, now, None, {"source": "pattern"})
                else:
                    self._twin_frame(None)
                st.sent += 1
            next_due = st.t_start + st.sent / st.rate_hz if st.rate_hz > 0 else now
            if st.count and st.sent >= st.count:
                with self._stream_lock:
                    self._stream = None


def _any_port(addr: str) -> str:
    """Accept ``tcp://host:0`` as "any free port" (ZeroMQ spells it ``*``)."""
    if addr.startswith("tcp://") and addr.endswith(":0"):
        return addr[:-1] + "*"
    return addr


def _wire_float(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return repr(x)


# --- embedded twin ----------------------------------------------------------------------------------

def _child_main() -> None:
    """Entry point of the embedded-twin subprocess (``python -m beamloop.controller.serve.twin_server``).

    Reads a pickled ``(config, seed, control_addr, data_addr, pace, prepare, data_hwm)`` from stdin, prints
    ``READY <control_addr> <data_addr>`` (or ``ERROR <reason>``) on stdout and serves until
    stdin reaches EOF (the parent closed it or died)."""
    import pickle

    sys.setswitchinterval(2e-4)  # let the control thread take the GIL quickly from the detector thread
    n = int(sys.stdin.buffer.readline())
    config, seed, control_addr, data_addr, pace, prepare, data_hwm = pickle.loads(sys.stdin.buffer.read(n))
    try:
        microscope = Microscope(config, seed=seed)
        if prepare:
            microscope.prepare()  # before READY: the caller gets a twin whose first frame is fast
        server = TwinServer(microscope, control_addr, data_addr, pace=pace, prepare=False, data_hwm=data_hwm).start()
    except BaseException as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        raise SystemExit(1)
    print(f"READY {server.control_addr} {server.data_addr}", flush=True)
    try:
        sys.stdin.buffer.read()  # blocks until EOF
    finally:
        server.stop()


def start_embedded_twin(
    config: MicroscopeConfig | None = None,
    *,
    seed: int = 0,
    mode: str = "process",
    control_addr: str = "tcp://127.0.0.1:0",
    data_addr: str = "tcp://127.0.0.1:0",
    pace: bool = False,
    prepare: bool = True,
    data_hwm: int = DATA_HWM_FRAMES,
    timeout_s: float = 120.0,
) -> tuple[str, str, Callable[[], None]]:
    """Serve a twin on loopback in the background; return ``(control_addr, data_addr, stop)``.

    mode: ``"process"`` (a child Python process: its own GIL, can be killed; the
    default) or ``"thread"`` (threads in this process: starts instantly). Ports default to
    free ones. With ``prepare`` the Ronchigram simulator is built before this returns
    (seconds; up to ``timeout_s``). ``stop()`` shuts the server down (idempotent); in process mode
    ``stop.process`` is the ``subprocess.Popen`` (tests kill it to simulate a crash).
    """
    if mode == "thread":
        microscope = Microscope(config, seed=seed)
        if prepare:
            microscope.prepare()
        server = TwinServer(microscope, control_addr, data_addr, pace=pace, prepare=False, data_hwm=data_hwm).start()
        return server.control_addr, server.data_addr, server.stop
    if mode != "process":
        raise ValueError(f"start_embedded_twin: mode must be 'process' or 'thread', got {mode!r}")
    import pickle
    import subprocess

    blob = pickle.dumps((config, seed, control_addr, data_addr, pace, prepare, data_hwm))
    proc = subprocess.Popen(
        [sys.executable, "-m", "beamloop.controller.serve.twin_server"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False,
    )
    proc.stdin.write(f"{len(blob)}\n".encode() + blob)
    proc.stdin.flush()
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    if sel.select(timeout_s):
        line = proc.stdout.readline()
    sel.close()
    words = line.decode(errors="replace").split()
    if not words or words[0] != "READY":
        proc.kill()
        proc.wait(5)
        raise RuntimeError(f"embedded twin did not start within {timeout_s} s: {line.decode(errors='replace').strip()!r}")

    def stop() -> None:
        if proc.poll() is None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    stop.process = proc  # type: ignore[attr-defined]
    return words[1], words[2], stop


if __name__ == "__main__":
    _child_main()
