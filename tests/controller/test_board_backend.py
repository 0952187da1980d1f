"""BoardBackend: SI knobs over the board driver and the Python board model."""

from __future__ import annotations

import asyncio

import pytest

from beamloop.controller.core.backend import BackendError, KnobLimitError, UnknownKnobError
from beamloop.controller.instruments.board_driver import BoardLink, model_streams
from beamloop.controller.instruments.board import BoardBackend, DacCalibration
from beamloop.firmware.board_model import BoardConfig, BoardModel

CALS = [DacCalibration("objective_focus", 0, "m", 1e-9, 32768, "C10"),
        DacCalibration("stig_x", 1, "m", -2e-10, 32768, "C12.x")]


def _backend(model):
    r, w = model_streams(model)
    return BoardBackend(BoardLink(r, w), CALS)


def test_knobs_set_get_and_refusals():
    async def run():
        m = BoardModel(BoardConfig(hw_min=1000, hw_max=60000, hw_step=4096))
        b = _backend(m)
        k = await b.knobs()
        assert k["objective_focus"].minimum == pytest.approx((1000 - 32768) * 1e-9)
        assert k["stig_x"].minimum < k["stig_x"].maximum           # negative scale sorted
        got = await b.set({"objective_focus": 2e-6, "stig_x": -1e-7})
        assert got["objective_focus"] == pytest.approx(2e-6)
        assert m.channels[0].target == 32768 + 2000 and m.channels[1].target == 32768 + 500
        with pytest.raises(KnobLimitError):
            await b.set({"objective_focus": 1.0})                     # beyond the limits
        with pytest.raises(KnobLimitError):
            await b.set({"objective_focus": 2e-6 + 5000e-9})          # step too large
        with pytest.raises(KnobLimitError):
            await b.set({"objective_focus": float("nan")})
        with pytest.raises(UnknownKnobError):
            await b.get(["C30"])
        assert m.channels[0].target == 32768 + 2000                  # nothing applied
        with pytest.raises(BackendError, match="camera"):
            await b.acquire()
    asyncio.run(run())


def test_rollback_when_board_refuses_midway():
    async def run():
        m = BoardModel(BoardConfig())
        b = _backend(m)
        orig_set = b.link.set_dac
        calls = []

        async def flaky(ch, v):
            calls.append(ch)
            if len(calls) == 2:
                m.wd_tripped = True                                   # board trips between the two writes
            return await orig_set(ch, v)
        b.link.set_dac = flaky
        with pytest.raises(BackendError, match="WATCHDOG_HOLD"):
            await b.set({"objective_focus": 1e-6, "stig_x": 1e-8})
    asyncio.run(run())
