"""A twin served on loopback in the background, for the main job, benchmarks and tests.

:func:`start_embedded_twin` runs a :class:`~.twin_server.TwinServer` in a background thread
or (default) a child process, so a job talks to the twin over real sockets. The child is
started as ``python -m beamloop.controller.serve.embedded``: it reads its settings pickled from
stdin, prints ``READY <control> <data>`` (or ``ERROR <reason>``) and serves until stdin closes
(its parent closed it or died).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from beamloop.sim.microscope import Microscope, MicroscopeConfig

DATA_HWM_FRAMES = 4000


def _make_server(config, seed, control_addr, data_addr, pace, prepare, data_hwm, keys_dir, lease_ttl_s):
    from beamloop.controller.protocol.keys import server_keys
    from beamloop.controller.serve.twin_server import TwinServer

    microscope = Microscope(config, seed=seed)
    if prepare:
        microscope.prepare()  # before READY: the caller gets a twin whose first frame is fast
    kw = {"lease_ttl_s": lease_ttl_s} if lease_ttl_s else {}
    keys = server_keys(Path(keys_dir)) if keys_dir else None
    return TwinServer(microscope, control_addr, data_addr, pace=pace, prepare=False, data_hwm=data_hwm,
                      keys=keys, **kw).start()


def _child_main() -> None:
    import pickle

    sys.setswitchinterval(2e-4)  # let the control thread take the GIL quickly from the publisher
    n = int(sys.stdin.buffer.readline())
    args = pickle.loads(sys.stdin.buffer.read(n))
    try:
        server = _make_server(*args)
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
    keys_dir: Path | str | None = None,
    lease_ttl_s: float | None = None,
) -> tuple[str, str, Callable[[], None]]:
    """Serve a twin on loopback in the background; return ``(control_addr, data_addr, stop)``.

    mode: ``"process"`` (a child Python process: its own GIL, can be killed; the default) or
    ``"thread"`` (threads in this process: starts instantly). Ports default to free ones. With
    ``prepare`` the Ronchigram simulator is built before this returns (up to ``timeout_s``).
    keys_dir: CURVE keys (see :mod:`.keys`); lease_ttl_s: the dead-man time. ``stop()`` shuts
    the server down (idempotent); in process mode ``stop.process`` is the ``subprocess.Popen``.
    """
    args = (config, seed, control_addr, data_addr, pace, prepare, data_hwm,
            str(keys_dir) if keys_dir else None, lease_ttl_s)
    if mode == "thread":
        server = _make_server(*args)
        return server.control_addr, server.data_addr, server.stop
    if mode != "process":
        raise ValueError(f"start_embedded_twin: mode must be 'process' or 'thread', got {mode!r}")
    import pickle
    import selectors
    import subprocess

    blob = pickle.dumps(args)
    proc = subprocess.Popen([sys.executable, "-m", "beamloop.controller.serve.embedded"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False)
    proc.stdin.write(f"{len(blob)}\n".encode() + blob)
    proc.stdin.flush()
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
        why = line.decode(errors="replace").strip() or f"no answer within {timeout_s} s"
        raise RuntimeError(f"embedded twin did not start: {why!r}")

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
