"""PyJEM adapter on the PyJEM STAND-IN (not JEOL's PyJEM), its DAC calibration, and the board composite."""

from __future__ import annotations

import asyncio

import pytest

from beamloop.controller.core.backend import KnobLimitError, UnknownKnobError
from beamloop.controller.instruments.open import open_instrument
from beamloop.controller.instruments.pyjem_standin import DEFAULT_RESPONSE, NEUTRAL


def test_pyjem_counts_round_trip_and_refusals():
    opened = open_instrument("pyjem-standin", noise=False)
    col = opened.oracle.column

    async def go():
        b = opened.backend
        await b.connect()
        got = await b.set({"C10": 100e-9, "C12.x": 30.4e-9, "C21.y": 1e-6})
        # DAC counts: 1 nm/count nominal for OLf/OLs, 20 nm/count for CLA2; read-back is the quantised value
        assert col.dac["OLf"] == NEUTRAL + 100 and col.dac["OLs"] == [NEUTRAL + 30, NEUTRAL]
        assert col.dac["CLA2"] == [NEUTRAL, NEUTRAL + 50]
        assert got["C12.x"] == pytest.approx(30e-9)
        truth = opened.oracle.true_aberrations()                 # the hidden response, not the nominal one
        assert truth["C10"] == pytest.approx(100 * DEFAULT_RESPONSE["OLf"]["C10"] + 50 * 0.0, rel=1e-6)
        before = dict(col.dac)
        for bad in ({"C10": 0.0, "C12.y": 2e-6}, {"C10": 1.5e-6}, {"C21.x": float("inf")}):
            with pytest.raises(KnobLimitError):
                await b.set(bad)
        with pytest.raises(UnknownKnobError):
            await b.set({"C30": 0.0})
        assert col.dac == before                                  # nothing applied
        f = await b.acquire()
        assert f.image.shape == (128, 128) and f.meta["counts"]["C10"] == NEUTRAL + 100
        await b.close()
    asyncio.run(go())


def test_dac_calibration_measures_the_stigmators():
    """counts -> metres per stigmator from the network's estimates (hidden truth: 0.93 nm/count)."""
    from beamloop.controller.estimation.inference import default_estimator
    from beamloop.controller.instruments.calibration import calibrate_counts
    from beamloop.controller.instruments.pyjem import PyJEMInstrument

    opened = open_instrument("pyjem-standin", noise=True)

    async def open_backend(profile):
        b = PyJEMInstrument(profile, opened.backend.tem3, opened.backend.detector_module)
        await b.connect()
        return b

    prof, report = asyncio.run(calibrate_counts(opened.profile, open_backend, default_estimator(), repeats=1, iterations=2))
    assert report.frames == 16 and prof.calibrated                  # 2 knobs x 2 steps x 1 repeat x 1 pair (2 frames) x 2 passes
    for name, control in (("C12.x", "OLs.x"), ("C12.y", "OLs.y")):
        true_scale = 1.0 / DEFAULT_RESPONSE[control][name]
        assert prof.knob(name).scale == pytest.approx(true_scale, rel=0.08)   # nominal guess was 7.5 % off
    assert prof.knob("C10").scale == opened.profile.knob("C10").scale        # focus: not self-calibrated


def test_board_in_the_command_path():
    pytest.importorskip("nion.usim_device")
    from beamloop.controller.instruments.profile import load_profile

    p = load_profile("board-usim")
    p = p.model_copy(update={"connection": {**p.connection, "board_config": {"hw_step": 1000}}})  # 1 um steps
    opened = open_instrument(p, noise=False)

    async def go():
        b = opened.backend
        await b.connect()
        try:
            got = await b.set({"C10": 123.4e-9, "C12.y": -20e-9})
            assert got["C10"] == pytest.approx(123e-9)                      # one DAC count = 1 nm
            truth = opened.oracle.true_aberrations()
            assert truth["C10"] == pytest.approx(123e-9) and truth["C12.y"] == pytest.approx(-20e-9)
            with pytest.raises(KnobLimitError):
                await b.set({"C10": 5e-6})                                  # the profile's limit
            with pytest.raises(KnobLimitError):
                await b.set({"C10": 1.9e-6})                                # the board's step limiter (1000 counts)
            assert opened.oracle.true_aberrations()["C10"] == pytest.approx(123e-9)
            assert (await b.board.get(["C10"]))["C10"] == pytest.approx(123e-9)
            await asyncio.sleep(1.3)                                        # longer than the watchdog: kept fed
            f = await b.acquire()
            assert f.image.shape == (256, 256) and f.meta["knobs_from"] == "board" and b.heartbeats >= 3
            await b.set({"C10": 0.0})
        finally:
            await b.close()
    try:
        asyncio.run(go())
    finally:
        opened.close()
