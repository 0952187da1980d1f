"""Scheduling priority for the control path of the link, instrument and client side (best effort).

The control channel must answer within a few ms while the data channel runs flat out and
other jobs share the CPUs. Holding the GIL is not the problem (the server sets a 0.2 ms switch
interval); waiting for a CPU is: at a load of 4 on 2 cores a woken thread can wait several ms
for its turn. The control thread and the control context's ZeroMQ I/O thread are idle almost
all the time, so they may safely run under the real-time round-robin policy (``SCHED_RR``,
priority :data:`CONTROL_RT_PRIORITY`): they preempt ordinary threads the moment a request
arrives, and cannot hog a CPU (each request is a few tens of microseconds; Linux also caps
real-time threads at 95 % of a CPU). The publisher and the backend stay ordinary threads.

Needs ``CAP_SYS_NICE`` (root, or ``setcap cap_sys_nice+ep`` on the interpreter, or an
``rtprio`` limit in ``/etc/security/limits.conf``). Without it nothing changes and the server
runs as before (a debug log line says so). ``BEAMLOOP_NO_RT=1`` turns it off.
"""

from __future__ import annotations

import functools
import logging
import os
import threading

import zmq

log = logging.getLogger(__name__)

CONTROL_RT_PRIORITY = 10   # SCHED_RR priority 1..99 (low: above every ordinary thread, below the kernel's own)


@functools.lru_cache(maxsize=1)
def realtime_allowed() -> bool:
    """Whether this process may put a thread under SCHED_RR (probed once in a throwaway thread)."""
    if os.environ.get("BEAMLOOP_NO_RT") or not hasattr(os, "sched_setscheduler"):
        return False
    ok: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(CONTROL_RT_PRIORITY))
            ok.append(True)
        except (OSError, AttributeError):
            ok.append(False)

    t = threading.Thread(target=probe, name="rt-probe", daemon=True)
    t.start()
    t.join(2.0)
    return bool(ok and ok[0])


def raise_this_thread() -> bool:
    """Put the calling thread under SCHED_RR if allowed; return whether it is."""
    if not realtime_allowed():
        log.debug("real-time priority not permitted: the control thread stays an ordinary thread")
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(CONTROL_RT_PRIORITY))  # 0: this thread (Linux)
        return True
    except OSError as exc:
        log.debug("SCHED_RR refused for the control thread: %s", exc)
        return False


def realtime_context() -> zmq.Context:
    """A ZeroMQ context whose I/O thread runs under SCHED_RR if allowed (ordinary otherwise).

    libzmq aborts the process if it cannot apply a scheduling policy it was given, so the
    options are set only after :func:`realtime_allowed` proved the permission."""
    ctx = zmq.Context()
    if realtime_allowed():
        ctx.set(zmq.THREAD_SCHED_POLICY, os.SCHED_RR)
        ctx.set(zmq.THREAD_PRIORITY, CONTROL_RT_PRIORITY)
    return ctx


@functools.lru_cache(maxsize=1)
def realtime_asyncio_context():
    """The client's control context (``zmq.asyncio``), shared by every client in this process; its
    I/O thread carries only control messages, so it may run under SCHED_RR (if allowed)."""
    import zmq.asyncio

    ctx = zmq.asyncio.Context()
    if realtime_allowed():
        ctx.set(zmq.THREAD_SCHED_POLICY, os.SCHED_RR)
        ctx.set(zmq.THREAD_PRIORITY, CONTROL_RT_PRIORITY)
    return ctx
