"""Scalarizers, acquisition functions and the deep-kernel regressor of the explore policy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.controller.core.backend import PointMeasurement
from beamloop.controller.estimation.acquisition import (
    expected_improvement,
    masked_argmax,
    thompson,
    upper_confidence_bound,
)
from beamloop.controller.estimation.dkl import DKLConfig, DKLRegressor, extract_patches, patch_features
from beamloop.controller.estimation.scalarizers import (
    ScalarizerError,
    com_magnitude,
    dpc_field,
    load_user,
    make_scalarizer,
    ratio,
    user,
)


def pm(**sums) -> PointMeasurement:
    return PointMeasurement(position_m=(0.0, 0.0), sums={k: np.asarray(v, dtype=float) for k, v in sums.items()},
                            com_rad=np.array([3e-6, -4e-6]))


# --- scalarizers ------------------------------------------------------------------------------
def test_com_magnitude():
    assert com_magnitude(pm()) == pytest.approx(5e-6)
    with pytest.raises(ScalarizerError, match="centre of mass"):
        com_magnitude(PointMeasurement((0.0, 0.0), {}))


def test_dpc_field_follows_the_quadrant_imbalance():
    # segments counter-clockwise from +x: 0 = (+x,+y), 1 = (-x,+y), 2 = (-x,-y), 3 = (+x,-y)
    assert dpc_field(pm(DPC=[1, 1, 1, 1])) == 0.0
    # beam pushed to +x: quadrants 0 and 3 gain
    assert dpc_field(pm(DPC=[1.5, 1, 1, 1.5])) == pytest.approx(1.0 / 5.0)
    assert dpc_field(pm(DPC=[2, 1, 1, 2])) > dpc_field(pm(DPC=[1.5, 1, 1, 1.5]))
    assert dpc_field(pm(DPC=[0, 0, 0, 0])) == 0.0
    with pytest.raises(ScalarizerError, match="'DPC'"):
        dpc_field(pm(BF=[1]))
    with pytest.raises(ScalarizerError, match="4 quadrants"):
        dpc_field(pm(DPC=[1, 2]))


def test_ratio_and_user_scalarizers(tmp_path, monkeypatch):
    f = ratio("superlattice", "central")
    assert f(pm(superlattice=[3.0], central=[12.0])) == pytest.approx(0.25)
    assert f(pm(superlattice=[3.0], central=[0.0])) == 0.0
    with pytest.raises(ScalarizerError, match="'central'"):
        f(pm(superlattice=[1.0]))
    u = user(lambda m: m.sums["BF"].sum() * 2)
    assert u(pm(BF=[1, 2])) == 6.0
    with pytest.raises(ScalarizerError, match="returned"):
        user(lambda m: float("nan"))(pm())
    with pytest.raises(TypeError):
        user(3)
    (tmp_path / "myscal.py").write_text("def bf_total(m):\n    return float(m.sums['BF'].sum())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_user("myscal:bf_total")(pm(BF=[4, 5])) == 9.0
    assert make_scalarizer("user", fn="myscal:bf_total")(pm(BF=[1])) == 1.0
    with pytest.raises(ValueError, match="module:function"):
        load_user("myscal")
    with pytest.raises(ValueError, match="unknown 'nope'"):
        make_scalarizer("nope")
    assert make_scalarizer("com") is com_magnitude and make_scalarizer("dpc") is dpc_field


# --- acquisition functions on a known GP posterior -----------------------------------------
def gp_posterior(x_train, y_train, x, ell=0.15, noise=1e-4):
    """Exact posterior of a zero-mean unit-variance RBF GP (reference algebra for the test)."""
    k = lambda a, b: np.exp(-0.5 * (a[:, None] - b[None, :]) ** 2 / ell ** 2)
    K = k(x_train, x_train) + noise * np.eye(len(x_train))
    Ks = k(x, x_train)
    mu = Ks @ np.linalg.solve(K, y_train)
    var = 1.0 - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))
    return mu, np.sqrt(np.clip(var, 0, None))


def test_expected_improvement_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x_train = np.array([0.1, 0.4, 0.8])
    y_train = np.array([0.2, 1.0, -0.5])
    x = np.linspace(0, 1, 41)
    mu, sd = gp_posterior(x_train, y_train, x)
    best = y_train.max()
    ei = expected_improvement(mu, sd, best)
    draws = mu[None] + sd[None] * rng.standard_normal((100000, len(x)))
    mc = np.maximum(draws - best, 0).mean(axis=0)
    assert np.allclose(ei, mc, atol=4e-3 + 0.03 * mc)
    # at a training point the posterior is (almost) certain and below best: nothing to gain
    assert ei[np.argmin(abs(x - 0.8))] < 1e-3
    # the xi margin only lowers EI
    assert np.all(expected_improvement(mu, sd, best, xi=0.1) <= ei + 1e-12)
    # zero sigma: the plain improvement
    assert expected_improvement(np.array([2.0, 0.5]), np.zeros(2), 1.0).tolist() == [1.0, 0.0]


def test_ucb_and_thompson():
    mu = np.array([0.0, 1.0, 0.5])
    sd = np.array([1.0, 0.1, 0.5])
    assert np.argmax(upper_confidence_bound(mu, sd, beta=0.0)) == 1      # pure exploitation
    assert np.argmax(upper_confidence_bound(mu, sd, beta=100.0)) == 0    # exploration wins
    assert np.array_equal(upper_confidence_bound(mu, sd, beta=math.inf), sd)
    assert upper_confidence_bound(mu, sd, 4.0) == pytest.approx(mu + 2 * sd)
    with pytest.raises(ValueError, match="beta"):
        upper_confidence_bound(mu, sd, -1.0)
    assert np.array_equal(thompson([1, 3, 2]), [1.0, 3.0, 2.0])


def test_masked_argmax_skips_measured_and_nan():
    s = np.array([5.0, np.nan, 3.0, 4.0])
    assert masked_argmax(s, [0]) == 3
    assert masked_argmax(s, [0, 3]) == 2
    assert masked_argmax(np.full(3, np.nan), [0]) == 1
    with pytest.raises(ValueError, match="every candidate"):
        masked_argmax(np.zeros(2), [0, 1])


# --- DKL --------------------------------------------------------------------------------------
def test_patches_and_features():
    img = np.arange(36.0).reshape(6, 6)
    p = extract_patches(img, 3)
    assert p.shape == (6, 6, 3, 3)
    assert np.array_equal(p[2, 3], img[1:4, 2:5])
    with pytest.raises(ValueError, match="odd"):
        extract_patches(img, 4)
    f = patch_features(np.random.default_rng(0).random((16, 16)), size=5, n_components=4)
    assert f.shape == (256, 4) and np.allclose(f.std(axis=0), 1, atol=1e-3)


def toy(n, rng):
    """y = a sharp non-linear function of a 2-D projection of 6-D features."""
    x = rng.standard_normal((n, 6)).astype(np.float32)
    z = x[:, 0] + 0.5 * x[:, 1]
    return x, np.tanh(2 * z) + 0.5 * np.cos(2 * x[:, 2])


@pytest.mark.parametrize("deep", [True, False])
def test_dkl_learns_a_toy_relation(deep):
    rng = np.random.default_rng(1)
    x, y = toy(160, rng)
    xt, yt = toy(400, rng)
    m = DKLRegressor(DKLConfig(deep=deep, iters_first=200, seed=0)).fit(x, y + 0.05 * rng.standard_normal(len(y)))
    mu, sd = m.predict(xt)
    r2 = 1 - np.mean((mu - yt) ** 2) / np.var(yt)
    assert r2 > 0.7, r2
    assert np.all(sd > 0) and mu.shape == sd.shape == (400,)
    if not deep:
        assert np.mean(abs(mu - yt) < 3 * sd + 0.05) > 0.8
    # the deep kernel's sigma is not calibrated (measured: ~60 % of the test errors within
    # 3 sigma + 0.05, and about the same sigma at training and held-out points; docs/explore.md),
    # so nothing is asserted about it
    draws = m.sample(xt[:50], 3, generator_seed=0)
    assert draws.shape == (3, 50) and not np.allclose(draws[0], draws[1])
    emb = m.embedding(xt[:5])
    assert emb.shape == ((5, 2) if deep else (5, 6))


def test_dkl_refuses_bad_inputs_and_warm_starts():
    m = DKLRegressor(DKLConfig(iters_first=20, iters_update=5))
    with pytest.raises(RuntimeError, match="fit"):
        m.predict(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="n >= 2"):
        m.fit(np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(ValueError, match="finite"):
        m.fit(np.zeros((3, 3)), np.array([0.0, np.nan, 1.0]))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    m.fit(x[:6], x[:6, 0])
    model = m.model
    m.fit(x, x[:, 0])
    assert m.model is model and m.model.train_inputs[0].shape[0] == 10
