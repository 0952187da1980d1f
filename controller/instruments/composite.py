"""A composite instrument: lens/stigmator DACs from the serial board, frames from another backend.

The board (:mod:`.board` on :mod:`.board_driver`) drives the column's lens and stigmator
currents and has no camera; a detector backend (usim through the Nion adapter, the twin, ...)
delivers the Ronchigrams. :class:`CompositeInstrument` joins them so ``beamloop align
--instrument board-usim`` runs with the board *in the command path*: every ``set`` goes to the
board as DAC counts (the board's own limit registers and step limiter refuse what is out of
range, the host refuses first against the profile), and the frame comes from the detector.

On a real column the DAC outputs are wired to the lens supplies. In simulation there is no
wire, so with ``connection.wire: true`` the composite plays it: after the board has accepted a
change, the DAC outputs it *reports back* (``GET_DAC``, converted with the profile's
calibration) are applied to the detector simulator's knobs of the same names - what the
simulator sees is what the board output, quantisation included.

The host keeps the board's watchdog fed (a ``PING`` every quarter of the watchdog timeout)
while connected; a tripped watchdog refuses every write (``WATCHDOG_HOLD``) until resumed.

Profile (``kind: composite``): knob ``control`` is the DAC channel (``dac0`` ... ``dac7``),
``scale`` counts per SI unit, ``offset`` the count at zero; ``connection.detector`` the detector's
profile; ``connection.board``: ``model`` (firmware/board_model.py in-process) or a serial port.
Units: SI at the interface, DAC counts on the wire.
"""

from __future__ import annotations

import asyncio
import time

from beamloop.controller.core.backend import Frame, KnobInfo, KnobLimitError, MicroscopeBackend, UnknownKnobError
from beamloop.controller.instruments.profile import InstrumentProfile


def _channel(control: str) -> int:
    if not (control.startswith("dac") and control[3:].isdigit()):
        raise ValueError(f"composite knob control must be a DAC channel 'dac0'..'dac7', got {control!r}")
    return int(control[3:])


class CompositeInstrument(MicroscopeBackend):
    """Knobs through a :class:`~.board.BoardBackend`, frames (and, with ``wire``, the simulated
    lens) from ``detector``."""

    def __init__(self, profile: InstrumentProfile, board, detector: MicroscopeBackend, wire: bool = False,
                 watchdog_s: float = 1.0):
        self.profile, self.board, self.detector, self.wire = profile, board, detector, wire
        self._knobs = {k.name: k for k in profile.knobs}
        self._hb_period = max(0.05, watchdog_s / 4)
        self._hb_task: asyncio.Task | None = None
        self.heartbeats = 0

    async def connect(self) -> None:
        if hasattr(self.board, "open"):                 # serial port / RTL simulation: opened in the loop
            await self.board.open()
        await self.detector.connect()
        await self.board.link.ping()
        self._hb_task = asyncio.get_running_loop().create_task(self._keepalive())
        if self.wire:                                  # the simulated lens starts where the DACs are
            await self.detector.set(await self.board.get(list(self._knobs)))

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._hb_period)
            try:
                await self.board.link.ping()
                self.heartbeats += 1
            except Exception:  # noqa: BLE001 - the next command reports the link state
                pass

    async def close(self) -> None:
        if self._hb_task is not None:
            self._hb_task.cancel()
            self._hb_task = None
        if hasattr(self.board, "close"):
            await self.board.close()
        await self.detector.close()

    async def knobs(self) -> dict[str, KnobInfo]:
        board = await self.board.knobs()
        out = {}
        for n, k in self._knobs.items():                # the narrower of the profile's and the board's limits
            b = board[n]
            out[n] = KnobInfo(n, k.unit, max(k.minimum, b.minimum), min(k.maximum, b.maximum), k.aberration)
        return out

    async def get(self, names: list[str] | None = None) -> dict[str, float]:
        return await self.board.get(names)

    async def set(self, values: dict[str, float]) -> dict[str, float]:
        unknown = [n for n in values if n not in self._knobs]
        if unknown:
            raise UnknownKnobError(f"unknown knob(s) {unknown}; this instrument has {sorted(self._knobs)}")
        for n, v in values.items():                     # the profile's limits first, then the board's
            k = self._knobs[n]
            if not (k.minimum <= float(v) <= k.maximum):
                raise KnobLimitError(n, float(v), k.minimum, k.maximum)
        before = await self.board.get(list(values)) if self.wire else {}
        applied = await self.board.set(values)
        if self.wire:
            try:
                await self.detector.set(applied)
            except Exception:                           # keep board and simulated lens in step
                await self.board.set(before)
                raise
        settle = max((self.profile.settle_for(n) for n in values), default=0.0)
        if settle > 0:
            await asyncio.sleep(settle)
        return applied

    async def acquire(self) -> Frame:
        frame = await self.detector.acquire()
        frame.state = {**frame.state, **(await self.board.get(list(self._knobs)))}
        frame.meta = {**frame.meta, "knobs_from": "board"}
        if hasattr(self.board, "stream_frame"):        # RTL in the loop: the frame also goes through the trigger path
            frame.meta["rtl_trigger"] = await self.board.stream_frame(frame.image)
        return frame

    async def heartbeat(self) -> float:
        t0 = time.perf_counter()
        await self.board.link.ping()
        return time.perf_counter() - t0


