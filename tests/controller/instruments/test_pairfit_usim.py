"""The pairfit policy aligns nionswift-usim on five axes through the Nion adapter (usim is an
instrument under test: nothing is trained on it; the policy has nothing to train)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("nion.usim_device", reason="nionswift-usim not installed (pip install -e .[nion])")

from beamloop.controller.instruments.nion import UsimSession  # noqa: E402
from beamloop.controller.instruments.profile import load_profile  # noqa: E402

PROFILE = load_profile("usim")
AXES = ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]


@pytest.fixture(scope="module")
def usim():
    s = UsimSession(noise=True)
    yield s
    s.close()


def _align(usim, offsets, **overrides):
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.instrument_options import policy_options_for
    from beamloop.controller.run.loop import run_alignment

    opts = {**policy_options_for(PROFILE, "pairfit", AXES), **overrides}

    async def go():
        b = usim.instrument(PROFILE)
        await b.connect()
        try:
            await b.set({a: 0.0 for a in AXES})
            usim.misalign(offsets)
            res = await run_alignment(b, make_policy("pairfit", seed=0, **opts), AXES, max_frames=12, offload_policy=False)
            return res, usim.true_aberrations()
        finally:
            usim.misalign({a: 0.0 for a in AXES})
            await b.close()
    return asyncio.run(go())


def test_pairfit_aligns_five_axes_on_usim(usim):
    res, truth = _align(usim, {"C10": 110e-9, "C12.x": -80e-9, "C12.y": 60e-9, "C21.x": 1.4e-6, "C21.y": -0.9e-6})
    assert res.status == "converged", res.message
    assert np.hypot(truth["C10"], np.hypot(truth["C12.x"], truth["C12.y"])) < 20e-9, truth
    assert np.hypot(truth["C21.x"], truth["C21.y"]) < 1e-6, truth
    assert res.frames <= 8


def test_pairfit_needs_the_camera_and_a_focus_knob():
    from beamloop.controller.policies.pair_fit import PairFitPolicy, PairFitSetupError
    from beamloop.controller.core.backend import KnobInfo

    with pytest.raises(PairFitSetupError, match="camera"):
        PairFitPolicy()
    pol = PairFitPolicy(camera=PROFILE.camera.geometry())
    knobs = {"C12.x": KnobInfo("C12.x", "m", -1e-6, 1e-6, "C12.x")}
    with pytest.raises(PairFitSetupError, match="focus_knob"):
        pol.reset(knobs, {"C12.x": 0.0}, ["C12.x"])


def test_pair_offsets_flip_side_near_a_focus_limit_and_refuse_when_neither_fits():
    from beamloop.controller.core.backend import KnobInfo
    from beamloop.controller.policies.pair_fit import PairFitPolicy, PairFitSetupError

    pol = PairFitPolicy(camera=PROFILE.camera.geometry())
    knobs = {"C10": KnobInfo("C10", "m", -2e-6, 2e-6, "C10")}
    pol.reset(knobs, {"C10": 1.5e-6}, ["C10"])              # +800 nm would pass the limit: use +400 / -800
    assert pol.propose()["C10"] == pytest.approx(1.9e-6)
    with pytest.raises(PairFitSetupError, match="limits"):
        pol.reset({"C10": KnobInfo("C10", "m", -5e-7, 5e-7, "C10")}, {"C10": 0.0}, ["C10"])


def test_pairs_that_never_register_leave_the_knobs_at_the_start():
    """Frames with no common sample (independent noise): every pair is lost, nothing is corrected,
    the pair side alternates, and the result is the start setting."""
    from beamloop.controller.core.backend import Frame, KnobInfo
    from beamloop.controller.policies.pair_fit import PairFitPolicy

    rng = np.random.default_rng(0)
    pol = PairFitPolicy(camera=PROFILE.camera.geometry(), max_pairs=2)
    knobs = {a: KnobInfo(a, "m", -2e-6, 2e-6, a) for a in AXES}
    start = {"C10": 1e-7, "C12.x": 2e-8, "C12.y": 0.0, "C21.x": 0.0, "C21.y": 0.0}
    pol.reset(knobs, start, AXES)
    sides = []
    while (s := pol.propose()) is not None:
        sides.append(s["C10"] - pol.base["C10"])
        img = 1000 + 300 * rng.standard_normal(PROFILE.camera.size_px)
        pol.observe({**start, **s}, Frame(img, 0, 0.0))
    assert not pol.converged and "left at the start" in pol.stop_reason
    assert pol.result() == {a: start[a] for a in AXES}
    assert np.sign(sides[0]) != np.sign(sides[2])                   # the second pair on the other side
