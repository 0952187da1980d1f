"""Acquisition functions for active learning: which probe position to measure next.

Each takes the surrogate's posterior at the candidate positions (mean ``mu``, standard
deviation ``sigma``, or a posterior draw) and returns a score per candidate; the policy
measures the argmax among the positions not yet measured. Maximisation convention (the
scalarizer's value is what the experiment seeks to maximise).

* ``expected_improvement(mu, sigma, best, xi)``: E[max(f - best - xi, 0)] under N(mu, sigma^2).
* ``upper_confidence_bound(mu, sigma, beta)``: mu + sqrt(beta) sigma (beta -> inf: pure
  uncertainty sampling, beta = 0: pure exploitation).
* ``thompson(draw)``: the score is one joint posterior draw (Thompson sampling).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

__all__ = ["expected_improvement", "upper_confidence_bound", "thompson", "ACQUISITIONS", "masked_argmax"]

ACQUISITIONS = ("ei", "ucb", "thompson")


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Closed-form EI for maximisation; 0 where sigma == 0 and mu <= best + xi."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.clip(np.asarray(sigma, dtype=np.float64), 0.0, None)
    imp = mu - float(best) - float(xi)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, imp / np.where(sigma > 0, sigma, 1.0), 0.0)
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    ei = np.where(sigma > 0, imp * ndtr(z) + sigma * pdf, np.maximum(imp, 0.0))
    return np.maximum(ei, 0.0)


def upper_confidence_bound(mu: np.ndarray, sigma: np.ndarray, beta: float = 4.0) -> np.ndarray:
    """mu + sqrt(beta) sigma; ``beta = inf`` returns sigma itself (pure exploration)."""
    if not (beta >= 0):
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    sigma = np.asarray(sigma, dtype=np.float64)
    if math.isinf(beta):
        return sigma.copy()
    return np.asarray(mu, dtype=np.float64) + math.sqrt(beta) * sigma


def thompson(draw: np.ndarray) -> np.ndarray:
    """Thompson sampling: the score is the posterior draw itself."""
    return np.asarray(draw, dtype=np.float64)


def masked_argmax(score: np.ndarray, exclude: np.ndarray | list[int]) -> int:
    """Index of the largest score among candidates not in ``exclude`` (NaN scores lose)."""
    s = np.where(np.isfinite(score), np.asarray(score, dtype=np.float64), -np.inf)
    s[np.asarray(list(exclude), dtype=np.int64)] = -np.inf
    if not np.isfinite(s).any():
        free = np.setdiff1d(np.arange(len(s)), np.asarray(list(exclude), dtype=np.int64))
        if len(free) == 0:
            raise ValueError("every candidate position has been measured")
        return int(free[0])
    return int(np.argmax(s))