def open_composite(profile: InstrumentProfile, seed: int = 0, noise: bool | None = None):
    """Board (model or serial port) + the detector instrument named in ``connection.detector``."""
    from beamloop.controller.instruments.board import DacCalibration
    from beamloop.controller.instruments.board_driver import BoardLink, model_streams
    from beamloop.controller.instruments.open import OpenedInstrument, open_instrument

    conn = profile.connection
    if "detector" not in conn:
        raise ValueError(f"profile {profile.name!r}: connection.detector (the detector's profile) is required")
    from beamloop.controller.instruments.profile import load_profile

    det_profile = load_profile(conn["detector"])
    if conn.get("wire"):  # a wire has no step limiter of its own: the board's limits are the ones that count
        det_profile = det_profile.model_copy(update={"knobs": [k.model_copy(update={"max_step": None})
                                                               for k in det_profile.knobs]})
    det = open_instrument(det_profile, seed=seed, noise=noise)
    missing = [k.name for k in profile.knobs if k.name not in det.profile.knob_infos()] if conn.get("wire") else []
    if missing:
        det.close()
        raise ValueError(f"profile {profile.name!r}: wire needs detector knobs {missing} in {det.profile.name!r}")
    cals = [DacCalibration(k.name, _channel(k.control), k.unit, 1.0 / k.scale, int(round(k.offset)), k.aberration)
            for k in profile.knobs]
    board_spec = conn.get("board", "model")
    if board_spec == "model":
        from beamloop.firmware.board_model import BoardConfig, BoardModel

        model = BoardModel(BoardConfig(**conn.get("board_config", {})))

        async def link():  # the in-memory streams belong to the event loop that connects
            return BoardLink(*model_streams(model))
        wd = model.config.wd_timeout_s
        note = f"board model (firmware/board_model.py) in the command path, frames from {det.profile.name}"
    elif board_spec == "rtl":  # beamloop_top in Icarus (cocotb), UART on a socket: controller/instruments/hil.py
        from beamloop.controller.instruments.hil import RTL_PARAMS, WALL_S_PER_SIM_US, RtlBoard

        rtl_board = RtlBoard(cals, conn.get("rtl_params"), warm_up=det.backend)
        wd = {**RTL_PARAMS, **(conn.get("rtl_params") or {})}["WD_TIMEOUT"] / 100 * WALL_S_PER_SIM_US
        note = f"RTL beamloop_top (Icarus) in the command path, frames from {det.profile.name}"
    else:
        async def link():
            return await BoardLink.open_serial(board_spec, conn.get("baud"))
        wd, note = float(conn.get("watchdog_s", 1.0)), f"board on {board_spec}, frames from {det.profile.name}"
    board = rtl_board if board_spec == "rtl" else _LazyBoard(link, cals)
    inst = CompositeInstrument(profile, board, det.backend, wire=bool(conn.get("wire", False)), watchdog_s=wd)
    return OpenedInstrument(inst, profile, det.oracle, list(det.closers), note=note)


class _LazyBoard:
    """A :class:`~.board.BoardBackend` whose link (serial port or in-memory model streams) is opened at
    connect, inside the event loop that will use it."""

    def __init__(self, make_link, cals):
        self._make_link, self.cals, self._b = make_link, cals, None

    async def open(self) -> None:
        from beamloop.controller.instruments.board import BoardBackend

        self._b = BoardBackend(await self._make_link(), self.cals)

    def __getattr__(self, name):
        if name.startswith("_") or self._b is None:
            raise AttributeError(f"{name}: the board is not open yet (connect first)")
        return getattr(self._b, name)
