"""The shadow-magnification model of the Fourier ellipse and its focus fit (estimation/magnification_fit.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from beamloop.controller.estimation.cost import EllipseFeatures, fourier_ellipse
from beamloop.controller.estimation.magnification_fit import (FitConfig, MagnificationFitError, _components,
                                                             ellipse_covariance, fit_focus, predicted_covariance)
from beamloop.controller.policies.magnification_step import MagnificationSteps

AXES = ["C10", "C12.x"]
LO, HI = np.array([-180e-9, -180e-9]), np.array([180e-9, 180e-9])
S, F, W = 1.8e6, 0.025, 0.16  # cycles/px per m, floor and camera widths (the twin's, roughly)


def _frames(x_star, settings, rng=None, rel=0.0, axes=AXES, camera_axes="xy"):
    comp = _components(axes, camera_axes)
    cov = predicted_covariance(np.asarray(settings) - x_star, comp, S, F, W)
    if rng is not None:
        cov = cov * (1.0 + rel * rng.standard_normal(cov.shape[0]))[:, None, None]
    return cov


def test_ellipse_covariance_round_trip():
    cov = ellipse_covariance(0.1, 0.02, 0.3)
    evals, evecs = np.linalg.eigh(cov)
    assert np.sqrt(evals) == pytest.approx([0.02, 0.1])
    assert abs(abs(np.arctan2(evecs[1, 1], evecs[0, 1])) - 0.3) < 1e-9 or abs(np.arctan2(evecs[1, 1], evecs[0, 1]) + np.pi - 0.3) < 1e-9


def test_model_widths_saturate_at_the_camera_and_floor_at_focus():
    comp = _components(AXES, "xy")
    c = predicted_covariance(np.array([[0.0, 0.0], [1e-6, 0.0], [50e-9, 50e-9]]), comp, S, F, W)
    assert np.sqrt(c[0, 0, 0]) == pytest.approx(1.0 / np.sqrt(1 / F**2 + 1 / W**2), rel=1e-6)  # focus: the floor
    assert np.sqrt(c[1, 0, 0]) > 0.95 * W and np.sqrt(c[1, 1, 1]) > 0.95 * W                # far: the camera
    # C1 = A1x = 50 nm on the twin's camera (rows = x): C1 - A1x = 0 along the columns, C1 + A1x = 100 nm along the rows
    assert c[2, 0, 0] < 1.5 * c[0, 0, 0] and c[2, 1, 1] > 5 * c[0, 1, 1]


@pytest.mark.parametrize("x_star", [(60e-9, -90e-9), (-140e-9, 20e-9), (0.0, 130e-9)])
def test_fit_recovers_focus_from_three_noisy_frames(x_star):
    rng = np.random.default_rng(1)
    x_star = np.array(x_star)
    settings = np.array([[0.0, 0.0], [80e-9, 0.0], [x_star[0] + 30e-9, x_star[1] - 20e-9]])
    fit = fit_focus(settings, _frames(x_star, settings, rng, 0.03), AXES, LO, HI)
    assert np.linalg.norm(fit.x_star - x_star) < 8e-9, fit
    assert fit.scale == pytest.approx(S, rel=0.3)


def test_fit_is_independent_of_the_sample_scale():
    """A sample with 3x finer texture (s x 3) gives the same focus: the ratios fix it, not the widths."""
    x_star = np.array([70e-9, 40e-9])
    settings = np.array([[0.0, 0.0], [80e-9, 0.0], [60e-9, 30e-9], [-40e-9, 80e-9]])
    comp = _components(AXES, "xy")
    for scale in (0.6e6, 1.8e6):
        cov = predicted_covariance(settings - x_star, comp, scale, F, W)
        fit = fit_focus(settings, cov, AXES, LO, HI)
        assert np.linalg.norm(fit.x_star - x_star) < 3e-9, (scale, fit)


def test_unresolved_frames_rule_out_a_branch():
    """Two frames leave a mirror solution; a frame without resolvable speckle at it removes it."""
    x_star = np.array([100e-9, 0.0])
    settings = np.array([[0.0, 0.0], [20e-9, 0.0]])
    cov = _frames(x_star, settings)
    fit = fit_focus(settings, cov, AXES, LO, HI)
    mirror = np.array([-100e-9, 0.0]) + 0.0  # where the first frame alone would also put it
    flat = np.array([[-170e-9, 0.0]])  # speckle finer than the camera there
    fit2 = fit_focus(settings, cov, AXES, LO, HI, unresolved_m=flat)
    assert np.linalg.norm(fit2.x_star - x_star) < 10e-9, (fit, fit2, mirror)


def test_camera_axes_flip_the_sign_of_a1x_only():
    assert _components(["C10", "C12.x", "C12.y"], "xy").tolist() == [[1, 0, 0], [0, -1, 0], [0, 0, 1]]
    assert _components(["C10", "C12.x", "C12.y"], "yx").tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


def test_fit_refuses_what_it_cannot_model():
    with pytest.raises(MagnificationFitError, match="C21.x"):
        fit_focus(np.zeros((2, 2)), np.tile(np.eye(2), (2, 1, 1)), ["C10", "C21.x"], LO, HI)
    with pytest.raises(MagnificationFitError, match="two resolved"):
        fit_focus(np.zeros((1, 2)), np.eye(2)[None], AXES, LO, HI)
    with pytest.raises(MagnificationFitError, match="camera_axes"):
        fit_focus(np.zeros((2, 2)), np.tile(np.eye(2), (2, 1, 1)), AXES, LO, HI, FitConfig(camera_axes="zz"))


def test_steps_confirm_only_a_frame_at_the_focus():
    x_star = np.array([30e-9, -50e-9])
    steps = MagnificationSteps(AXES, LO, HI, stop_m=5e-9)
    comp = _components(AXES, "xy")

    def feat(x):
        evals, evecs = np.linalg.eigh(predicted_covariance((x - x_star)[None], comp, S, F, W)[0])
        return EllipseFeatures(float(np.sqrt(evals[1])), float(np.sqrt(evals[0])),
                               float(np.arctan2(evecs[1, 1], evecs[0, 1])))

    for x in (np.zeros(2), np.array([80e-9, 0.0]), np.array([-60e-9, 40e-9])):
        steps.add(x, feat(x))
    assert not steps.confirmed()  # the last frame was not at the focus
    focus = steps.focus()
    assert np.linalg.norm(focus - x_star) < 3e-9
    steps.add(focus, feat(focus))
    assert steps.confirmed()
    steps.add(focus, EllipseFeatures(0.3, 0.3, 0.0, resolved=False))
    assert not steps.confirmed()  # an unresolved frame confirms nothing


@pytest.mark.parametrize("seed", [5, 8])
def test_following_the_model_focuses_the_twin(seed):
    """On the twin (noise on, hidden C1/A1x offset up to 100 nm): start, an 80 nm focus probe, then frames
    at the model's focus; it confirms a focus within 15 nm of the truth in at most 8 frames."""
    from beamloop.controller.bench.align import twin_ronchigram_options
    from beamloop.sim.microscope import Microscope, MicroscopeConfig

    m = Microscope(MicroscopeConfig(ronchigram=twin_ronchigram_options(), drift=False), seed=seed)
    steps = MagnificationSteps(AXES, LO, HI, stop_m=5e-9)
    x = np.zeros(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.misalign(np.random.default_rng(seed), {"C10": 100e-9, "C12.x": 100e-9})
        truth = np.array([m.aligned_knobs()[a] for a in AXES])
        for k in range(8):
            m.set_knobs({"C10": float(x[0] - 18e-9), "C12.x": float(x[1] - 18e-9)})  # from below, as the policy
            m.set_knobs({"C10": float(x[0]), "C12.x": float(x[1])})
            img, _ = m.acquire()
            steps.add(x, fourier_ellipse(img, 8.0))
            if k > 1 and steps.confirmed():
                break
            x = np.array([80e-9, 0.0]) if k == 0 else steps.focus()
    assert np.linalg.norm(truth) > 40e-9  # a real offset to find
    assert steps.confirmed() and k < 8, (k, steps.last_fit)
    resid = m.true_aberration_dict()
    assert np.hypot(resid["C10"], resid["C12.x"]) < 15e-9, (x, truth, steps.last_fit)
