"""Gaussian-process Bayesian optimisation with expected improvement weighted towards the best point.

Pure numerics, no I/O and no knowledge of microscopes: points live in the normalised box
``[-1, 1]^d`` (the policy maps knob values in metres to and from it). This is the ASIMOV D1.2
(section 3) recipe:

* a GP with a squared-exponential kernel (here with one length scale per axis, ARD) whose
  hyper-parameters are set by maximising the marginal likelihood (scikit-learn's
  :class:`~sklearn.gaussian_process.GaussianProcessRegressor`), plus a white-noise term because
  the cost of a noisy frame is itself noisy;
* expected improvement (EI) multiplied by a factor that prefers the neighbourhood of the best
  point so far: ``a(x) = EI(x) * exp(-|x - x_best|^2 / (2 rho^2))``;
* the acquisition maximised by scoring a few thousand random candidates (uniform in the box plus
  a Gaussian cloud around the best point) and polishing the best few with L-BFGS-B
  (``scipy.optimize.minimize``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement (for minimisation) of a Gaussian posterior ``N(mu, sigma^2)`` over ``best``.

    ``EI = (best - mu - xi) Phi(z) + sigma phi(z)`` with ``z = (best - mu - xi) / sigma``; zero where
    ``sigma == 0`` and ``mu >= best``. ``xi`` >= 0 trades exploitation for exploration.
    """
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    if np.any(sigma < 0):
        raise ValueError("sigma: posterior standard deviations must be >= 0")
    improvement = best - mu - xi
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, improvement / np.where(sigma > 0, sigma, 1.0), 0.0)
    ei = improvement * norm.cdf(z) + sigma * norm.pdf(z)
    ei = np.where(sigma > 0, ei, np.maximum(improvement, 0.0))
    return np.maximum(ei, 0.0)


def proximity_weight(x: np.ndarray, x_best: np.ndarray, rho: float) -> np.ndarray:
    """The factor that prioritises the neighbourhood of the best point: ``exp(-|x - x_best|^2 / (2 rho^2))``.

    ``x``: (n, d) points; ``x_best``: (d,); ``rho``: neighbourhood radius in normalised units
    (``inf`` switches the weighting off).
    """
    if not rho > 0:
        raise ValueError(f"rho: neighbourhood radius must be > 0, got {rho!r}")
    if np.isinf(rho):
        return np.ones(np.atleast_2d(x).shape[0])
    d2 = np.sum((np.atleast_2d(x) - np.asarray(x_best)[None, :]) ** 2, axis=1)
    return np.exp(-0.5 * d2 / rho**2)


@dataclass
class BOConfig:
    """Settings of :class:`BayesOptimizer` (all lengths in the normalised box [-1, 1]^d).

    rho: radius of the best-point neighbourhood weighting; xi: EI exploration margin (in units
    of the normalised target); n_candidates: random candidates scored per proposal;
    local_fraction/local_sigma: share and spread of candidates drawn around the best point;
    n_polish: candidates refined with L-BFGS-B; length_scale_bounds: GP length-scale bounds;
    noise_bounds: white-noise variance bounds (normalised target); n_restarts: extra random
    restarts of the marginal-likelihood optimiser; min_distance: a proposal must be at least this
    far from every point already measured (re-measuring the same setting teaches the GP
    nothing new and stalls the search at the best point); kernel: ``"rbf"`` (squared exponential,
    as ASIMOV) or ``"matern52"`` (rougher, suits the V-shaped cost near its floor).
    """

    rho: float = 1.0
    xi: float = 0.01
    n_candidates: int = 2048
    local_fraction: float = 0.25
    local_sigma: float = 0.1
    n_polish: int = 3
    length_scale_bounds: tuple[float, float] = (0.05, 20.0)
    noise_bounds: tuple[float, float] = (1e-6, 1e-1)
    n_restarts: int = 1
    min_distance: float = 0.03
    kernel: str = "matern52"


