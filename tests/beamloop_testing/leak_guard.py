"""pytest plugin: a test run must end when its tests end.

A non-daemon thread left running (usim's camera threads, a server thread nobody stopped) keeps
the interpreter alive after the last test, and CI then hangs until its time limit with every test
passed. At the end of the session this plugin waits ``GRACE_S`` for such threads, then names
each one with its stack, marks the run failed and exits the process, so a leak is a clear,
immediate failure instead of a timeout. Idle ``concurrent.futures`` workers are not leaks (the
interpreter wakes and joins them at exit).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

GRACE_S = float(os.environ.get("BEAMLOOP_LEAK_GRACE_S", "10"))
_leaked: list[threading.Thread] = []


def _idle_pool_worker(t: threading.Thread) -> bool:
    """A ``concurrent.futures`` worker waiting for work: the interpreter wakes and joins it at exit."""
    frame = sys._current_frames().get(t.ident)
    return frame is not None and frame.f_code.co_name == "_worker" and \
        frame.f_code.co_filename.replace("\\", "/").endswith("concurrent/futures/thread.py")


def _live_non_daemon() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.daemon and t.is_alive() and not _idle_pool_worker(t)]


def pytest_sessionfinish(session, exitstatus):
    deadline = time.monotonic() + GRACE_S
    while _live_non_daemon() and time.monotonic() < deadline:
        time.sleep(0.1)
    _leaked[:] = _live_non_daemon()
    if not _leaked:
        return
    frames = sys._current_frames()
    lines = [f"leak_guard: {len(_leaked)} non-daemon thread(s) still running {GRACE_S:.0f} s after the last test "
             "(they would keep this process alive):"]
    for t in _leaked:
        lines.append(f"  thread {t.name!r} ({type(t).__module__}.{type(t).__qualname__})")
        stack = frames.get(t.ident)
        if stack is not None:
            lines.extend("    " + ln.rstrip() for ln in traceback.format_stack(stack)[-6:])
    sys.stderr.write("\n".join(lines) + "\n")
    session.exitstatus = 3


def pytest_unconfigure(config):
    if _leaked:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(3)
