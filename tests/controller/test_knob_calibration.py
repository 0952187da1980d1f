"""Knob response calibration: measured with a stand-in estimator that reads the truth from the
images, so the procedure (steps, pairs, differences, pruning, restore, refusals) is tested
independently of the trained network; and the nn policy's use of the matrix."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from beamloop.controller.core.backend import Frame, KnobInfo, MicroscopeBackend
from beamloop.controller.estimation.knob_calibration import ResponseCalibration, measure_response, response_matrix

AB = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")
LIMITS = {"C10": 2e-6, "C12.x": 1e-6, "C12.y": 1e-6, "C21.x": 10e-6, "C21.y": 10e-6}
# aberrations = OFFSET + G_TRUE @ knobs: scale errors, stigmator cross-talk, coma knobs leaking
# into C1/A1 (3 %), and a stigmator leaking a little into coma (not measurable -> pruned)
G_TRUE = np.array([
    [1.05, 0.02, 0.00, 0.03, -0.02],
    [0.01, 0.97, 0.03, 0.02, 0.01],
    [0.00, -0.02, 1.02, -0.03, 0.03],
    [0.00, 0.04, 0.00, 0.98, 0.02],
    [0.00, 0.00, 0.00, -0.01, 1.01],
])
OFFSET = np.array([40e-9, -30e-9, 20e-9, 500e-9, -300e-9])


class EncodedColumn(MicroscopeBackend):
    """A column whose frames carry the true aberrations (nm) in their first five pixels; optional
    hysteresis play (half-width per knob, m) between the commanded and the effective values."""

    def __init__(self, play=None):
        self.u = {k: 0.0 for k in AB}
        self.eff = dict(self.u)
        self.play = play or {}
        self.sets = []

    async def knobs(self):
        return {k: KnobInfo(k, "m", -LIMITS[k], LIMITS[k], k) for k in AB}

    async def get(self, names=None):
        return {k: self.u[k] for k in (names or AB)}

    async def set(self, values):
        for k, v in values.items():
            (await self.knobs())[k].check(v)
        self.u.update(values)
        for k, v in values.items():
            h = self.play.get(k, 0.0)
            self.eff[k] = min(max(self.eff[k], v - h), v + h)  # play (backlash) operator
        self.sets.append(dict(values))
        return dict(self.u)

    def truth(self):
        return OFFSET + G_TRUE @ np.array([self.eff[k] for k in AB])

    async def acquire(self):
        ab = self.truth()
        img = np.ones((8, 8))
        img[0, :5] = ab * 1e9
        return Frame(img, len(self.sets), 0.0, dict(self.u))


class ReadingEstimator:
    """Reports the mean of the two images' encoded aberrations (= the pair centre), plus noise."""

    axes = AB
    delta_c10 = 50e-9
    label_scale = np.array([200e-9, 200e-9, 200e-9, 2.5e-6, 2.5e-6])

    def __init__(self, noise_m=0.0, seed=0):
        self.noise, self.rng = noise_m, np.random.default_rng(seed)

    def predict(self, pairs):
        pairs = np.asarray(pairs)
        mean = pairs[:, :, 0, :5].mean(axis=1) * 1e-9
        return mean + self.rng.normal(0, self.noise, mean.shape), np.full(mean.shape, 1e-9)


def test_measures_the_response_and_restores_the_knobs():
    col = EncodedColumn()
    cal = asyncio.run(measure_response(col, ReadingEstimator(), list(AB), repeats=2, diagonal="measured"))
    assert cal.frames == 5 * 2 * 2 * 2 + 6 * 3 * 2 * 2  # response + play of the three first-order knobs
    np.testing.assert_allclose([cal.measured_diagonal[k] for k in AB], np.diag(G_TRUE), atol=1e-9)
    nominal = asyncio.run(measure_response(EncodedColumn(), ReadingEstimator(), list(AB), repeats=2))
    Gn = response_matrix(nominal.gain, list(AB), list(AB))
    np.testing.assert_array_equal(np.diag(Gn), 1.0)  # default: diagonal nominal, cross-talk measured
    np.testing.assert_allclose(Gn[~np.eye(5, dtype=bool)], response_matrix(cal.gain, list(AB), list(AB))[~np.eye(5, dtype=bool)])
    G = response_matrix(cal.gain, list(AB), list(AB))
    # the focus knob's own pair moves C1 symmetrically: every entry is exact except the pruned ones
    keep = np.eye(5, dtype=bool)
    keep[:3, 3:] = True  # coma knobs into C1/A1: measured; other cross-talk pruned by design
    np.testing.assert_allclose(G[keep], G_TRUE[keep], atol=1e-9)
    assert np.all(G[~keep] == 0.0)
    assert cal.play_m == {"C10": 0.0, "C12.x": 0.0, "C12.y": 0.0}
    assert col.u == {k: 0.0 for k in AB}  # put back


