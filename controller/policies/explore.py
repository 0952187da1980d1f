"""The ``explore`` policy: where to put the probe next in an autonomous 4D-STEM experiment.

Pure decision logic, as the alignment policies: it gets the survey image once, proposes
grid positions (flat index ``ix * ny + iy`` into the scan grid), is told the scalarized
measurement there, and never touches a transport. Strategies:

* ``dkl``: deep kernel learning (``estimation.dkl``) on survey patches (PCA-reduced), then an
  acquisition function (``ei``, ``ucb``, ``thompson``) over all unmeasured positions.
* ``gp``: the same loop with a plain GP (ARD Matern-5/2) on the probe coordinates (no deep
  kernel, no image): the classical GP + BO baseline.
* ``random``: a seeded random order. ``grid``: raster order (a full scan).
* ``survey``: brightest survey pixel first (does the survey alone reveal the target?).

``dkl`` and ``gp`` start with ``n_init`` random positions (the same ones for the same seed).
Thompson sampling draws jointly on ``thompson_candidates`` random unmeasured positions per
step (the joint posterior covariance is dense).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from beamloop.controller.estimation.acquisition import (
    ACQUISITIONS,
    expected_improvement,
    masked_argmax,
    thompson,
    upper_confidence_bound,
)
from beamloop.controller.estimation.dkl import DKLConfig, DKLRegressor, patch_features

__all__ = ["ExploreConfig", "ExplorePolicy", "STRATEGIES"]

STRATEGIES = ("dkl", "gp", "random", "grid", "survey")


@dataclass
class ExploreConfig:
    """strategy / acquisition: see the module doc; n_init: random start points (dkl, gp);
    patch_px: survey patch side (pixels, odd); n_components: PCA components of the patches;
    ucb_beta: UCB's beta; ei_xi: EI's margin (in standardised units of the scalar's spread);
    thompson_candidates: positions per Thompson draw; dkl: surrogate settings."""

    strategy: str = "dkl"
    acquisition: str = "ei"
    n_init: int = 8
    patch_px: int = 11
    n_components: int = 8
    ucb_beta: float = 4.0
    ei_xi: float = 0.01
    thompson_candidates: int = 1024
    seed: int = 0
    dkl: DKLConfig = field(default_factory=DKLConfig)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: unknown {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition: unknown {self.acquisition!r}; choose one of {', '.join(ACQUISITIONS)}")
        if self.n_init < 2:
            raise ValueError(f"n_init must be >= 2 (a GP needs two points), got {self.n_init}")


class ExplorePolicy:
    """Propose -> observe, one grid position at a time."""

    name = "explore"

    def __init__(self, cfg: ExploreConfig | None = None, **overrides: Any):
        self.cfg = cfg or ExploreConfig()
        for k, v in overrides.items():
            if not hasattr(self.cfg, k):
                raise ValueError(f"{k}: not a setting of the explore policy")
            setattr(self.cfg, k, v)
        self.cfg.__post_init__()

    # --- set-up ---------------------------------------------------------------------------
    def reset(self, survey: np.ndarray) -> None:
        """Start an experiment on a survey image (nx, ny)."""
        s = np.asarray(survey, dtype=np.float64)
        if s.ndim != 2 or min(s.shape) < 2:
            raise ValueError(f"survey must be a 2-D image of at least 2 x 2, got shape {s.shape}")
        c = self.cfg
        self.shape = s.shape
        self.n = s.size
        self.rng = np.random.default_rng(c.seed)
        self.order = {
            "random": self.rng.permutation(self.n),
            "grid": np.arange(self.n),
            "survey": np.argsort(-s.ravel(), kind="stable"),
        }.get(c.strategy)
        self.init = np.random.default_rng(c.seed).choice(self.n, size=min(c.n_init, self.n), replace=False)
        if c.strategy == "dkl":
            self.features = patch_features(s, c.patch_px, c.n_components)
        elif c.strategy == "gp":
            ix, iy = np.meshgrid(np.arange(s.shape[0]), np.arange(s.shape[1]), indexing="ij")
            self.features = np.stack([ix.ravel() / max(s.shape[0] - 1, 1), iy.ravel() / max(s.shape[1] - 1, 1)],
                                     axis=1).astype(np.float32)
        else:
            self.features = None
        dcfg = DKLConfig(**{**c.dkl.__dict__, "deep": c.strategy == "dkl", "seed": c.seed})
        self.model = DKLRegressor(dcfg) if self.features is not None else None
        self.measured: list[int] = []
        self.values: list[float] = []
        self._pending: int | None = None
        self.last_info: dict[str, Any] = {}

    # --- loop -----------------------------------------------------------------------------
    def propose(self) -> int | None:
        """Flat grid index to measure next, or None when every position has been measured."""
        if len(self.measured) >= self.n:
            return None
        k = len(self.measured)
        if self.order is not None:
            idx = int(self.order[k])
        elif k < len(self.init):
            idx = int(self.init[k])
        else:
            idx = self._acquire()
        self._pending = idx
        return idx

    def _acquire(self) -> int:
        c = self.cfg
        self.model.fit(self.features[self.measured], np.asarray(self.values))
        done = np.asarray(self.measured)
        if c.acquisition == "thompson":
            free = np.setdiff1d(np.arange(self.n), done)
            cand = self.rng.choice(free, size=min(c.thompson_candidates, len(free)), replace=False)
            draw = self.model.sample(self.features[cand], 1, generator_seed=int(self.rng.integers(2**31)))[0]
            idx = int(cand[int(np.argmax(thompson(draw)))])
            self.last_info = {"acq_max": float(np.max(draw))}
            return idx
        mu, sd = self.model.predict(self.features)
        if c.acquisition == "ei":
            spread = float(np.std(self.values)) or 1.0
            score = expected_improvement(mu, sd, best=float(np.max(self.values)), xi=c.ei_xi * spread)
        else:
            score = upper_confidence_bound(mu, sd, c.ucb_beta)
        idx = masked_argmax(score, done)
        self.last_info = {"acq_max": float(score[idx]), "pred_mean": float(mu[idx]), "pred_std": float(sd[idx])}
        return idx

    def observe(self, index: int, value: float) -> dict[str, Any]:
        """Take the scalarized measurement at grid ``index``."""
        if self._pending is None or index != self._pending:
            raise ValueError(f"observe({index}): the proposed position was {self._pending}")
        if not np.isfinite(value):
            raise ValueError(f"observe: the scalarized value must be finite, got {value!r}")
        self.measured.append(int(index))
        self.values.append(float(value))
        self._pending = None
        return dict(self.last_info)

    # --- results --------------------------------------------------------------------------
    def predict(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, std) maps (nx, ny) of the scalar from the surrogate fitted to everything
        measured so far; None for strategies without a surrogate or with < 2 points."""
        if self.model is None or len(self.measured) < 2:
            return None
        self.model.fit(self.features[self.measured], np.asarray(self.values))
        mu, sd = self.model.predict(self.features)
        return mu.reshape(self.shape), sd.reshape(self.shape)

    def best(self) -> tuple[int, float]:
        """Measured grid index with the largest scalar, and the value."""
        i = int(np.argmax(self.values))
        return self.measured[i], self.values[i]
