"""Network-guided alignment (policy ``nn``): estimate, correct, re-measure, fall back to BO.

One iteration takes a *pair* of Ronchigrams at ``C10 - delta`` and ``C10 + delta`` around the
current setting ``x`` (two frames; ``delta`` is the offset the network was trained with), asks
the :class:`~beamloop.controller.estimation.inference.Estimator` for the aberrations present at ``x`` (mean
and 1-sigma, metres) and moves the aligned knobs by ``-G^-1 r``: ``r`` the estimated aberrations
of the aligned axes, ``G`` the knobs' response matrix (``calibration``, measured once with
:mod:`beamloop.controller.estimation.knob_calibration`; identity if not given - knob ``k`` then drives only
``KnobInfo.aberration`` and the next iteration absorbs the cross-talk). It stops when the estimate says the residual at the measured
setting is within ``tolerance`` (then it still applies that last, small correction, shrunk by
``r^2 / (r^2 + sigma^2)`` so a noisy estimate moves little), or after ``max_pairs`` pairs (same
last correction: the network's estimate is still the best guess there).

Fallback to a Bayesian optimisation (:class:`~beamloop.controller.policies.BayesOptPolicy`) with
the remaining frame budget, in a box of ``+/- bo_window_sigmas`` sigma (at least the tolerance)
around the best setting so far: at once, without acting on the first estimate, if the network's
sigma on an aligned axis exceeds ``sigma_uninformed`` times its label scale (it knows next to
nothing there); or, after ``min_pairs_before_fallback`` pairs, if it is lost - its sigma exceeds
``sigma_fallback`` tolerances, or its estimated residual grew by ``diverge_factor`` after a
correction (the image is unlike its training data).

Knob play (hysteresis): every frame and the result are reached from below (``approach_from_below``:
a waypoint under each downward move, no frame), so the play is a constant offset the pair
estimates absorb and the response calibration need not measure it (16 frames instead of 132,
:func:`~beamloop.controller.estimation.knob_calibration.short_response`).

Decisions come from the images only (never from the twin's true aberrations). Units: metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.policies.bo import (DEFAULT_WINDOWS, TWIN_CAMERA_GAIN, TWIN_STOP_COST, BayesOptPolicy,
                                            BOPolicyConfig)
from beamloop.controller.policies.registry import register_policy
from beamloop.controller.estimation.inference import (IntegerEstimator, QonnxEstimator, TorchEstimator,
                                                     default_estimator)
from beamloop.controller.policies.base import (AlignmentPolicy, PolicySpec, StepReport, apply_overrides, check_axes,
                                              default_max_frames)

# Stop rule (m): when every estimated residual is within DEFAULT_TOLERANCE (the near-aligned
# regime where the fine network is accurate: held-out ~6-9 nm for C1/A1, ~130 nm for B2,
# docs/models.md) and the network's 1-sigma within DEFAULT_SIGMA_TOLERANCE, the last correction
# is applied without spending two more frames to re-measure it. Chosen on 100-200-trial bench
# runs (docs/models.md) against the bench's success tolerances (20 nm for the two-fold terms
# together, 1 um for B2): looser stops cost success, tighter ones cost frames without gain.
DEFAULT_TOLERANCE: dict[str, float] = {
    "C10": 40e-9,
    "C12.x": 40e-9,
    "C12.y": 40e-9,
    "C21.x": 700e-9,
    "C21.y": 700e-9,
}
DEFAULT_SIGMA_TOLERANCE: dict[str, float] = {
    "C10": 8e-9,
    "C12.x": 8e-9,
    "C12.y": 8e-9,
    "C21.x": 600e-9,
    "C21.y": 600e-9,
}


@dataclass
class NNPolicyConfig:
    """Settings of :class:`NetworkPolicy` (metres unless stated).

    tolerance / sigma_tolerance: per aberration, the estimated residual and the network's
    1-sigma accepted for the last correction (stop rule); max_pairs: pairs before the last
    correction is applied anyway; sigma_fallback: fall back to BO when an aligned axis' sigma
    exceeds this many tolerances; calibration / play: the knobs' response matrix and play
    (:mod:`beamloop.controller.estimation.knob_calibration`), identity / none if not given;
    approach_from_below: every knob that moves down (and every knob on its first move) first
    goes to a waypoint this fraction of its full range below the target (no frame), so every
    frame and the result are reached from below and the play is a constant offset the pair
    estimates absorb: no play needs measuring (``play`` is then ignored); ``None``: commands
    compensate the measured ``play`` instead; max_frames: total frame budget including the BO fallback
    (default: the same budget the ``bo`` policy gets for these axes);
    bo_window_sigmas: half-width of the BO box in sigmas, capped by ``windows`` (default the ``bo``
    policy's :data:`DEFAULT_WINDOWS`: an uninformed network must not widen the search beyond what
    BO alone would search); weights_dir / qonnx_path: which
    network to run; estimator: ``"integer"`` (default: the committed networks' fixed-point form in
    numpy, bit-exact with the FPGA) or ``"torch"`` (Brevitas); a QONNX file runs through qonnx.
    """

    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    sigma_tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SIGMA_TOLERANCE))
    max_pairs: int = 6
    min_pairs_before_fallback: int = 2
    sigma_fallback: float = 4.0
    diverge_factor: float = 1.5  # fall back when the estimated residual grows this much after a correction
    sigma_uninformed: float = 0.5  # fall back at once if sigma > this x the network's label scale
    max_frames: int | None = None  # None: the BO policy's default budget for the number of axes
    bo_window_sigmas: float = 3.0
    windows: dict[str, float] = field(default_factory=dict)  # max BO half-width per knob/aberration (m)
    weights_dir: str | None = None
    estimator: str = "integer"  # "integer" (fixed-point numpy = the FPGA's arithmetic, no torch) or "torch"
    qonnx_path: str | None = None
    coarse_only: bool = False  # True: only the coarse network (default: coarse-to-fine when fine weights exist)
    calibration: dict[str, dict[str, float]] | None = None  # {aberration: {knob: gain}}; None: identity
    play: dict[str, float] = field(default_factory=dict)  # hysteresis play (backlash) half-width per knob (m) to compensate
    approach_from_below: float | None = 0.01  # waypoint below each downward move, fraction of the knob's range; None: off
    seed: int | None = None  # of the BO fallback
    bo_stop_cost: float | None = None  # BO fallback stop threshold (None: the twin's calibration)
    counts_per_electron: float | None = None  # camera gain for the BO cost (None: the twin's)


_ESTIMATORS: dict[tuple, object] = {}


def _estimator(cfg: NNPolicyConfig):
    key = (cfg.weights_dir, cfg.qonnx_path, cfg.coarse_only, cfg.estimator)
    if key not in _ESTIMATORS:  # load the network once per process
        if cfg.qonnx_path:
            _ESTIMATORS[key] = QonnxEstimator(cfg.qonnx_path, cfg.weights_dir)
        elif cfg.coarse_only:
            _ESTIMATORS[key] = (IntegerEstimator if cfg.estimator == "integer" else TorchEstimator)(cfg.weights_dir)
        else:
            _ESTIMATORS[key] = default_estimator(cfg.weights_dir, backend=cfg.estimator)
    return _ESTIMATORS[key]


class NetworkPolicy(AlignmentPolicy):
    """Network-guided alignment; see the module docstring."""

    name = "nn"

    def __init__(self, config: NNPolicyConfig | None = None, estimator=None, **overrides):
        self.config = config or NNPolicyConfig()
        apply_overrides(self.config, overrides, "nn")
        if self.config.max_pairs < 1:
            raise ValueError(f"max_pairs: must be >= 1, got {self.config.max_pairs}")
        self._estimator = estimator
        self._done = True
        self.stop_reason: str | None = None

    @property
    def estimator(self):
        if self._estimator is None:
            self._estimator = _estimator(self.config)
        return self._estimator

    # -- AlignmentPolicy ------------------------------------------------------------------
    def reset(self, knobs: dict[str, KnobInfo], start: dict[str, float], axes: list[str]) -> None:
        check_axes(knobs, start, axes)
        est_axes = list(self.estimator.axes)
        self.ab_of = {a: (knobs[a].aberration or a) for a in axes}
        focus = [a for a in axes if self.ab_of[a] == "C10"]
        if not focus:
            raise ValueError("axes: the nn policy needs the focus knob (aberration C10) among the axes "
                             "to take its defocus pair")
        bad = [a for a in axes if self.ab_of[a] not in est_axes]
        if bad:
            raise ValueError(f"axes: the network does not estimate {[self.ab_of[a] for a in bad]}; it knows {est_axes}")
        self.knobs = {a: knobs[a] for a in axes}
        self.axes = list(axes)
        self.focus = focus[0]
        self.delta = float(self.estimator.delta_c10)
        self.x = {a: float(start[a]) for a in axes}
        self.tol = np.array([self.config.tolerance.get(self.ab_of[a], DEFAULT_TOLERANCE.get(self.ab_of[a], np.inf))
                             for a in axes])
        self.col = [est_axes.index(self.ab_of[a]) for a in axes]
        self.sigma_tol = np.array([self.config.sigma_tolerance.get(self.ab_of[a], np.inf) for a in axes])
        self.scale = np.asarray(self.estimator.label_scale, dtype=float)[self.col]
        from beamloop.controller.estimation.knob_calibration import response_matrix

        self.G = response_matrix(self.config.calibration, [self.ab_of[a] for a in self.axes], self.axes)
        # backlash compensation: the policy reasons in *effective* knob values; a move up to an
        # effective value e is commanded as e + h, a move down as e - h (play operator of half-width h)
        below = self.config.approach_from_below
        if below is not None and not (np.isfinite(below) and 0 < below < 0.5):
            raise ValueError(f"approach_from_below: a fraction of the knob range in (0, 0.5) or None, got {below!r}")
        self.play = {a: 0.0 if below else max(0.0, float(self.config.play.get(a, 0.0))) for a in axes}
        self._from_below: set[str] = set()  # knobs whose last move arrived from below
        self._cmd = {a: float(start[a]) for a in axes}
        self._prev_cmd = dict(self._cmd)
        self._eff = dict(self._cmd)
        self._imgs: list[np.ndarray] = []
        self.pairs = 0
        self.frames = 0
        self.history: list[dict] = []
        self._result = dict(self.x)
        self._bo: BayesOptPolicy | None = None
        self.restart()
        if self.config.max_frames is None:
            self.max_frames = default_max_frames(len(axes))
        else:
            self.max_frames = int(self.config.max_frames)
        # make sure the pair fits inside the focus knob's limits (shift the centre if needed)
        info = self.knobs[self.focus]
        if info.maximum - info.minimum < 2 * self.delta:
            raise ValueError(f"knob {self.focus!r}: range smaller than the defocus pair (2 x {self.delta} m)")

    def _pair_setting(self, sign: int) -> dict[str, float]:
        s = dict(self.x)
        s[self.focus] = self.x[self.focus] + sign * self.delta
        return s

    def _commands(self, eff: dict[str, float]) -> dict[str, float]:
        """Commanded values that put the knobs at the effective values ``eff`` from the current state."""
        out = {}
        for a, e in eff.items():
            cur, h = self._eff[a], self.play[a]
            c = self._cmd[a] if e == cur else (e + h if e > cur else e - h)
            info = self.knobs[a]
            out[a] = float(min(max(c, info.minimum), info.maximum))
        return out

    def propose(self) -> dict[str, float] | None:
        if self._done:
            return None
        if self._bo is not None:
            return self._bo.propose()
        eff = self._pair_setting(-1 if len(self._imgs) == 0 else +1)
        cmd = self._commands(eff)
        self._prev_cmd = dict(self._cmd)
        self._cmd.update(cmd)
        self._eff.update(eff)
        return cmd

    def observe(self, setting: dict[str, float], frame: Frame) -> StepReport:
        self.frames += 1
        if self._bo is not None:
            rep = self._bo.observe(setting, frame)
            self._check_budget()
            if self._bo.done:
                self.stop(f"bo fallback: {self._bo.stop_reason}", converged=self._bo.converged)
            return rep
        img = np.asarray(frame.image, dtype=np.float64)
        self._imgs.append(img)
        if len(self._imgs) < 2:
            return StepReport(info={"phase": "pair", "pair": self.pairs})
        mean, sigma = self.estimator.predict(np.stack(self._imgs)[None])
        self._imgs = []
        self.pairs += 1
        r = mean[0, self.col]
        s = sigma[0, self.col]
        at = dict(self.x)
        self.history.append({"x": at, "residual": r.tolist(), "sigma": s.tolist()})
        info = {"phase": "estimate", "pair": self.pairs,
                "residual_m": {self.ab_of[a]: float(v) for a, v in zip(self.axes, r)},
                "sigma_m": {self.ab_of[a]: float(v) for a, v in zip(self.axes, s)}}
        if np.all(np.abs(r) <= self.tol) and np.all(s <= self.sigma_tol):
            self._finish(at, r, s, "network: residual within tolerance", converged=True)
        elif self.pairs == 1 and np.any(s > self.config.sigma_uninformed * self.scale):
            # the network says it knows (next to) nothing here: do not act on its estimate
            self._result = dict(at)
            self._start_bo(s)
        elif self.pairs >= self.config.min_pairs_before_fallback and self._lost(s):
            self._result = dict(at)
            self._start_bo(s)
        elif self.pairs >= self.config.max_pairs:
            # out of pairs but not lost: the network's estimate is still the best guess
            self._finish(at, r, s, "network: pair budget spent", converged=False)
        else:
            self.x = self._clamp(self._corrected(at, r))
            self._result = dict(self.x)
        info["done"] = self._done
        info["fallback"] = self._bo is not None
        est = self._corrected(at, r)
        self._check_budget()
        return StepReport(cost=float(np.sqrt(np.mean((r / self.tol) ** 2))), estimate=est, info=info)

    def approach(self, setting: dict[str, float]) -> list[dict[str, float]]:
        """A waypoint below ``setting`` for the knobs that move down or were never moved (see
        ``approach_from_below``); the others wait at their last command. None if nothing moves down."""
        if self._bo is not None:
            return self._bo.approach(setting)
        return self._waypoint(setting, self._prev_cmd)

    def final_approach(self) -> list[dict[str, float]]:
        """The waypoint before :meth:`result`, as for every frame (the last frame's command is the reference)."""
        if self._bo is not None:
            return self._bo.final_approach()
        return self._waypoint(self.result(), self._cmd)

    def _waypoint(self, setting: dict[str, float], previous: dict[str, float]) -> list[dict[str, float]]:
        f = self.config.approach_from_below
        if not f:
            return []
        way, down = {}, False
        for a in self.axes:
            info = self.knobs[a]
            if setting[a] < previous[a] or a not in self._from_below:
                way[a] = float(max(setting[a] - f * (info.maximum - info.minimum), info.minimum))
                down = True
            else:
                way[a] = float(previous[a])  # moving up or staying: already on the from-below branch
            self._from_below.add(a)
        return [way] if down else []

    def result(self) -> dict[str, float]:
        """Commanded knob values to leave the instrument at (``_result`` is in effective values)."""
        if self._bo is not None and self._bo.costs:
            return self._bo.result()
        return self._commands(self._result)

    # -- helpers --------------------------------------------------------------------------
    def _finish(self, at: dict[str, float], r: np.ndarray, s: np.ndarray, reason: str, converged: bool) -> None:
        """Apply a last correction, shrunk by ``r^2 / (r^2 + s^2)`` so a noisy estimate moves little, and stop."""
        gain = r**2 / (r**2 + s**2 + 1e-300)
        self._result = self._clamp(self._corrected(at, gain * r))
        self.stop(reason, converged)

    def _corrected(self, at: dict[str, float], r: np.ndarray) -> dict[str, float]:
        """Knob setting that cancels the aberrations ``r`` (m) measured at ``at``: ``at - G^-1 r``."""
        du = np.linalg.solve(self.G, np.asarray(r, dtype=float))
        return {a: at[a] - d for a, d in zip(self.axes, du)}

    def _lost(self, s: np.ndarray) -> bool:
        """The network is lost: its uncertainty is far above the tolerance, or its estimate of
        the residual grows (in tolerance units) from one pair to the next after a correction."""
        if np.any(s > self.config.sigma_fallback * self.tol):
            return True
        if len(self.history) >= 2:
            prev = np.abs(np.array(self.history[-2]["residual"])) / self.tol
            now = np.abs(np.array(self.history[-1]["residual"])) / self.tol
            return bool(now.max() > self.config.diverge_factor * max(prev.max(), 1.0))
        return False

    def _start_bo(self, s: np.ndarray) -> None:
        remaining = self.max_frames - self.frames
        if remaining < 2:
            self.stop("network uncertain, no frames left for bo", converged=False)
            return
        cap = {a: self.config.windows.get(a, self.config.windows.get(self.ab_of[a], DEFAULT_WINDOWS.get(self.ab_of[a], np.inf)))
               for a in self.axes}
        windows = {a: float(min(max(self.config.bo_window_sigmas * sv, tv), cap[a]))
                   for a, sv, tv in zip(self.axes, s, self.tol)}
        centre = self.result()
        c = self.config
        self._bo = BayesOptPolicy(BOPolicyConfig(
            windows=windows, max_frames=remaining, seed=c.seed,
            stop_cost=TWIN_STOP_COST if c.bo_stop_cost is None else c.bo_stop_cost,
            counts_per_electron=TWIN_CAMERA_GAIN if c.counts_per_electron is None else c.counts_per_electron))
        self._bo.reset(self.knobs, centre, self.axes)

    def _check_budget(self) -> None:
        if not self._done and self.frames >= self.max_frames:
            self.stop("frame budget spent", converged=False)

    def _clamp(self, v: dict[str, float]) -> dict[str, float]:
        """Keep a correction inside the knob limits (the focus knob leaves room for the pair)."""
        out = {}
        for a, val in v.items():
            info = self.knobs[a]
            lo, hi = info.minimum, info.maximum
            if a == self.focus:
                lo, hi = lo + self.delta, hi - self.delta
            out[a] = float(min(max(val, lo), hi))
        return out


def _options(axes: list[str], max_frames: int | None, stop_cost: float | None, camera_gain: float | None) -> dict:
    # the frame budget includes a possible BO fallback: the same as bo's
    out: dict = {"max_frames": max_frames or default_max_frames(len(axes))}
    if stop_cost is not None:
        out["bo_stop_cost"] = stop_cost
    if camera_gain is not None:
        out["counts_per_electron"] = camera_gain
    return out


SPEC = PolicySpec(default_axes=("C10", "C12.x", "C12.y", "C21.x", "C21.y"), needs_response_calibration=True,
                  cost_label="network's estimated residual / tolerance (rms)", takes_windows=True, options=_options)
register_policy("nn", lambda **kw: NetworkPolicy(**kw), spec=SPEC)
