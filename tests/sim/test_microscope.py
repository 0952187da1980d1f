"""The microscope twin: knobs, limits, calibration cross-talk, hysteresis, settle, drift, detector."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.sim.microscope import KnobRangeError, KnobSpec, Microscope, MicroscopeConfig, UnknownKnobError

AXES = ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]
SMALL = {"size_px": 48, "sample_patch_px": 768, "max_oversample": 4}


def ab_vec(m: Microscope) -> np.ndarray:
    d = m.true_aberration_dict()
    return np.array([d[a] for a in AXES])


def test_knob_specs_are_si_with_limits():
    m = Microscope(MicroscopeConfig(), seed=0)
    specs = m.knob_specs()
    assert list(specs) == AXES
    for name, s in specs.items():
        assert isinstance(s, KnobSpec) and s.unit == "m" and s.aberration == name and s.minimum < 0 < s.maximum
    assert specs["C10"].maximum == pytest.approx(2e-6)
    assert specs["C12.x"].maximum == pytest.approx(1e-6)
    assert specs["C21.y"].minimum == pytest.approx(-10e-6)
    m23 = Microscope(MicroscopeConfig(knobs=tuple(AXES) + ("C23.x", "C23.y")), seed=0)
    assert "C23.y" in m23.knob_specs()


@pytest.mark.parametrize("bad", [3e-6, -2.0001e-6, float("nan"), float("inf"), "abc"])
def test_out_of_range_refused_nothing_applied(bad):
    m = Microscope(MicroscopeConfig.deterministic(), seed=0)
    m.set_knobs({"C10": 1e-7})
    before, ab_before, t_before = m.get_knobs(), m.true_aberration_dict(), m.t
    with pytest.raises(KnobRangeError) as ei:
        m.set_knobs({"C12.x": 5e-8, "C10": bad})  # the valid one must not be applied either
    assert ei.value.knob == "C10" and "C10" in str(ei.value) and "limits" in str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert m.get_knobs() == before and m.true_aberration_dict() == ab_before and m.t == t_before


def test_unknown_knob_is_a_clear_keyerror():
    m = Microscope(MicroscopeConfig.deterministic(), seed=0)
    with pytest.raises(KeyError) as ei:
        m.set_knobs({"C10": 1e-8, "objective_foocus": 1.0})
    assert isinstance(ei.value, UnknownKnobError) and "objective_foocus" in str(ei.value)
    assert m.get_knobs()["C10"] == 0.0


def test_calibration_has_crosstalk_and_matches_response():
    m = Microscope(MicroscopeConfig.deterministic(), seed=0)
    M = m.M
    assert not np.allclose(M, np.eye(5)), "knobs must not map 1:1 to aberrations"
    assert np.all(np.abs(np.diag(M) - 1) < 0.25)
    assert np.abs(M - np.diag(np.diag(M))).max() > 1e-3
    a0 = ab_vec(m)
    for j, knob in enumerate(AXES):
        m.set_knobs({knob: 1e-7})
        col = (ab_vec(m) - a0) / 1e-7
        np.testing.assert_allclose(col, M[:, j], rtol=1e-9, atol=1e-12)
        m.set_knobs({knob: 0.0})
    cal = m.calibration()
    assert cal["C10"]["C12.x"] == pytest.approx(M[0, 1])


def test_explicit_calibration_and_singular_rejected():
    cal = {a: {a: 1.0} for a in AXES}
    cal["C10"]["C21.x"] = 0.1
    m = Microscope(MicroscopeConfig.deterministic(calibration=cal), seed=0)
    m.set_knobs({"C21.x": 1e-6})
    assert m.true_aberration_dict()["C10"] == pytest.approx(1e-7)
    with pytest.raises(ValueError, match="singular"):
        Microscope(MicroscopeConfig.deterministic(calibration={"C10": {"C10": 1.0}}), seed=0)


def test_hysteresis_depends_on_approach_direction():
    cfg = MicroscopeConfig.deterministic(hysteresis_m={"C10": 5e-9})
    m = Microscope(cfg, seed=0)
    m.set_knobs({"C10": -5e-7})
    m.set_knobs({"C10": 1e-7})          # from below
    from_below = m.true_aberration_dict()["C10"]
    m.set_knobs({"C10": 5e-7})
    m.set_knobs({"C10": 1e-7})          # from above
    from_above = m.true_aberration_dict()["C10"]
    assert from_above - from_below == pytest.approx(2 * 5e-9 * m.M[0, 0], rel=1e-6)
    # a reversal smaller than the play band moves nothing
    m.set_knobs({"C10": 1.05e-7})
    assert m.true_aberration_dict()["C10"] == pytest.approx(from_above)


def test_settle_time_transient():
    cfg = MicroscopeConfig.deterministic(settle_time_s=0.1, settle_on_set=False)
    m = Microscope(cfg, seed=0)
    m.set_knobs({"C10": 1e-6})
    assert m.true_aberration_dict()["C10"] == pytest.approx(0.0, abs=1e-15)  # nothing yet
    m.advance(0.05)
    mid = m.true_aberration_dict()["C10"] / (1e-6 * m.M[0, 0])
    assert 0.8 < mid < 0.95                                                # 1 - 10^-1 = 0.9
    m.advance(0.05)
    assert m.true_aberration_dict()["C10"] / (1e-6 * m.M[0, 0]) == pytest.approx(0.99, abs=1e-6)
    # settle_on_set: set returns once settled and the clock moved
    m2 = Microscope(MicroscopeConfig.deterministic(settle_time_s=0.1), seed=0)
    m2.set_knobs({"C10": 1e-6})
    assert m2.t == pytest.approx(0.1)
    assert m2.true_aberration_dict()["C10"] / (1e-6 * m2.M[0, 0]) == pytest.approx(0.99, abs=1e-6)


def test_drift_moves_aberrations_with_clock():
    m = Microscope(MicroscopeConfig.deterministic(drift=True), seed=3)
    a0 = ab_vec(m)
    m.advance(100.0)
    d = ab_vec(m) - a0
    assert abs(d[0]) > 5e-9 and abs(d[0]) < 100e-9     # C10 drifts ~0.2 nm/s
    assert np.all(np.abs(d) > 0)
    m_off = Microscope(MicroscopeConfig.deterministic(), seed=3)
    m_off.advance(100.0)
    assert np.all(ab_vec(m_off) == 0)
    with pytest.raises(ValueError, match="dt_s"):
        m.advance(float("nan"))


def test_misalign_and_aligned_knobs_oracle_with_hysteresis_and_drift():
    cfg = MicroscopeConfig(drift=True, noise=False, hysteresis_fraction=0.005)
    m = Microscope(cfg, seed=1)
    windows = {"C10": 3e-7, "C12.x": 1e-7, "C12.y": 1e-7, "C21.x": 1e-6, "C21.y": 1e-6}
    off = m.misalign(np.random.default_rng(7), windows)
    assert all(abs(off[a]) <= w for a, w in windows.items()) and any(off[a] != 0 for a in windows)
    assert np.linalg.norm(ab_vec(m)) > 1e-8
    m.set_knobs({"C10": 1e-7, "C21.x": -2e-6})  # some arbitrary path first
    target = m.aligned_knobs()
    cfg.settle_on_set = False       # compare at the instant of setting (no drift during settle)...
    m.set_knobs(target)
    m.advance(1.0)                  # ...then let it settle: only ~1 s of drift remains
    res = ab_vec(m)
    assert np.all(np.abs(res) < 5e-9), res
    with pytest.raises(ValueError, match="misalign"):
        m.misalign(0, {"C30": 1e-6})


def test_acquire_image_and_info():
    cfg = MicroscopeConfig.deterministic(ronchigram=SMALL, frame_rate_hz=100.0)
    m = Microscope(cfg, seed=0)
    img, info = m.acquire()
    assert img.dtype == np.uint16 and img.shape == (48, 48) and img.max() > 0
    assert info["seq"] == 0 and info["t"] == 0.0 and info["exposure_s"] == pytest.approx(0.01)
    assert m.t == pytest.approx(0.01)
    assert set(info["knobs"]) == set(AXES) and set(AXES) <= set(info["aberrations"])
    img2, info2 = m.acquire()
    assert info2["seq"] == 1 and np.array_equal(img, img2)  # noise off, nothing changed
    m.set_knobs({"C10": 3e-8})
    img3, info3 = m.acquire()
    assert info3["knobs"]["C10"] == 3e-8 and info3["aberrations"]["C10"] != 0
    assert np.abs(img3.astype(float) - img.astype(float)).mean() > 0.05 * img.mean()  # defocus changes the Ronchigram


def test_noise_is_seeded_and_float_detector():
    cfg = MicroscopeConfig(drift=False, ronchigram=SMALL, detector_dtype="float32")
    a = Microscope(cfg, seed=5).acquire()[0]
    b = Microscope(cfg, seed=5).acquire()[0]
    c = Microscope(cfg, seed=6).acquire()[0]
    assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="detector_dtype"):
        Microscope(MicroscopeConfig(detector_dtype="int8"))


def test_config_validation():
    with pytest.raises(ValueError, match="limits"):
        Microscope(MicroscopeConfig(knobs=("C10", "C99.x")))
    with pytest.raises(ValueError, match="frame_rate_hz"):
        Microscope(MicroscopeConfig(frame_rate_hz=0))
    assert math.isclose(Microscope(MicroscopeConfig(frame_rate_hz=25)).exposure_s, 0.04)
