"""The network-guided policy's decisions (pair, correction, stop, fallback) with a stand-in
estimator that reads the *images* (the mean intensity ratio encodes a value), so the policy
logic is tested independently of how good the trained network is."""

from __future__ import annotations


import numpy as np
import pytest

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.policies.nn import NetworkPolicy
from beamloop.controller.policies.registry import available_policies, make_policy

AXES = ["C10", "C12.x"]
KNOBS = {"C10": KnobInfo("C10", "m", -2e-6, 2e-6, "C10"), "C12.x": KnobInfo("C12.x", "m", -1e-6, 1e-6, "C12.x")}


class ImageEstimator:
    """Decodes (C10, C12.x) residuals from the images: pixel [0, 0] of image 0 and 1 (nm)."""

    axes = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")
    delta_c10 = 50e-9
    label_scale = np.ones(5)

    def __init__(self, sigma=1e-9):
        self.sigma = sigma
        self.calls = 0

    def predict(self, pairs):
        self.calls += 1
        pairs = np.asarray(pairs)
        mean = np.zeros((len(pairs), 5))
        mean[:, 0] = pairs[:, 0, 0, 0] * 1e-9
        mean[:, 1] = pairs[:, 1, 0, 0] * 1e-9
        return mean, np.full((len(pairs), 5), self.sigma)


class FakeColumn:
    """Aberrations = offset + 1.05 * knobs (5 % scale error); frames carry the residual (nm)."""

    def __init__(self, offset):
        self.offset = np.asarray(offset, float)
        self.knobs = {"C10": 0.0, "C12.x": 0.0}
        self.focus_during = []

    def frame(self, setting):
        ab = self.offset + 1.05 * np.array([setting["C10"], setting["C12.x"]])
        img = np.zeros((8, 8))
        # the estimator decodes the aberration at the pair centre: undo the +-delta of this image
        return ab, img

    def run(self, policy, max_frames=30):
        policy.reset(KNOBS, dict(self.knobs), AXES)
        frames = 0
        d = ImageEstimator.delta_c10
        while frames < max_frames:
            s = policy.propose()
            if s is None:
                break
            self.focus_during.append(s["C10"])
            # image 0 of a pair is taken at centre - delta, image 1 at centre + delta; each image
            # carries (in its pixels) the aberration the estimator should report for the centre
            first = frames % 2 == 0
            centre = s["C10"] + (d if first else -d)
            ab = self.offset + 1.05 * np.array([centre, s["C12.x"]])
            img = 100.0 + np.random.default_rng(frames).random((16, 16))  # texture for the BO's cost
            img[0, 0] = (ab[0] if first else ab[1]) * 1e9
            frames += 1
            policy.observe(s, Frame(img, frames, 0.0))
        final = policy.result()
        return frames, self.offset + 1.05 * np.array([final["C10"], final["C12.x"]])


def test_policy_registered():
    assert "nn" in available_policies()
    assert isinstance(make_policy("nn", seed=3, estimator=ImageEstimator()), NetworkPolicy)


def test_pair_correct_remeasure_converges_in_few_frames():
    col = FakeColumn([120e-9, -80e-9])
    pol = NetworkPolicy(estimator=ImageEstimator())
    frames, resid = col.run(pol)
    assert np.all(np.abs(resid) < 10e-9), resid
    assert frames <= 6
    assert pol.stop_reason.startswith("network")
    # every pair is taken at -/+ delta about the same centre
    f = np.array(col.focus_during)
    np.testing.assert_allclose(f[1::2] - f[0::2], 2 * ImageEstimator.delta_c10)


def test_uncertain_network_falls_back_to_bo():
    col = FakeColumn([60e-9, 40e-9])
    pol = NetworkPolicy(estimator=ImageEstimator(sigma=500e-9), max_frames=10, min_pairs_before_fallback=1, seed=1)
    frames, _ = col.run(pol, max_frames=10)
    assert pol._bo is not None and frames == 10


def test_needs_focus_knob_and_known_axes():
    pol = NetworkPolicy(estimator=ImageEstimator())
    with pytest.raises(ValueError, match="focus"):
        pol.reset({"C12.x": KNOBS["C12.x"]}, {"C12.x": 0.0}, ["C12.x"])
    with pytest.raises(ValueError, match="unknown"):
        pol.reset(KNOBS, {"C10": 0.0, "C12.x": 0.0}, ["C10", "C99"])
    with pytest.raises(ValueError, match="not a setting"):
        NetworkPolicy(bogus=1)


def test_proposals_stay_inside_limits():
    col = FakeColumn([3e-6, 0.0])  # beyond the focus knob's range
    pol = NetworkPolicy(estimator=ImageEstimator(), max_pairs=2)
    col.run(pol)
    for f in col.focus_during:
        assert KNOBS["C10"].minimum <= f <= KNOBS["C10"].maximum


def test_uninformed_network_hands_over_at_once_without_moving():
    est = ImageEstimator(sigma=500e-9)
    est.label_scale = np.full(5, 400e-9)  # sigma > 0.5 x label scale: "knows nothing"
    col = FakeColumn([60e-9, 40e-9])
    pol = NetworkPolicy(estimator=est, max_frames=8, seed=2)
    frames, _ = col.run(pol, max_frames=8)
    assert est.calls == 1 and pol._bo is not None and frames == 8
    # the BO box is centred on the start (0, 0), not on a correction by the estimate
    assert np.allclose((pol._bo.lo + pol._bo.hi) / 2, 0.0, atol=1e-12)


def test_converged_nn_run_is_reported_converged_not_finished():
    """The loop takes 'converged' from the policy's flag, not from words in its stop reason
    (the nn policy's 'network: residual within tolerance' used to be reported as 'finished')."""
    import asyncio

    from beamloop.controller.instruments.local_twin import LocalTwinBackend
    from beamloop.controller.policies.base import RunStatus
    from beamloop.controller.run.loop import run_alignment
    from beamloop.sim.microscope import Microscope

    twin = Microscope(seed=1)
    twin.misalign(1, {"C10": 60e-9, "C12.x": 60e-9, "C12.y": 60e-9})
    pol = make_policy("nn", seed=0, max_frames=30)
    res = asyncio.run(run_alignment(LocalTwinBackend(twin), pol, ["C10", "C12.x", "C12.y"]))
    assert pol.converged and pol.stop_reason == "network: residual within tolerance"
    assert res.status is RunStatus.CONVERGED and res.converged and res.status == "converged"
    assert "threshold" not in res.stop_reason


def test_budget_stop_is_finished_not_converged():
    from beamloop.controller.policies.base import RunStatus

    pol = NetworkPolicy(estimator=ImageEstimator(sigma=1e-9), max_frames=2, max_pairs=6)
    pol.reset(KNOBS, {"C10": 0.0, "C12.x": 0.0}, AXES)
    pol.stop("frame budget spent", converged=False)
    assert pol.done and not pol.converged and pol.propose() is None
    assert RunStatus("finished") is RunStatus.FINISHED