class BayesOptimizer:
    """Ask/tell Bayesian optimiser on ``[-1, 1]^d`` minimising a noisy scalar.

    ``tell(x, y)`` adds observations; ``ask()`` returns the next point (the maximiser of the
    weighted EI); ``predict(x)`` gives the GP posterior mean and standard deviation in target
    units; ``best()`` the best observed point.
    """

    def __init__(self, dim: int, config: BOConfig | None = None, rng: np.random.Generator | None = None):
        if dim < 1:
            raise ValueError(f"dim: need at least one axis, got {dim!r}")
        self.dim = dim
        self.config = config or BOConfig()
        self.rng = rng if rng is not None else np.random.default_rng()
        self.X = np.zeros((0, dim))
        self.y = np.zeros(0)
        self._gp: GaussianProcessRegressor | None = None
        self._theta: np.ndarray | None = None  # warm start of the hyper-parameters

    # -- data ---------------------------------------------------------------------------
    def tell(self, x: np.ndarray, y: float) -> None:
        """Add one observation: ``x`` a point in the box (d,), ``y`` its finite cost."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.shape != (self.dim,):
            raise ValueError(f"x: expected shape ({self.dim},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"x: point must be finite, got {x}")
        if not np.isfinite(y):
            raise ValueError(f"y: cost must be finite, got {y!r}")
        self.X = np.vstack([self.X, x])
        self.y = np.append(self.y, float(y))
        self._gp = None

    def best(self) -> tuple[np.ndarray, float]:
        """The observed point with the lowest cost and that cost."""
        if len(self.y) == 0:
            raise RuntimeError("best: no observations yet")
        i = int(np.argmin(self.y))
        return self.X[i].copy(), float(self.y[i])

    # -- model --------------------------------------------------------------------------
    def _kernel(self):
        c = self.config
        if c.kernel == "rbf":
            base = RBF(length_scale=np.full(self.dim, 0.5), length_scale_bounds=c.length_scale_bounds)
        elif c.kernel == "matern52":
            base = Matern(length_scale=np.full(self.dim, 0.5), length_scale_bounds=c.length_scale_bounds, nu=2.5)
        else:
            raise ValueError(f"kernel: must be 'rbf' or 'matern52', got {c.kernel!r}")
        return ConstantKernel(1.0, (1e-3, 1e3)) * base + WhiteKernel(1e-3, c.noise_bounds)

    def fit(self) -> GaussianProcessRegressor:
        """Fit (or return the cached) GP to the observations; hyper-parameters by marginal likelihood."""
        if self._gp is not None:
            return self._gp
        if len(self.y) < 2:
            raise RuntimeError("fit: need at least two observations")
        kernel = self._kernel()
        if self._theta is not None:
            kernel = kernel.clone_with_theta(self._theta)
        gp = GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=True,
            n_restarts_optimizer=self.config.n_restarts,
            random_state=int(self.rng.integers(2**31 - 1)),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(self.X, self.y)
        self._theta = gp.kernel_.theta
        self._gp = gp
        return gp

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GP posterior mean and standard deviation at points ``x`` (n, d), in target units."""
        gp = self.fit()
        mu, sd = gp.predict(np.atleast_2d(x), return_std=True)
        return mu, sd

    def acquisition(self, x: np.ndarray, best_mu: float | None = None) -> np.ndarray:
        """Weighted expected improvement at points ``x`` (n, d).

        best_mu: the GP mean at the best observed point (computed if not given)."""
        x = np.atleast_2d(x)
        mu, sd = self.predict(x)
        x_best, _ = self.best()
        # EI against the GP's own mean at the best point: robust to one lucky noisy frame.
        if best_mu is None:
            best_mu = float(self.predict(x_best[None, :])[0][0])
        scale = float(np.std(self.y)) or 1.0
        ei = expected_improvement(mu, sd, best_mu, self.config.xi * scale)
        return ei * proximity_weight(x, x_best, self.config.rho)

    def ask(self) -> np.ndarray:
        """The next point to measure: the maximiser of the weighted EI inside the box."""
        c = self.config
        if len(self.y) < 2:
            return self.rng.uniform(-1.0, 1.0, self.dim)
        x_best, _ = self.best()
        n_local = int(c.n_candidates * c.local_fraction)
        cand = np.vstack(
            [
                self.rng.uniform(-1.0, 1.0, (c.n_candidates - n_local, self.dim)),
                np.clip(x_best + c.local_sigma * self.rng.standard_normal((n_local, self.dim)), -1.0, 1.0),
            ]
        )
        best_mu = float(self.predict(x_best[None, :])[0][0])
        acq = self.acquisition(cand, best_mu) * self._far_enough(cand)
        order = np.argsort(acq)[::-1][: c.n_polish]
        best_x, best_a = cand[order[0]], acq[order[0]]
        if best_a <= 0.0:
            # EI vanished everywhere (flat posterior): explore where the GP is least sure.
            _, sd = self.predict(cand)
            return cand[int(np.argmax(sd * self._far_enough(cand)))]
        for i in order:
            res = minimize(
                lambda z: -float(self.acquisition(z[None, :], best_mu)[0]),
                cand[i],
                method="L-BFGS-B",
                bounds=[(-1.0, 1.0)] * self.dim,
                options={"maxiter": 30},
            )
            x_new = np.clip(res.x, -1.0, 1.0)
            if res.success and -res.fun > best_a and self._far_enough(x_new[None, :])[0]:
                best_x, best_a = x_new, -res.fun
        return best_x

    def _far_enough(self, x: np.ndarray) -> np.ndarray:
        """1.0 where a point is at least ``min_distance`` from all observations, else 0.0."""
        if self.config.min_distance <= 0 or len(self.X) == 0:
            return np.ones(len(x))
        d2 = np.min(np.sum((x[:, None, :] - self.X[None, :, :]) ** 2, axis=2), axis=1)
        return (d2 >= self.config.min_distance**2).astype(float)

    def posterior_minimum(self, n: int = 4096) -> np.ndarray:
        """The point (among random candidates and the observations) with the lowest posterior mean."""
        cand = np.vstack([self.X, self.rng.uniform(-1.0, 1.0, (n, self.dim))])
        mu, _ = self.predict(cand)
        return cand[int(np.argmin(mu))]
