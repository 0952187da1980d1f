"""The BO policy, the policy registry and the main job on the in-process twin."""

from __future__ import annotations

import asyncio
import json
import warnings

import numpy as np
import pytest

from beamloop.controller.bench.align import SuccessCriterion, parse_axes, twin_ronchigram_options
from beamloop.controller.policies.registry import policy_options
from beamloop.controller.run.job import JobConfig, run_job
from beamloop.controller.run.loop import run_alignment
from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.instruments.local_twin import LocalTwinBackend
from beamloop.controller.policies.bo import BayesOptPolicy
from beamloop.controller.policies.registry import available_policies, make_policy, register_policy
from beamloop.controller.run.record import read_run
from beamloop.sim.microscope import Microscope, MicroscopeConfig

from beamloop_testing.fakes import ScriptedPolicy

AXES = ["C10", "C12.x"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def twin(seed=0, **kw):
    return Microscope(MicroscopeConfig(ronchigram=twin_ronchigram_options(), **kw), seed=seed)


def test_registry():
    assert "bo" in available_policies()
    assert isinstance(make_policy("bo", max_frames=5), BayesOptPolicy)
    with pytest.raises(ValueError, match="policy: unknown policy 'nope'"):
        make_policy("nope")
    register_policy("scripted-test", lambda **kw: ScriptedPolicy([]))
    assert "scripted-test" in available_policies()
    with pytest.raises(ValueError, match="not_an_option"):
        BayesOptPolicy(not_an_option=1)


def test_search_box_stays_inside_limits():
    knobs = {"C10": KnobInfo("C10", "m", -1e-6, 1e-6, "C10")}
    pol = BayesOptPolicy(max_frames=6, n_init=3, seed=0, windows={"C10": 500e-9})
    pol.reset(knobs, {"C10": 0.9e-6}, ["C10"])
    assert pol.hi[0] == 1e-6 and pol.lo[0] == pytest.approx(0.4e-6)
    from beamloop.controller.core.backend import Frame

    rng = np.random.default_rng(0)
    for _ in range(6):
        s = pol.propose()
        if s is None:
            break
        assert 0.4e-6 - 1e-15 <= s["C10"] <= 1e-6
        pol.observe(s, Frame(rng.poisson(100.0, (64, 64)).astype(float) * 8, 0, 0.0))
    assert pol.propose() is None  # budget spent


def test_bo_focuses_the_twin_in_a_few_frames():
    """One axis (C1) from a 60 nm misalignment, noise and drift on: within 15 nm in <= 12 frames."""
    m = twin(seed=5)
    m.misalign(np.random.default_rng(5), {"C10": 60e-9})
    opts = policy_options("bo", ["C10"], max_frames=12)
    opts["windows"] = {"C10": 80e-9}
    res = asyncio.run(run_alignment(LocalTwinBackend(m), make_policy("bo", seed=0, **opts), ["C10"], offload_policy=False))
    resid = abs(m.true_aberration_dict()["C10"])
    assert res.frames <= 12
    assert resid < 15e-9, (resid, res.frames, res.costs)


@pytest.mark.slow
def test_bo_aligns_the_twin_with_noise_and_drift():
    """From a +-60 nm misalignment of (C1, A1x) the policy ends within the ASIMOV 20 nm."""
    m = twin(seed=3)
    m.misalign(np.random.default_rng(3), {"C10": 60e-9, "C12.x": 60e-9})
    start = np.hypot(m.true_aberration_dict()["C10"], m.true_aberration_dict()["C12.x"])
    opts = policy_options("bo", AXES, max_frames=25)
    opts["windows"] = {"C10": 80e-9, "C12.x": 80e-9}
    res = asyncio.run(run_alignment(LocalTwinBackend(m), make_policy("bo", seed=0, **opts), AXES, offload_policy=False))
    truth = m.true_aberration_dict()
    resid = np.hypot(truth["C10"], truth["C12.x"])
    assert res.status in ("converged", "finished") and res.frames <= 25
    assert resid < 20e-9, (start, resid, res.frames)


def test_twin_refuses_a_command_beyond_its_limit_and_restores():
    m = twin(seed=1, drift=False)
    start = m.get_knobs()
    pol = ScriptedPolicy([{"C10": 10e-9, "C12.x": 0.0}, {"C10": 3e-6, "C12.x": 0.0}])  # C10 limit is 2 um
    res = asyncio.run(run_alignment(LocalTwinBackend(m), pol, AXES, offload_policy=False))
    assert res.status == "refused" and "C10" in res.message
    assert res.restored and m.get_knobs() == start


def test_job_record_and_report(tmp_path):
    m = twin(seed=2)
    m.misalign(np.random.default_rng(2), {"C10": 100e-9, "C12.x": 100e-9})
    cfg = JobConfig(axes=AXES, policy="bo", policy_options=policy_options("bo", AXES, max_frames=5), out_dir=tmp_path,
                    keep_if_better=False)
    out = asyncio.run(run_job(LocalTwinBackend(m), cfg))
    r = read_run(out.record)
    n = len(r["steps"]["cost"])  # the magnification model may confirm its focus before the budget of 5
    assert 3 <= n <= 5 and np.all(np.isfinite(r["steps"]["cost"]))
    assert r["frames"]["images"].shape == (n + 1, 128, 128)  # n frames + 1 verification frame
    assert r["steps"]["estimate"].shape == (n, 2)
    meta = json.loads(r["frames"]["meta_json"][0])
    assert "true_aberrations" in meta
    assert set(out.residual) >= set(AXES)
    assert r["result"]["status"] in ("converged", "finished")
    assert r["config"]["policy_options"]["max_frames"] == 5
    assert r["landscape"]["mean"].shape == (60, 60)
    kinds = list(r["commands"]["kind"])
    assert kinds.count("acquire") == n and kinds.count("set") >= n + 1
    assert out.report is not None and out.report.stat().st_size > 20_000
    # the twin was left at the final setting the record names
    final = json.loads(r["result"]["final_json"])
    assert all(m.get_knobs()[a] == pytest.approx(final[a]) for a in AXES)


def test_parse_axes_and_criterion():
    assert parse_axes("C1,A1x,A1y,B2x,B2y") == ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]
    with pytest.raises(ValueError, match="axes"):
        parse_axes("C1,Q9")
    crit = SuccessCriterion(["C10", "C12.x"])
    assert crit.ok({"C10": 12e-9, "C12.x": 15e-9})
    assert not crit.ok({"C10": 15e-9, "C12.x": 15e-9})
    assert "20 nm" in crit.describe()


