"""The Nion Swift adapter against nionswift-usim, headless (an instrument under test, never training data)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

pytest.importorskip("nion.usim_device", reason="nionswift-usim not installed (pip install -e .[nion])")

from beamloop.controller.core.backend import BackendError, KnobLimitError, UnknownKnobError  # noqa: E402
from beamloop.controller.instruments.nion import UsimSession  # noqa: E402
from beamloop.controller.instruments.profile import load_profile  # noqa: E402

PROFILE = load_profile("usim")


@pytest.fixture(scope="module")
def usim():
    s = UsimSession(noise=True)
    yield s
    s.close()


def run(coro):
    return asyncio.run(coro)


def test_knob_round_trips_and_truth(usim):
    async def go():
        b = usim.instrument(PROFILE)
        await b.connect()
        try:
            usim.misalign({})
            assert (await b.get(["C10"]))["C10"] == pytest.approx(usim.stem_controller.GetVal("C10"))
            want = {"C10": 123.4e-9, "C12.x": -45.6e-9, "C12.y": 7.8e-9, "C21.x": 1.5e-6, "C21.y": -0.7e-6}
            got = await b.set(want)
            assert got == pytest.approx(want, abs=1e-15)
            assert await b.get() == pytest.approx(want, abs=1e-15)
            # what Swift holds: the 1-D control and the 2-D control's components
            sc = usim.stem_controller
            assert sc.GetVal("C10") == pytest.approx(want["C10"])
            c12 = sc.GetVal2D("C12")
            assert (c12.x, c12.y) == pytest.approx((want["C12.x"], want["C12.y"]))
            assert usim.true_aberrations()["C21.x"] == pytest.approx(want["C21.x"])
            usim.misalign({"C10": 30e-9})                    # hidden offset: truth = knob + offset
            assert usim.true_aberrations()["C10"] == pytest.approx(want["C10"] + 30e-9)
            assert (await b.get(["C10"]))["C10"] == pytest.approx(want["C10"])
        finally:
            usim.misalign({"C10": 0.0})
            await b.close()
    run(go())


def test_limits_refused_never_clipped(usim):
    async def go():
        b = usim.instrument(PROFILE)
        await b.connect()
        try:
            await b.set({"C10": 100e-9, "C12.x": 0.0, "C12.y": 0.0})
            before = await b.get()
            for bad in ({"C10": 0.0, "C12.y": 5e-6},           # one value beyond its limit: nothing applied
                        {"C10": float("nan")},
                        {"C10": 1.5e-6},                        # a step beyond max_step (1 um)
                        {"C12.x": -1.0000001e-6}):
                with pytest.raises(KnobLimitError):
                    await b.set(bad)
                assert await b.get() == before
            with pytest.raises(UnknownKnobError):
                await b.set({"C30": 1e-6})
            assert await b.get() == before
        finally:
            await b.close()
    run(go())


def test_acquisition_has_the_cameras_real_geometry(usim):
    async def go():
        b = usim.instrument(PROFILE)
        await b.connect()                                   # checks geometry against the profile
        try:
            await b.set({"C10": 200e-9, "C12.x": 0.0, "C12.y": 0.0, "C21.x": 0.0, "C21.y": 0.0})
            f1 = await b.acquire()
            assert f1.image.shape == (256, 256) == tuple(PROFILE.camera.size_px)
            assert f1.meta["rad_per_px"] == pytest.approx([PROFILE.camera.rad_per_px] * 2, rel=1e-6)
            assert f1.meta["centre_px"] == pytest.approx([128, 128])
            assert f1.state["C10"] == pytest.approx(200e-9)
            await b.set({"C10": 60e-9})
            f2 = await b.acquire()                          # a frame started after the change
            assert f2.state["C10"] == pytest.approx(60e-9)
            # geometric optics: closer to focus = more magnified = less texture
            assert f2.image.std() < 0.8 * f1.image.std()
        finally:
            await b.close()
        wrong = PROFILE.model_copy(update={"camera": PROFILE.camera.model_copy(update={"rad_per_px": 1e-3})})
        with pytest.raises(BackendError, match="rad_per_px"):
            await usim.instrument(wrong).connect()
        wrong = PROFILE.model_copy(update={"camera": PROFILE.camera.model_copy(update={"size_px": (512, 512)})})
        with pytest.raises(BackendError, match="size_px"):
            await usim.instrument(wrong).connect()
    run(go())


from beamloop.controller.policies.base import AlignmentPolicy  # noqa: E402


class _FocusSearch(AlignmentPolicy):
    """Test policy: golden-section search of C10 on the Ronchigram's relative contrast (usim is a
    geometric simulator: at focus the shadow image is infinitely magnified, i.e. flat)."""

    name = "focus-search"

    def reset(self, knobs, start, axes):
        self.axes, self.lo, self.hi = axes, -150e-9, 150e-9
        g = (5 ** 0.5 - 1) / 2
        self.g, self.pts, self.costs, self.n = g, [], {}, 0
        self._queue = [self.hi - g * (self.hi - self.lo), self.lo + g * (self.hi - self.lo)]

    def propose(self):
        if self.n >= 22:
            return None
        return {"C10": self._queue[0]}

    def observe(self, setting, frame):
        from beamloop.controller.policies.base import StepReport

        x = self._queue.pop(0)
        img = np.asarray(frame.image, float)
        self.costs[x] = float(img.std() / img.mean())
        self.n += 1
        if not self._queue:
            a, b = self.hi - self.g * (self.hi - self.lo), self.lo + self.g * (self.hi - self.lo)
            if self.costs[a] < self.costs[b]:
                self.hi = b
            else:
                self.lo = a
            self._queue = [self.hi - self.g * (self.hi - self.lo), self.lo + self.g * (self.hi - self.lo)]
        return StepReport(cost=self.costs[x])

    def result(self):
        return {"C10": 0.5 * (self.lo + self.hi)}



def test_closed_loop_focus_through_the_adapter(usim):
    """The alignment loop (limits, frames after each change, restore/leave-at-result) drives usim
    through the adapter to focus from a hidden 80 nm defocus."""
    from beamloop.controller.run.loop import run_alignment

    async def go():
        b = usim.instrument(PROFILE)
        await b.connect()
        try:
            await b.set({"C10": 0.0, "C12.x": 0.0, "C12.y": 0.0, "C21.x": 0.0, "C21.y": 0.0})
            usim.misalign({"C10": -80e-9})
            res = await run_alignment(b, _FocusSearch(), ["C10"], max_frames=30, offload_policy=False)
            return res, usim.true_aberrations()["C10"]
        finally:
            usim.misalign({"C10": 0.0})
            await b.close()
    res, c10 = run(go())
    assert res.frames >= 10
    assert abs(res.final["C10"] - 80e-9) < 10e-9           # the knob cancels the hidden offset
    assert abs(c10) < 10e-9


def test_bo_with_the_profile_options_aligns_usim_along_its_blind_direction(usim):
    """BO with the usim profile's options (through-focus pair cost, pair step, stop at a measured
    4 nm) aligns C1, A1x, A1y through the adapter from a misalignment along ``C1 - A1x``: the
    combination a single near-focus usim frame cannot see (docs/alignment.md)."""
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.instrument_options import policy_options_for
    from beamloop.controller.run.loop import run_alignment

    axes = ["C10", "C12.x", "C12.y"]
    opts = policy_options_for(PROFILE, "bo", axes)
    assert opts["cost"] == "pair" and opts["stop_rule"] == "converged"

    async def go():
        b = usim.instrument(PROFILE)
        await b.connect()
        try:
            await b.set({"C10": 0.0, "C12.x": 0.0, "C12.y": 0.0, "C21.x": 0.0, "C21.y": 0.0})
            usim.misalign({"C10": 70e-9, "C12.x": -70e-9, "C12.y": 25e-9})
            pol = make_policy("bo", seed=0, windows={a: 180e-9 for a in axes}, **opts)
            res = await run_alignment(b, pol, axes, max_frames=36, offload_policy=False)
            truth = usim.true_aberrations()
            return res, np.hypot(truth["C10"], np.hypot(truth["C12.x"], truth["C12.y"]))
        finally:
            usim.misalign({"C10": 0.0, "C12.x": 0.0, "C12.y": 0.0})
            await b.close()
    res, residual = run(go())
    assert res.status == "converged", res.message
    assert residual < 10e-9, residual
    assert res.frames <= 20
