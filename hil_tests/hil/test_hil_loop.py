"""Hardware in the loop: beamloop_top in Icarus, the controller's host driver on its UART, the twin's
knobs driven by the DAC codes the RTL outputs (profile board-rtl, controller/instruments/hil.py).

Default: one RTL session shared by three tests (module fixture, one event loop):
- a knob change travels host driver -> RTL UART -> cmd_link -> dac_limiter -> DAC -> twin; a
  deliberately bad host (host checks bypassed, raw SET_DAC beyond the RTL's limit registers) is
  refused by the RTL and nothing moves; twin frames go through the RTL trigger path;
- a short alignment (C10, nn policy with the integer estimator = the FPGA's arithmetic) converges
  with every knob change and every frame through the RTL;
- the heartbeat stops -> the RTL watchdog trips WD_TIMEOUT cycles after the last heartbeat (sim
  time), holds the DACs and refuses changes, the twin's knobs stay with the DACs; RESUME releases.
Slow: the same alignment bench on more axes/trials (``beamloop bench hil`` figures)."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("cocotb")

C10_ZERO = 32768          # DAC count at C10 = 0 (profile board-rtl: 1 count = 1 nm)


@pytest.fixture(scope="module")
def rtl():
    from beamloop.controller.instruments.open import open_instrument

    loop = asyncio.new_event_loop()
    inst = open_instrument("board-rtl", seed=3)
    comp = inst.backend
    t0 = time.perf_counter()
    try:
        loop.run_until_complete(comp.connect())
        print(f"HIL: RTL built and connected in {time.perf_counter() - t0:.1f} s")
        yield loop, inst, comp
    finally:
        loop.run_until_complete(comp.close())
        inst.close()
        loop.close()


def test_commands_and_a_bad_host_through_the_rtl(rtl):
    from beamloop.controller.instruments.board_driver import BoardRefused

    loop, inst, comp = rtl

    async def run():
        link, twin = comp.board.link, comp.detector
        # 1. a normal knob change reaches the twin through the RTL DAC outputs (1 count = 1 nm)
        applied = await comp.set({"C10": 37e-9})
        assert applied["C10"] == pytest.approx(37e-9, abs=1e-12)
        assert (await link.get_dac(0))["output"] == C10_ZERO + 37
        assert (await twin.get(["C10"]))["C10"] == pytest.approx(37e-9, abs=1e-12)
        # 2. a bad host: narrow the RTL limits, then bypass every host check with raw SET_DACs
        lim = await link.get_limits(0)
        await link.set_limits(0, C10_ZERO - 100, C10_ZERO + 100, 64)
        try:
            for value, name in ((C10_ZERO + 101, "ABOVE_MAX"), (C10_ZERO - 101, "BELOW_MIN"),
                                (C10_ZERO + 37 - 65, "STEP_TOO_LARGE")):
                with pytest.raises(BoardRefused) as e:
                    await link.set_dac(0, value)
                assert e.value.name == name
            assert (await link.get_dac(0))["output"] == C10_ZERO + 37       # refused, not clipped: nothing moved
            assert (await twin.get(["C10"]))["C10"] == pytest.approx(37e-9, abs=1e-12)
        finally:
            await link.set_limits(0, lim["min"], lim["max"], lim["step"])
        # 3. twin frames through the RTL trigger path (AXI-Stream), trigger records come back
        frames = [await comp.acquire() for _ in range(3)]      # v3: frame 2 is the first with rb != 0
        recs = [f.meta["rtl_trigger"] for f in frames]
        assert recs[1]["frame"] == recs[0]["frame"] + 1
        lat = {r["score_ns"] - r["eof_ns"] for r in recs}
        assert len(lat) == 1 and 0 < lat.pop() < 1000
        # the watch mode's numpy trigger gives the RTL's scores bit for bit (v1: RTL shift registers at reset 4, 4)
        from beamloop.models.trigger_stream import NumpyTrigger

        trig = NumpyTrigger(shifts=(4, 4))
        assert [trig(f.image) for f in frames] == [(r["score"], r["trigger"]) for r in recs]

    loop.run_until_complete(run())


def test_short_alignment_converges_through_the_rtl(rtl):
    """The normal loop and nn policy (integer estimator) align C10 from 150 nm off; every knob
    change goes through the RTL command path, every frame through the RTL trigger path."""
    from beamloop.controller.bench.align import SuccessCriterion
    from beamloop.controller.estimation.inference import CoarseToFineEstimator, IntegerEstimator
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.instrument_options import policy_options_for
    from beamloop.controller.run.loop import run_alignment

    loop, inst, comp = rtl
    opts = policy_options_for(inst.profile, "nn", ["C10"], max_frames=10, estimator="integer")
    est = opts["estimator"]
    nets = [est.coarse, est.fine] if isinstance(est, CoarseToFineEstimator) else [est]
    assert all(isinstance(n, IntegerEstimator) for n in nets)          # the FPGA's arithmetic
    crit = SuccessCriterion(["C10"])

    async def run():
        await comp.set({"C10": 0.0})
        inst.oracle.misalign({"C10": 150e-9})
        assert not crit.ok(inst.oracle.true_aberrations())
        t0 = time.perf_counter()
        res = await run_alignment(comp, make_policy("nn", seed=1, **opts), ["C10"], max_frames=15)
        return res, time.perf_counter() - t0

    res, wall = loop.run_until_complete(run())
    truth = inst.oracle.true_aberrations()
    print(f"HIL alignment through the RTL: {res.status} in {res.frames} frames, {wall:.1f} s wall, "
          f"residual C10 {truth['C10'] * 1e9:.1f} nm")
    assert res.status in ("converged", "finished")
    assert crit.ok(truth), crit.residuals(truth)
    # the twin's lens is where the RTL's DAC is (the loop never wrote the twin directly)
    dac = (loop.run_until_complete(comp.board.link.get_dac(0)))["output"]
    assert loop.run_until_complete(comp.detector.get(["C10"]))["C10"] == pytest.approx((dac - C10_ZERO) * 1e-9, abs=1e-12)


def test_watchdog_safe_state_through_the_rtl(rtl):
    """Heartbeat stops -> the RTL watchdog trips WD_TIMEOUT cycles after the last PING (simulated
    time, from the bridge trace), holds every DAC; sets are refused and the twin stays with the DACs."""
    from beamloop.controller.core.backend import BackendError
    from beamloop.controller.instruments.hil import RTL_PARAMS

    loop, inst, comp = rtl
    link, twin, sim = comp.board.link, comp.detector, comp.board.sim

    async def run():
        await comp.set({"C10": 37e-9})
        n_trips = len(sim.trace().get("trips", []))
        comp._hb_task.cancel()                     # the controller's heartbeat stops
        t_stop = time.perf_counter()
        while not (await link.status())["flags"] & 1:
            assert time.perf_counter() - t_stop < 40, "watchdog did not trip"
            await asyncio.sleep(0.3)
        t_trip = time.perf_counter() - t_stop
        trips = sim.trace()["trips"][n_trips:]
        assert len(trips) == 1
        dt_ns = trips[0]["trip_ns"] - trips[0]["last_heartbeat_ns"]
        assert dt_ns == pytest.approx(RTL_PARAMS["WD_TIMEOUT"] * 10, abs=30)   # its time: WD_TIMEOUT cycles at 100 MHz
        with pytest.raises(BackendError, match="WATCHDOG_HOLD"):
            await comp.set({"C10": 40e-9})
        assert (await link.get_dac(0))["output"] == C10_ZERO + 37
        assert trips[0]["dac_out"] & 0xFFFF == C10_ZERO + 37                   # held at the trip
        assert (await twin.get(["C10"]))["C10"] == pytest.approx(37e-9, abs=1e-12)   # the twin follows the DACs
        await link.resume()
        await link.ping()
        assert (await comp.set({"C10": 40e-9}))["C10"] == pytest.approx(40e-9, abs=1e-12)
        assert (await twin.get(["C10"]))["C10"] == pytest.approx(40e-9, abs=1e-12)
        print(f"HIL: watchdog tripped {dt_ns / 1e3:.1f} us (sim) after the last heartbeat, "
              f"{t_trip:.1f} s wall after the host stopped")

    loop.run_until_complete(run())


@pytest.mark.slow
def test_alignment_bench_through_the_rtl():
    """The instrument bench (normal controller, nn policy, integer estimator) on two axes, three
    trials, identity knob response (the response calibration adds ~40 RTL frames) (minutes)."""
    from beamloop.controller.bench.instrument import InstrumentBenchConfig, run_instrument_bench

    t0 = time.perf_counter()
    res = run_instrument_bench(InstrumentBenchConfig(instrument="board-rtl", policy="nn", axes=["C10", "C12.x"],
                                                     trials=3, seed=0, max_frames=16, estimator="integer",
                                                     calibrate_response=False))
    print(f"HIL alignment bench: success {res['success_rate']}, frames median {res['frames_median']}, "
          f"{time.perf_counter() - t0:.0f} s wall")
    assert res["success_rate"] == 1.0