def test_final_approach_retraces_the_step_to_the_best_frame():
    knobs = {"C10": KnobInfo("C10", "m", -1e-6, 1e-6, "C10")}
    pol = BayesOptPolicy(seed=0, approach_from_below=None)
    pol.reset(knobs, {"C10": 0.0}, ["C10"])
    pol.settings = [{"C10": 0.0}, {"C10": 50e-9}, {"C10": 20e-9}, {"C10": 90e-9}]
    pol.costs = [0.2, 0.1, 0.05, 0.3]
    assert pol.result() == {"C10": 20e-9}
    assert pol.final_approach() == [{"C10": 50e-9}]  # arrive at 20 nm from 50 nm, as measured
    pol.costs = [0.2, 0.1, 0.3, 0.05]
    assert pol.final_approach() == []  # best frame was the last: the instrument is still there


@pytest.mark.parametrize("target, reverted", [("aligned", False), ("far", True)])
def test_job_never_leaves_the_column_worse_than_found(tmp_path, target, reverted):
    """keep_if_better: a final setting that measures worse than the start is undone."""
    m = twin(seed=4)
    m.misalign(np.random.default_rng(4), {"C10": 60e-9, "C12.x": 60e-9})
    start = m.get_knobs()
    aligned = m.aligned_knobs()
    goal = {a: aligned[a] for a in AXES} if target == "aligned" else {"C10": start["C10"] + 600e-9, "C12.x": start["C12.x"]}
    register_policy("scripted_goal", lambda **_: ScriptedPolicy([goal]))
    cfg = JobConfig(axes=AXES, policy="scripted_goal", out_dir=tmp_path)
    out = asyncio.run(run_job(LocalTwinBackend(m), cfg))
    assert out.reverted is reverted
    assert out.start_cost is not None and out.final_cost is not None
    left = m.get_knobs()
    expect = start if reverted else goal
    assert all(left[a] == pytest.approx(expect[a]) for a in AXES)
    r = read_run(out.record)
    kinds = list(r["events"]["kind"])
    assert ("reverted" in kinds) is reverted
    # reference frame + 1 loop frame + verification (+ a second one after putting the start back)
    assert r["frames"]["images"].shape[0] == 3 + int(reverted)