def test_noise_sized_cross_talk_is_pruned(tmp_path):
    cal = asyncio.run(measure_response(EncodedColumn(), ReadingEstimator(noise_m=20e-9, seed=3), list(AB), repeats=4))
    G = response_matrix(cal.gain, list(AB), list(AB))
    # coma knobs into C1: 3 % of a 2 um step = 60 nm against 20 nm noise -> resolved
    assert G[0, 3] == pytest.approx(0.03, abs=0.015)
    # 2 % of a 150 nm stigmator step into C1 = 3 nm against 20 nm noise -> not resolved, pruned
    assert G[0, 1] == 0.0
    p = cal.save(tmp_path / "cal.json")
    again = ResponseCalibration.load(p)
    assert again.gain == cal.gain and again.frames == cal.frames


def test_refuses_steps_beyond_the_limits_without_moving():
    col = EncodedColumn()
    col.u["C21.x"] = 9e-6  # a 2 um step would leave the +-10 um range
    with pytest.raises(ValueError, match="C21.x"):
        asyncio.run(measure_response(col, ReadingEstimator(), list(AB)))
    assert col.sets == []
    with pytest.raises(ValueError, match="unknown knob"):
        asyncio.run(measure_response(col, ReadingEstimator(), ["C10", "nope"]))


def test_bad_calibration_files_and_blocks_are_refused(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"gains": {}}')
    with pytest.raises(ValueError, match="not a response calibration"):
        ResponseCalibration.load(p)
    with pytest.raises(ValueError, match="no row"):
        response_matrix({"C10": {"C10": 1.0, "C12.x": 0.0}}, ["C10", "C12.x"], ["C10", "C12.x"])
    with pytest.raises(ValueError, match="singular"):
        response_matrix({"C10": {"C10": 1.0, "C12.x": 1.0}, "C12.x": {"C10": 1.0, "C12.x": 1.0}},
                        ["C10", "C12.x"], ["C10", "C12.x"])
    np.testing.assert_array_equal(response_matrix(None, ["C10"], ["C10"]), np.eye(1))


def test_nn_policy_with_the_measured_matrix_corrects_cross_talk_in_one_step():
    """With the coma knobs leaking into C1/A1, an identity-calibrated policy needs more pairs; with
    the measured matrix the first correction is exact (noise-free stand-in estimator)."""
    from beamloop.controller.policies.nn import NetworkPolicy

    async def run(calibration):
        col = EncodedColumn()
        knobs = await col.knobs()
        pol = NetworkPolicy(estimator=ReadingEstimator(), calibration=calibration, max_frames=40,
                            tolerance={"C10": 5e-9, "C12.x": 5e-9, "C12.y": 5e-9, "C21.x": 10e-9, "C21.y": 10e-9})
        pol.reset(knobs, dict(col.u), list(AB))
        pairs = []
        while (s := pol.propose()) is not None:
            await col.set(s)
            f = await col.acquire()
            pairs.append(f)
            pol.observe(s, f)
        await col.set(pol.result())
        final = OFFSET + G_TRUE @ np.array([col.u[k] for k in AB])
        return len(pairs), final

    cal = asyncio.run(measure_response(EncodedColumn(), ReadingEstimator(), list(AB), repeats=2, diagonal="measured"))
    n_cal, final_cal = asyncio.run(run(cal.gain))
    n_id, final_id = asyncio.run(run(None))
    assert n_cal == 4  # pair, correction without the coma leak, pair that reads ~0 -> done
    assert np.all(np.abs(final_cal[:3]) < 2e-9) and np.all(np.abs(final_cal[3:]) < 20e-9)
    assert n_id > n_cal


