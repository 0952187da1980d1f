"""The ``bo`` policy's model step on the Fourier-ellipse cost: go where the magnification model puts focus.

Every frame's Fourier ellipse is kept (its full 2 x 2 covariance, not only the scalar cost); after
two resolved frames :func:`~beamloop.controller.estimation.magnification_fit.fit_focus` fits the knob
setting of zero shadow magnification to all of them, and the next frame is taken there. The run is
over when a frame taken at the model's focus, added to the fit, leaves the focus within
``stop_m`` of where it was measured: the measurement confirmed the model (a tolerance in metres,
no cost threshold to calibrate). Units: knob values in metres.
"""

from __future__ import annotations

import numpy as np

from beamloop.controller.estimation.cost import EllipseFeatures
from beamloop.controller.estimation.magnification_fit import FitConfig, FocusFit, ellipse_covariance, fit_focus


class MagnificationSteps:
    """Frames seen so far and the model's focus.

    aberrations: the aberration each axis drives (C10, C12.x, C12.y); lo, hi: the search box (m);
    stop_m: confirmation tolerance (m, Euclidean over the axes); fit: the model's priors."""

    def __init__(self, aberrations: list[str], lo: np.ndarray, hi: np.ndarray, stop_m: float,
                 fit: FitConfig | None = None):
        if not stop_m > 0:
            raise ValueError(f"stop_m: must be > 0 m, got {stop_m!r}")
        self.aberrations = list(aberrations)
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        self.stop_m = float(stop_m)
        self.fit_config = fit or FitConfig()
        self.settings: list[np.ndarray] = []
        self.cov: list[np.ndarray | None] = []
        self.last_fit: FocusFit | None = None

    def add(self, setting: np.ndarray, feat: EllipseFeatures) -> None:
        """One frame at ``setting`` (m, per axis) with its ellipse; refits the model when it can."""
        self.settings.append(np.asarray(setting, float).copy())
        self.cov.append(ellipse_covariance(feat.major, feat.minor, feat.angle) if feat.resolved else None)
        ok = [i for i, c in enumerate(self.cov) if c is not None]
        if len(ok) < 2:
            self.last_fit = None
            return
        flat = [self.settings[i] for i, c in enumerate(self.cov) if c is None]
        self.last_fit = fit_focus(np.array([self.settings[i] for i in ok]), np.array([self.cov[i] for i in ok]),
                                  self.aberrations, self.lo, self.hi, self.fit_config,
                                  np.array(flat) if flat else None)

    def focus(self) -> np.ndarray | None:
        """The model's focus inside the search box (m), or None before two resolved frames."""
        if self.last_fit is None:
            return None
        return np.clip(self.last_fit.x_star, self.lo, self.hi)

    def confirmed(self) -> bool:
        """The last frame (taken at the previous focus) leaves the focus within ``stop_m`` of it."""
        x = self.focus()
        return x is not None and self.cov[-1] is not None and float(np.linalg.norm(x - self.settings[-1])) <= self.stop_m

    def measured_near(self, x: np.ndarray, distance_m: float) -> bool:
        """Some frame was taken within ``distance_m`` (Euclidean, m) of ``x``."""
        return any(float(np.linalg.norm(x - s)) <= distance_m for s in self.settings)