def test_every_setting_and_the_result_are_approached_from_below():
    """approach_from_below: a waypoint 10 % of the half-window below each proposal and below the
    result (inside the limits), so a knob with play sits at value - h for every frame and at the end."""
    knobs = {"C10": KnobInfo("C10", "m", -1e-6, 1e-6, "C10"), "C12.x": KnobInfo("C12.x", "m", -0.2e-6, 1e-6, "C12.x")}
    pol = BayesOptPolicy(seed=0, windows={"C10": 200e-9, "C12.x": 200e-9})
    pol.reset(knobs, {"C10": 0.0, "C12.x": 0.0}, ["C10", "C12.x"])
    (way,) = pol.approach({"C10": 50e-9, "C12.x": -190e-9})
    assert way["C10"] == pytest.approx(30e-9) and way["C12.x"] == pytest.approx(-0.2e-6)  # clipped at the limit
    pol.settings, pol.costs = [{"C10": 0.0, "C12.x": 0.0}, {"C10": 40e-9, "C12.x": 10e-9}], [0.2, 0.1]
    assert pol.final_approach() == [{"C10": pytest.approx(20e-9), "C12.x": pytest.approx(-10e-9)}]


def test_loop_sets_the_approach_waypoints_before_each_frame():
    """The loop sets a policy's approach() waypoints before each measured setting (no frame)."""
    m = twin(seed=2)
    seen = []

    class Recording(LocalTwinBackend):
        async def set(self, values):
            seen.append(dict(values))
            return await super().set(values)

    pol = BayesOptPolicy(seed=0, max_frames=3)
    res = asyncio.run(run_alignment(Recording(m), pol, AXES, max_frames=3, offload_policy=False))
    assert res.frames == 3
    measured = [dict(s) for s in pol.settings]
    for s in measured:
        i = next(i for i, v in enumerate(seen) if all(v.get(a) == pytest.approx(s[a]) for a in AXES))
        assert i > 0 and all(seen[i - 1][a] < s[a] for a in AXES)


def test_shadow_cost_options_are_checked_by_name():
    with pytest.raises(ValueError, match="cost"):
        BayesOptPolicy(cost="nope")
    with pytest.raises(ValueError, match="stop_rule"):
        BayesOptPolicy(stop_rule="nope")
    with pytest.raises(ValueError, match="converge_m"):
        BayesOptPolicy(converge_m=0.0)


