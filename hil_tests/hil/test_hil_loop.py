"""Hardware in the loop: beamloop_top in Icarus, the controller's host driver on its UART, the twin's
knobs driven by the DAC codes the RTL outputs (profile board-rtl, controller/instruments/hil.py).

Default: one RTL session (~30 s): a knob change travels host driver -> RTL UART -> cmd_link ->
dac_limiter -> DAC -> twin; a deliberately bad host (host checks bypassed, raw SET_DAC beyond the
RTL's limit registers) is refused by the RTL and nothing moves; the heartbeat stops -> the RTL
watchdog trips within its time, holds the DACs and refuses changes, the twin's knobs stay with the
DACs; RESUME releases. Slow: a short alignment through the RTL with the normal controller."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("cocotb")


def _open(wd_cycles: int = 100_000):
    from beamloop.controller.instruments.open import open_instrument
    from beamloop.controller.instruments.profile import load_profile

    prof = load_profile("board-rtl")
    prof = prof.model_copy(update={"connection": {**prof.connection, "rtl_params": {"WD_TIMEOUT": wd_cycles}}})
    return open_instrument(prof, seed=3)


@pytest.mark.parametrize("watchdog", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["default", "watchdog"])
def test_commands_limits_and_watchdog_through_the_rtl(watchdog):
    from beamloop.controller.core.backend import BackendError
    from beamloop.controller.instruments.board_driver import BoardRefused

    async def run():
        inst = _open()
        comp = inst.backend
        await comp.connect()
        try:
            link, twin = comp.board.link, comp.detector
            # 1. a normal knob change reaches the twin through the RTL DAC outputs (1 count = 1 nm)
            t0 = time.perf_counter()
            applied = await comp.set({"C10": 37e-9})
            dt_set = time.perf_counter() - t0
            assert applied["C10"] == pytest.approx(37e-9, abs=1e-12)
            assert (await link.get_dac(0))["output"] == 32768 + 37
            assert (await twin.get(["C10"]))["C10"] == pytest.approx(37e-9, abs=1e-12)
            # 2. a bad host: narrow the RTL limits, then bypass every host check with raw SET_DACs
            await link.set_limits(0, 32768 - 100, 32768 + 100, 64)
            for value, name in ((32768 + 101, "ABOVE_MAX"), (32768 - 101, "BELOW_MIN"), (32768 + 37 - 65, "STEP_TOO_LARGE")):
                with pytest.raises(BoardRefused) as e:
                    await link.set_dac(0, value)
                assert e.value.name == name
            assert (await link.get_dac(0))["output"] == 32768 + 37       # refused, not clipped: nothing moved
            assert (await twin.get(["C10"]))["C10"] == pytest.approx(37e-9, abs=1e-12)
            # 4. twin frames through the RTL trigger path (AXI-Stream), trigger records come back
            recs = [(await comp.acquire()).meta["rtl_trigger"] for _ in range(2)]
            assert [r["frame"] for r in recs] == [0, 1]
            lat = {r["score_ns"] - r["eof_ns"] for r in recs}
            assert len(lat) == 1 and 0 < lat.pop() < 1000
            print(f"HIL: frames through the RTL: {recs}")
            if not watchdog:
                return
            # 3. heartbeat stops -> watchdog trips (WD_TIMEOUT 100 000 cycles = 1 ms simulated), DACs hold
            comp._hb_task.cancel()
            t_stop = time.perf_counter()
            while not (await link.status())["flags"] & 1:
                assert time.perf_counter() - t_stop < 90, "watchdog did not trip"
                await asyncio.sleep(0.2)
            t_trip = time.perf_counter() - t_stop
            with pytest.raises(BackendError, match="WATCHDOG_HOLD"):
                await comp.set({"C10": 40e-9})
            assert (await link.get_dac(0))["output"] == 32768 + 37
            assert (await twin.get(["C10"]))["C10"] == pytest.approx(37e-9, abs=1e-12)   # the twin follows the DACs
            await link.resume()
            await link.ping()
            assert (await comp.set({"C10": 40e-9}))["C10"] == pytest.approx(40e-9, abs=1e-12)
            print(f"HIL: set through the RTL {dt_set:.2f} s wall, watchdog tripped {t_trip:.1f} s after the last heartbeat")
        finally:
            await comp.close()
            inst.close() if hasattr(inst, "close") else None

    asyncio.run(run())


@pytest.mark.slow
def test_alignment_converges_through_the_rtl():
    """The normal controller and nn policy (integer estimator) align C10 with every knob change
    through the RTL command path and every frame through the RTL trigger path (minutes)."""
    from beamloop.controller.bench.instrument import InstrumentBenchConfig, run_instrument_bench

    t0 = time.perf_counter()
    res = run_instrument_bench(InstrumentBenchConfig(instrument="board-rtl", policy="nn", axes=["C10"], trials=2,
                                                     seed=0, max_frames=12))
    print(f"HIL alignment: success {res['success_rate']}, frames median {res['frames_median']}, "
          f"{time.perf_counter() - t0:.0f} s wall")
    assert res["success_rate"] == 1.0
