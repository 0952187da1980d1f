"""GP / weighted-EI logic of controller/estimation/bayesopt.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from beamloop.controller.estimation.bayesopt import BayesOptimizer, BOConfig, expected_improvement, proximity_weight


def test_expected_improvement_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu, sd, best = np.array([0.3, 1.0, 1.5]), np.array([0.5, 0.2, 1.0]), 1.0
    samples = mu[None, :] + sd[None, :] * rng.standard_normal((400_000, 3))
    mc = np.maximum(best - samples, 0).mean(axis=0)
    np.testing.assert_allclose(expected_improvement(mu, sd, best), mc, rtol=0.02, atol=2e-3)


def test_expected_improvement_limits():
    # zero uncertainty: plain improvement, never negative
    np.testing.assert_allclose(expected_improvement(np.array([0.2, 2.0]), np.array([0.0, 0.0]), 1.0), [0.8, 0.0])
    # exploration margin lowers EI
    assert expected_improvement(np.array([1.0]), np.array([0.3]), 1.0, xi=0.1)[0] < expected_improvement(
        np.array([1.0]), np.array([0.3]), 1.0
    )[0]
    assert expected_improvement(np.array([1.0]), np.array([0.3]), 1.0)[0] == pytest.approx(0.3 * norm.pdf(0))
    with pytest.raises(ValueError, match="sigma"):
        expected_improvement(np.array([1.0]), np.array([-1.0]), 1.0)


def test_proximity_weight():
    x = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 1.0]])
    w = proximity_weight(x, np.array([0.0, 0.0]), 0.5)
    np.testing.assert_allclose(w, [1.0, np.exp(-0.5), np.exp(-4.0)])
    np.testing.assert_allclose(proximity_weight(x, np.zeros(2), np.inf), 1.0)
    with pytest.raises(ValueError, match="rho"):
        proximity_weight(x, np.zeros(2), 0.0)


def test_gp_interpolates_and_is_uncertain_far_away():
    rng = np.random.default_rng(1)
    opt = BayesOptimizer(2, BOConfig(), rng)
    for x in rng.uniform(-1, 1, (25, 2)):
        opt.tell(x, float(np.sum((x - 0.2) ** 2)))
    mu, sd = opt.predict(np.array([[0.2, 0.2], [0.9, -0.9]]))
    assert mu[0] == pytest.approx(0.0, abs=0.05)
    assert mu[1] == pytest.approx(0.49 + 1.21, abs=0.15)
    mu_in, sd_in = opt.predict(opt.X[:1])
    assert sd_in[0] < 0.05


@pytest.mark.parametrize("dim", [2, 3])
def test_bo_finds_minimum_of_noisy_bowl(dim):
    rng = np.random.default_rng(2)
    target = np.linspace(-0.5, 0.5, dim)
    f = lambda x: float(np.log(np.sum((x - target) ** 2) + 1e-3) + 0.02 * rng.standard_normal())  # noqa: E731
    opt = BayesOptimizer(dim, BOConfig(n_polish=1, n_candidates=1024), np.random.default_rng(3))
    for x in np.random.default_rng(4).uniform(-1, 1, (3, dim)):
        opt.tell(x, f(x))
    for _ in range(10 * dim):
        x = opt.ask()
        assert np.all(np.abs(x) <= 1.0)
        opt.tell(x, f(x))
    x_best, _ = opt.best()
    assert np.linalg.norm(x_best - target) < 0.1


def test_tell_rejects_bad_input():
    opt = BayesOptimizer(2)
    with pytest.raises(ValueError, match="y"):
        opt.tell(np.zeros(2), float("nan"))
    with pytest.raises(ValueError, match="x"):
        opt.tell(np.zeros(3), 1.0)
    with pytest.raises(RuntimeError):
        opt.best()
