"""A guaranteed way back: restore the knobs on Ctrl-C (any number of times), SIGTERM and errors.

Two pieces, both used by ``beamloop align``:

* :class:`WayBack` -- an async context manager around everything that moves knobs. On entry it
  reads every knob; if the body ends with an exception (an error, a cancellation from a
  signal) it sets them back *first* (shielded from further cancellation, before any logging or
  writing that could fail, e.g. on a full disk), reads them back and only then reports
  ``restored`` -- or ``RESTORE NOT CONFIRMED`` with the values read.
* :func:`run_guarded` -- ``asyncio.run`` with SIGINT and SIGTERM handled by the event loop: the
  first signal cancels the main task once (the alignment loop and :class:`WayBack` restore);
  every further signal is *ignored* with a message, so a second Ctrl-C 50 ms later cannot
  interrupt the restore. After the main task has unwound, :class:`Interrupted` is raised.

kill -9 cannot be handled in the process: the instrument server's lease dead-man puts the
knobs back when the controller's heartbeats stop (``controller/serve/lease.py``).
Units: SI knob values.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any, Awaitable, Callable

from beamloop.controller.core.backend import MicroscopeBackend

REL_TOL, ABS_TOL = 1e-6, 1e-15


class Interrupted(Exception):
    """The run was stopped by a signal (``signum``); the way back has been taken."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _say_safely(say: Callable[[str], None], msg: str) -> None:
    try:
        say(msg)
    except Exception:  # noqa: BLE001 - a broken console (closed pipe) must not stop the restore
        pass


class WayBack:
    """Snapshot every knob on entry; on an exception put them back and read them back.

    After exit: ``restored`` (True only if the read-back matched), ``readback`` (values read,
    SI), ``attempted`` (a restore was tried), ``error`` (why a restore failed)."""

    def __init__(self, backend: MicroscopeBackend, say: Callable[[str], None] = print, timeout_s: float = 30.0):
        self.backend, self.say, self.timeout_s = backend, say, timeout_s
        self.snapshot: dict[str, float] = {}
        self.readback: dict[str, float] = {}
        self.attempted = self.restored = False
        self.error: str | None = None

    async def __aenter__(self) -> "WayBack":
        self.snapshot = {k: float(v) for k, v in (await self.backend.get()).items()}
        return self

    async def restore(self) -> bool:
        """Set the snapshot back and read it back (shielded); returns whether it matched."""
        self.attempted = True
        try:
            await asyncio.shield(asyncio.wait_for(self.backend.set(dict(self.snapshot)), self.timeout_s))
            now = await asyncio.shield(asyncio.wait_for(self.backend.get(list(self.snapshot)), self.timeout_s))
            self.readback = {k: float(now[k]) for k in self.snapshot}
            self.restored = all(abs(self.readback[k] - v) <= REL_TOL * abs(v) + ABS_TOL for k, v in self.snapshot.items())
        except BaseException as exc:  # noqa: BLE001 - report below, never mask the original exception
            self.error = f"{type(exc).__name__}: {exc}"
            self.restored = False
        return self.restored

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            return
        await self.restore()
        if self.restored:
            _say_safely(self.say, "knobs restored to their values at the start, read back: "
                        + ", ".join(f"{k} {v * 1e9:.2f} nm" for k, v in self.readback.items()))
        else:
            _say_safely(self.say, f"RESTORE NOT CONFIRMED ({self.error or 'read-back differs'}): wanted {self.snapshot}, "
                        f"read back {self.readback or 'nothing'}")


def run_guarded(main: Callable[[], Awaitable[Any]], say: Callable[[str], None] = print,
                signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Any:
    """Run ``main()`` in a new event loop; SIGINT/SIGTERM cancel it once (see module docstring)."""
    caught: list[int] = []

    async def runner():
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(signum: int) -> None:
            caught.append(signum)
            if len(caught) == 1:
                _say_safely(say, f"{signal.Signals(signum).name}: stopping, putting the knobs back ...")
                task.cancel()
            else:
                _say_safely(say, f"{signal.Signals(signum).name} again: ignored while the knobs are put back "
                            "(the restore is not interrupted)")

        for s in signals:
            loop.add_signal_handler(s, on_signal, s)
        try:
            return await main()
        finally:
            for s in signals:
                loop.remove_signal_handler(s)

    old = {s: signal.getsignal(s) for s in signals}
    try:
        return asyncio.run(runner())
    except asyncio.CancelledError:
        if caught:
            raise Interrupted(caught[0]) from None
        raise
    finally:
        if caught:  # a signal may arrive between the loop closing and here: keep ignoring it
            for s in signals:
                signal.signal(s, signal.SIG_IGN)
            for s, h in old.items():
                signal.signal(s, h)