def test_play_is_measured_and_compensated():
    """8 nm of focus play and 4 nm of stigmator play: measured to ~1 nm; with compensation the
    policy leaves C1/A1 within 1.5 nm, without it C1 ends about one play width off."""
    from beamloop.controller.policies.nn import NetworkPolicy

    play = {"C10": 8e-9, "C12.x": 4e-9, "C12.y": 4e-9, "C21.x": 40e-9, "C21.y": 40e-9}
    cal = asyncio.run(measure_response(EncodedColumn(play), ReadingEstimator(), list(AB), repeats=2))
    assert cal.play_m["C10"] == pytest.approx(8e-9, abs=1.5e-9)
    assert cal.play_m["C12.x"] == pytest.approx(4e-9, abs=1e-9) and cal.play_m["C12.y"] == pytest.approx(4e-9, abs=1e-9)
    assert "C21.x" not in cal.play_m  # coma play (40 nm against a 1 um tolerance) is not measured

    async def run(play_comp):
        col = EncodedColumn(play)
        pol = NetworkPolicy(estimator=ReadingEstimator(), calibration=cal.gain, play=play_comp, max_frames=40,
                            approach_from_below=None,
                            tolerance={"C10": 5e-9, "C12.x": 5e-9, "C12.y": 5e-9, "C21.x": 100e-9, "C21.y": 100e-9})
        pol.reset(await col.knobs(), dict(col.u), list(AB))
        while (s := pol.propose()) is not None:
            await col.set(s)
            pol.observe(s, await col.acquire())
        await col.set(pol.result())
        return col.truth()

    comp, raw = asyncio.run(run(cal.play_m)), asyncio.run(run({}))
    assert np.all(np.abs(comp[:3]) < 1.5e-9)
    assert np.max(np.abs(raw[:3])) > 4e-9


def test_quick_response_measures_coma_crosstalk_and_play_in_20_frames():
    """The 20-frame calibration: coma knobs' leak into C1/A1 (the entries the full one keeps),
    first-order play, nominal columns for the knobs it does not move, knobs put back."""
    from beamloop.controller.estimation.knob_calibration import quick_response

    play = {"C10": 8e-9, "C12.x": 4e-9, "C12.y": 4e-9}
    col = EncodedColumn(play)
    cal = asyncio.run(quick_response(col, ReadingEstimator()))
    assert cal.frames == 20
    for i, a in enumerate(AB[:3]):
        for j, k in enumerate(("C21.x", "C21.y")):
            assert cal.gain[a][k] == pytest.approx(G_TRUE[i, 3 + j], abs=2e-3)
    assert cal.gain["C10"]["C12.x"] == 0.0 and cal.gain["C12.x"]["C12.x"] == 1.0  # nominal, not measured
    assert cal.gain["C21.x"]["C21.x"] == 1.0 and cal.gain["C21.x"]["C12.x"] == 0.0
    assert cal.play_m["C10"] == pytest.approx(8e-9, abs=1.5e-9)
    assert cal.play_m["C12.x"] == pytest.approx(4e-9, abs=1e-9)
    assert col.u == {k: 0.0 for k in AB}
    response_matrix(cal.gain, list(AB), list(AB))  # complete and invertible


def test_calibration_as_profile_alignment_options():
    """policy_options(): what goes under a profile's alignment.nn map (reused with 0 frames)."""
    cal = ResponseCalibration(gain={"C10": {"C10": 1.0, "C21.x": 0.02}}, play_m={"C10": 8e-9})
    opts = cal.policy_options()
    assert opts == {"calibration": {"C10": {"C10": 1.0, "C21.x": 0.02}}, "play": {"C10": 8e-9}}
    opts["calibration"]["C10"]["C10"] = 2.0
    assert cal.gain["C10"]["C10"] == 1.0  # a copy


def test_short_response_measures_coma_crosstalk_in_16_frames_from_below():
    """The 16-frame calibration: the coma knobs' leak into C1/A1 to 2e-3 despite 40 nm of coma
    play (every frame approached from below), no play measured, nominal columns, knobs put back."""
    from beamloop.controller.estimation.knob_calibration import short_response

    play = {"C10": 8e-9, "C12.x": 4e-9, "C12.y": 4e-9, "C21.x": 40e-9, "C21.y": 40e-9}
    col = EncodedColumn(play)
    cal = asyncio.run(short_response(col, ReadingEstimator(), instrument="bench-column"))
    assert cal.frames == 16 and cal.method == "short" and cal.play_m == {}
    for i, a in enumerate(AB[:3]):
        for j, k in enumerate(("C21.x", "C21.y")):
            assert cal.gain[a][k] == pytest.approx(G_TRUE[i, 3 + j], abs=2e-4)  # 2 h = 2 % of 2 s would be off
    assert cal.gain["C10"]["C12.x"] == 0.0 and cal.gain["C12.x"]["C12.x"] == 1.0
    assert col.u == {k: 0.0 for k in AB}
    assert all(col.eff[k] == pytest.approx(col.u[k] - play[k]) for k in ("C10", "C21.x", "C21.y"))  # moved: from below
    response_matrix(cal.gain, list(AB), list(AB))


def test_approach_refuses_a_play_measurement():
    with pytest.raises(ValueError, match="play_repeats=0"):
        asyncio.run(measure_response(EncodedColumn(), ReadingEstimator(), ["C21.x"], approach=0.01))