def test_cone_fit_finds_the_vertex_of_a_cone_cost():
    """The model-based step: cost = sqrt(a^2 + k^2 |x - m|^2) sampled at a few settings -> m."""
    knobs = {a: KnobInfo(a, "m", -1e-6, 1e-6, a) for a in AXES}
    pol = BayesOptPolicy(cost="shadow", exploit=True, stop_rule="converged", seed=0,
                         windows={a: 180e-9 for a in AXES})
    pol.reset(knobs, {a: 0.0 for a in AXES}, AXES)
    m = np.array([40e-9, -70e-9])
    rng = np.random.default_rng(1)
    for _ in range(6):
        x = rng.uniform(-150e-9, 150e-9, 2)
        pol.settings.append({a: float(v) for a, v in zip(AXES, x)})
        pol.costs.append(float(np.hypot(0.01, 1e6 * np.linalg.norm(x - m))))
    z = pol._cone_minimum()
    got = pol.lo + (z + 1.0) * 0.5 * (pol.hi - pol.lo)
    assert np.allclose(got, m, atol=1e-9), got


def test_blind_excursion_ends_at_the_midpoint_of_the_rises():
    from beamloop.controller.policies.blind_excursion import BlindExcursion

    truth = 23e-9  # the invisible component; the cost rises 30 nm either side of it
    exc = BlindExcursion(np.array([0.0]), np.array([1.0]), 1.0, np.array([-200e-9]), np.array([200e-9]),
                         step=10e-9, steps=10, rise=0.25)
    for _ in range(30):
        p = exc.next_point()
        if exc.final is not None:
            break
        exc.observe(2.0 if abs(p[0] - truth) > 30e-9 else 1.0)
    assert exc.final is not None and abs(exc.final[0] - truth) <= 10e-9, exc.final


def _knobs(names):
    return {a: KnobInfo(a, "m", -1e-6, 1e-6, aberration=a) for a in names}


def test_magnification_model_is_on_for_c1_a1_with_the_ellipse_cost_only():
    opts = policy_options("bo", AXES)
    assert opts["model"] == "auto" and opts["stop_rule"] == "model"
    pol = make_policy("bo", seed=0, **opts)
    pol.reset(_knobs(AXES), {a: 0.0 for a in AXES}, AXES)
    assert pol._mag is not None
    first, probe = pol.propose(), None
    pol.observe(first, Frame(np.random.default_rng(0).poisson(100.0, (64, 64)).astype(float) * 8, 0, 0.0))
    probe = pol.propose()
    assert probe["C10"] == pytest.approx(first["C10"] + 80e-9) and probe["C12.x"] == first["C12.x"]
    # a profile choosing the through-focus pair (usim) keeps working with the merged defaults
    pair = make_policy("bo", seed=0, **{**opts, "cost": "pair", "stop_rule": "converged", "n_init": 1})
    pair.reset(_knobs(AXES), {a: 0.0 for a in AXES}, AXES)
    assert pair._mag is None
    # coma axes: no model, the cost threshold stops
    coma = ["C10", "C21.x"]
    opts_c = policy_options("bo", coma)
    assert "model" not in opts_c
    with pytest.raises(ValueError, match="magnification"):
        make_policy("bo", seed=0, model="magnification", cost="shadow")
    with pytest.raises(ValueError, match="C21.x"):
        make_policy("bo", seed=0, model="magnification").reset(_knobs(coma), {a: 0.0 for a in coma}, coma)


def test_bo_default_stops_on_the_models_confirmation_within_tolerance():
    """C1 + A1x misaligned by up to 150 nm, noise and drift on: the default bo confirms its model's focus
    (no cost threshold) in <= 10 frames and ends within 20 nm."""
    m = twin(seed=11)
    m.misalign(np.random.default_rng(11), {"C10": 150e-9, "C12.x": 150e-9})
    opts = policy_options("bo", AXES)
    opts["windows"] = {"C10": 180e-9, "C12.x": 180e-9}
    res = asyncio.run(run_alignment(LocalTwinBackend(m), make_policy("bo", seed=0, **opts), AXES, offload_policy=False))
    truth = m.true_aberration_dict()
    assert res.status == "converged" and res.stop_reason == "model focus measured and confirmed", res.stop_reason
    assert res.frames <= 10
    assert np.hypot(truth["C10"], truth["C12.x"]) < 20e-9