def _run_policy_through_loop_waypoints(col, pol):
    """Drive ``pol`` as the alignment loop does: the policy's approach waypoints before each
    proposal and its final approach before the result."""
    async def run():
        pol.reset(await col.knobs(), dict(col.u), list(AB))
        while (s := pol.propose()) is not None:
            for way in pol.approach(dict(s)):
                await col.set(way)
            await col.set(s)
            pol.observe(s, await col.acquire())
        target = pol.result()
        for way in pol.final_approach():
            await col.set(way)
        await col.set(target)
        return col.truth()
    return asyncio.run(run())


def test_approach_from_below_makes_play_harmless_without_measuring_it():
    """With the play unknown to the policy: approached from below, C1/A1 end within 1.5 nm of
    zero; with approach_from_below=None (and no play compensation) C1 ends ~ one play width off."""
    from beamloop.controller.policies.nn import NetworkPolicy

    play = {"C10": 8e-9, "C12.x": 4e-9, "C12.y": 4e-9, "C21.x": 40e-9, "C21.y": 40e-9}
    cal = asyncio.run(measure_response(EncodedColumn(), ReadingEstimator(), list(AB), repeats=2))
    tol = {"C10": 5e-9, "C12.x": 5e-9, "C12.y": 5e-9, "C21.x": 100e-9, "C21.y": 100e-9}
    below = _run_policy_through_loop_waypoints(EncodedColumn(play), NetworkPolicy(
        estimator=ReadingEstimator(), calibration=cal.gain, max_frames=40, tolerance=tol))
    raw = _run_policy_through_loop_waypoints(EncodedColumn(play), NetworkPolicy(
        estimator=ReadingEstimator(), calibration=cal.gain, max_frames=40, tolerance=tol, approach_from_below=None))
    assert np.all(np.abs(below[:3]) < 1.5e-9)
    assert np.max(np.abs(raw[:3])) > 4e-9


def test_nn_waypoints_only_for_downward_moves_inside_the_limits():
    from beamloop.controller.policies.nn import NetworkPolicy

    col = EncodedColumn()
    knobs = asyncio.run(col.knobs())
    pol = NetworkPolicy(estimator=ReadingEstimator(), approach_from_below=0.01)
    pol.reset(knobs, dict(col.u), list(AB))
    s = pol.propose()
    (way,) = pol.approach(dict(s))  # first move: every knob from below
    for k in AB:
        assert way[k] == pytest.approx(max(s[k] - 0.01 * 2 * LIMITS[k], -LIMITS[k]))
    pol.observe(s, asyncio.run(col.acquire()))
    s2 = pol.propose()  # second frame of the pair: only the focus moves, upwards
    assert s2["C10"] > s["C10"] and pol.approach(dict(s2)) == []
    with pytest.raises(ValueError, match="approach_from_below"):
        NetworkPolicy(estimator=ReadingEstimator(), approach_from_below=2.0).reset(knobs, dict(col.u), list(AB))


def test_saved_calibration_carries_provenance_and_is_refused_elsewhere(tmp_path):
    from beamloop.controller.estimation.knob_calibration import CalibrationMismatchError, short_response

    col = EncodedColumn()
    cal = asyncio.run(short_response(col, ReadingEstimator(), instrument="column-a"))
    again = ResponseCalibration.load(cal.save(tmp_path / "cal.json"))
    assert again.instrument == "column-a" and again.knobs == {k: k for k in AB} and again.method == "short"
    assert again.measured_at.endswith("Z") and again.approach == 0.01 and "metres" in json_units(tmp_path / "cal.json")
    knobs = asyncio.run(col.knobs())
    again.check_for("column-a", knobs)  # the same instrument and knobs: accepted
    again.check_for(None, knobs)        # instrument unknown (a remote server): the knobs still match
    with pytest.raises(CalibrationMismatchError, match="measured on instrument 'column-a'.*this is 'column-b'"):
        again.check_for("column-b", knobs)
    fewer = {k: v for k, v in knobs.items() if k != "C21.y"}
    with pytest.raises(CalibrationMismatchError, match=r"not on the instrument: \['C21.y'\]"):
        again.check_for("column-a", fewer)
    with pytest.raises(CalibrationMismatchError, match="C21.x drives C21.x in the file, C21.y here"):
        again.check_for("column-a", {**{k: k for k in AB}, "C21.x": "C21.y"})
    old = tmp_path / "old.json"  # a file from before provenance was saved
    old.write_text('{"gain": {"C10": {"C10": 1.0}}}')
    with pytest.raises(CalibrationMismatchError, match="names no instrument"):
        ResponseCalibration.load(old).check_for("column-a", knobs)


def json_units(path):
    import json

    return json.loads(path.read_text())["units"]
