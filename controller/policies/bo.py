"""The Bayesian-optimisation policy (``bo``): ASIMOV's alignment on the Fourier-ellipse cost.

Units: knob values and search windows in metres (SI), as the backend's :class:`KnobInfo`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import qmc

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.estimation.bayesopt import BayesOptimizer, BOConfig
from beamloop.controller.estimation.cost import blind_direction, fourier_ellipse, gradient_anisotropy, shadow_cost
from beamloop.controller.estimation.magnification_fit import LINEAR_ABERRATIONS, FitConfig
from beamloop.controller.estimation.pair_cost import knob_step, pair_mismatch
from beamloop.controller.policies.base import (AlignmentPolicy, PolicySpec, StepReport, apply_overrides, check_axes,
                                              default_max_frames)
from beamloop.controller.policies.blind_excursion import BlindExcursion
from beamloop.controller.policies.magnification_step import MagnificationSteps
from beamloop.controller.policies.registry import register_policy

# Counts per electron of the twin's camera (beamloop.sim RonchigramConfig.detector_gain default).
TWIN_CAMERA_GAIN = 8.0
# Fourier-ellipse cost (cycles/px, power weighting, root-sum-square of the axes) below which the twin's Ronchigram
# counts as aligned: the median cost at a 12 nm residual of (C1, A1) on the default twin (0.043 at 0 nm, 0.055 at
# 20 nm). On another instrument give --stop-cost and --camera-gain (or calibrate: bench.align.calibrate_stop_cost).
TWIN_STOP_COST = 0.048

# Default half-widths of the search box around the starting value, per aberration (metres):
# 1.2 x the twin benchmark's misalignment windows (C1, A1 +-150 nm, B2 +-2 um), see
# docs/alignment.md for why not wider on the default twin camera.
DEFAULT_WINDOWS: dict[str, float] = {
    "C10": 180e-9,
    "C12.x": 180e-9,
    "C12.y": 180e-9,
    "C21.x": 2.4e-6,
    "C21.y": 2.4e-6,
}


@dataclass
class BOPolicyConfig:
    """Settings of :class:`BayesOptPolicy`.

    windows: half-width of the search box around the start, per knob name or aberration name
    (metres; :data:`DEFAULT_WINDOWS` for missing ones); stop_cost: stop as soon as a measured
    cost is at or below this (None: run to the budget); max_frames: frame budget; n_init:
    frames taken before the GP drives (the start itself plus ``n_init - 1`` scrambled Sobol
    points); log_target: model ``log(cost)`` instead of the cost (the cost spans decades);
    cost_weighting: ``"power"`` or ``"db"`` (see :func:`fourier_ellipse`); counts_per_electron:
    the camera gain (the cost needs the shot-noise level; default 8, the twin's camera);
    unresolved_target: the cost the GP is told for a frame without resolvable speckle (the
    cost itself reports the flat-spectrum maximum; a smaller plateau keeps the GP's length
    scales from collapsing on the step), None to use the cost as is; bo: GP/EI settings;
    seed: random seed of the design and the acquisition search; approach_from_below: every
    measured setting, and the final one, is reached from below on every axis, via a waypoint
    this fraction of the search half-width lower (no frame): a knob with play ``h`` then sits at
    ``value - h`` for every frame *and* for the result, so the play cancels out of the alignment
    instead of adding +-h at random (the twin: h = 8 nm on C10, 4 nm on C12); None: off (the
    older retrace of the step before the best frame). cost: ``"ellipse"`` (the Fourier-ellipse
    cost, :func:`fourier_ellipse`) or ``"shadow"`` (:func:`shadow_cost`, which also works on
    samples whose texture has no length scale). exploit: after the design, measure the GP's
    posterior minimum (a model-based step) instead of the weighted-EI maximiser, falling back to
    EI when that minimum was already measured. stop_rule: ``"cost"`` (stop at ``stop_cost``) or
    ``"converged"`` (stop when the GP's posterior minimum lies within ``converge_m`` metres, on
    every axis, of the best measured setting: the model and the measurements agree, no
    threshold on the cost and so nothing to calibrate per instrument). gradient_power: the
    shadow cost's exponent of the relative gradient (:func:`shadow_cost`). resolve_blind: when
    the convergence rule fires on a frame that shows a single ramp (gradient anisotropy below
    ``blind_ratio``), first step out along the invisible C1/A1 direction on both sides and end at
    the midpoint (:class:`BlindExcursion`). cost ``"pair"``: every evaluation is a through-focus
    pair, one frame at ``C10 + pair_defocus_m`` and one at ``C10 - pair_defocus_m`` around the
    evaluated setting (:func:`~beamloop.controller.estimation.pair_cost.pair_mismatch`: the two-fold
    residual in metres, no blind direction; the focus knob must be among the axes and the pair
    must fit inside its limits); the frames alternate their order so consecutive commands differ
    by the step only. stop_m: with a cost in metres (``pair``), stop as soon as a measured residual
    is at or below this (a physical tolerance, nothing to calibrate); pair_floor_m: the smallest
    pair cost the GP is told (its log is modelled; a pair that agrees to the noise measures 0).
    pair_step: the model step is the pair's own correction (the operator's: the through-focus pair
    measures ``(C1, A1x, A1y)``, :func:`~beamloop.controller.estimation.pair_cost.knob_step` with
    ``pair_camera_axes``), taken from the best pair so far if not yet stepped from: its pointwise
    linear estimate when the mismatch is below ``pair_step_max_m`` (the linear range), else its
    coarse structure-tensor estimate; else the cone fit / EI as without it. Every step is checked
    by the next pair, so a wrong mapping or a non-linear pair costs frames only. pair_axis_px: the
    optical axis in the frame (row, column px) for the point reflection; None: the frame centre.
    model ``"magnification"`` (cost ``ellipse`` only; C10/C12.x/C12.y axes only): the design is the
    start plus one probe ``probe_m`` along the focus knob (towards the wider side of the box), then
    every frame is taken at the focus that the shadow-magnification model
    (:mod:`~beamloop.controller.estimation.magnification_fit`) fits to all frames' Fourier-ellipse
    covariances (weighted EI while fewer than two frames are resolved, or when the model's focus
    was already measured); ``"auto"``: the same whenever the cost is ``ellipse`` and every axis is
    C10/C12.x/C12.y, else off (the ``bo`` defaults: a profile that picks another cost needs no
    override). stop_rule ``"model"``: with the model on, the run stops when a frame taken at the
    model's focus leaves the refitted focus within ``model_stop_m`` (m, Euclidean) of it (no cost
    threshold: ``stop_cost`` is not used); with the model off it is ``"cost"``. camera_axes / camera_width / floor_width: the model's
    camera orientation and prior widths, model_loss its least-squares loss
    (:class:`~beamloop.controller.estimation.magnification_fit.FitConfig`).
    """

    windows: dict[str, float] = field(default_factory=dict)
    stop_cost: float | None = None
    max_frames: int = 30
    n_init: int = 3
    log_target: bool = True
    cost_weighting: str = "power"
    counts_per_electron: float = 8.0
    unresolved_target: float | None = 0.2
    bo: BOConfig = field(default_factory=BOConfig)
    seed: int | None = None
    approach_from_below: float | None = 0.1
    cost: str = "ellipse"
    stop_rule: str = "cost"
    exploit: bool = False
    converge_m: float = 4e-9
    gradient_power: float = 0.25
    resolve_blind: bool = False
    blind_ratio: float = 0.05
    pair_defocus_m: float = 4e-7
    stop_m: float | None = None
    pair_floor_m: float = 1e-10
    pair_step: bool = False
    pair_step_max_m: float = 4e-8
    pair_camera_axes: str = "yx"
    pair_axis_px: tuple[float, float] | None = None
    model: str | None = None
    probe_m: float = 8e-8
    model_stop_m: float = 5e-9
    camera_axes: str = "xy"
    camera_width: float = FitConfig.camera_width
    floor_width: float = FitConfig.floor_width
    model_loss: str = FitConfig.loss


class BayesOptPolicy(AlignmentPolicy):
    """ASIMOV's alignment by Bayesian optimisation of the Fourier-ellipse cost.

    Measures the starting setting first, then a few space-filling points, then repeatedly the
    maximiser of EI weighted towards the best point so far, until a measured cost is at or below
    ``stop_cost`` or the frame budget is spent. The result is the best *measured* setting
    (never an extrapolation the instrument has not been at).
    """

    name = "bo"

    def __init__(self, config: BOPolicyConfig | None = None, **overrides):
        self.config = config or BOPolicyConfig()
        apply_overrides(self.config, overrides, "bo")
        if self.config.max_frames < 1:
            raise ValueError(f"max_frames: must be >= 1, got {self.config.max_frames}")
        if self.config.n_init < 1:
            raise ValueError(f"n_init: must be >= 1, got {self.config.n_init}")
        if self.config.cost not in ("ellipse", "shadow", "gradient", "pair"):
            raise ValueError(f"cost: must be 'ellipse', 'shadow', 'gradient' or 'pair', got {self.config.cost!r}")
        if self.config.cost == "pair":
            if not (np.isfinite(self.config.pair_defocus_m) and self.config.pair_defocus_m > 0):
                raise ValueError(f"pair_defocus_m: must be > 0 m, got {self.config.pair_defocus_m!r}")
            if self.config.resolve_blind:
                raise ValueError("resolve_blind: not with cost 'pair' (a through-focus pair has no blind direction)")
        if self.config.pair_camera_axes not in ("yx", "xy"):
            raise ValueError(f"pair_camera_axes: must be 'yx' or 'xy', got {self.config.pair_camera_axes!r}")
        if self.config.stop_m is not None and not self.config.stop_m > 0:
            raise ValueError(f"stop_m: must be > 0 m or None, got {self.config.stop_m!r}")
        if self.config.stop_rule not in ("cost", "converged", "model"):
            raise ValueError(f"stop_rule: must be 'cost', 'converged' or 'model', got {self.config.stop_rule!r}")
        if self.config.model not in (None, "magnification", "auto"):
            raise ValueError(f"model: must be None, 'magnification' or 'auto', got {self.config.model!r}")
        if self.config.model == "magnification" and self.config.cost != "ellipse":
            raise ValueError(f"model: 'magnification' needs cost 'ellipse', got {self.config.cost!r}")
        if not (np.isfinite(self.config.probe_m) and self.config.probe_m > 0):
            raise ValueError(f"probe_m: must be > 0 m, got {self.config.probe_m!r}")
        if not self.config.converge_m > 0:
            raise ValueError(f"converge_m: must be > 0 m, got {self.config.converge_m!r}")
        self.axes: list[str] = []
        self._done = True

    # -- AlignmentPolicy ------------------------------------------------------------------
    def reset(self, knobs: dict[str, KnobInfo], start: dict[str, float], axes: list[str]) -> None:
        check_axes(knobs, start, axes)
        c = self.config
        self.axes = list(axes)
        self.start = {a: float(start[a]) for a in axes}
        lo, hi = [], []
        for a in axes:
            info = knobs[a]
            w = c.windows.get(a, c.windows.get(info.aberration or "", DEFAULT_WINDOWS.get(info.aberration or a)))
            if w is None or not w > 0:
                raise ValueError(f"windows: no positive search window for knob {a!r}")
            lo.append(max(info.minimum, self.start[a] - w))
            hi.append(min(info.maximum, self.start[a] + w))
        self.lo, self.hi = np.array(lo), np.array(hi)
        self._limits = {a: (knobs[a].minimum, knobs[a].maximum) for a in axes}
        self._aberr = {a: knobs[a].aberration or a for a in axes}
        if np.any(self.hi <= self.lo):
            raise ValueError("windows: empty search box (start outside the knob limits?)")
        self.rng = np.random.default_rng(c.seed)
        self.opt = BayesOptimizer(len(axes), dataclasses.replace(c.bo), self.rng)
        d = len(axes)
        sobol = qmc.Sobol(d, scramble=True, seed=self.rng)
        self._design = list(2.0 * sobol.random(max(c.n_init - 1, 1)) - 1.0)
        self.costs: list[float] = []
        self.settings: list[dict[str, float]] = []
        self._resolved_seen = False
        self._next: np.ndarray | None = None
        self._model_step = False
        self._aniso: list[tuple[float, float]] = []
        self._exc: BlindExcursion | None = None
        self._blind_done = False
        self._forced: dict[str, float] | None = None
        self._frames = 0
        self._pair: dict | None = None     # the pair being measured: centre, frame order, first frame
        self._pairs = 0
        self._vectors: list[tuple[float, float, float] | None] = []
        self._stepped: set[int] = set()
        if c.cost == "pair":
            self._setup_pair(knobs)
        self._mag: MagnificationSteps | None = None
        linear = all(self._aberr[a] in LINEAR_ABERRATIONS for a in self.axes)
        if c.model == "magnification" or (c.model == "auto" and c.cost == "ellipse" and linear):
            self._setup_model()
        self.restart()

    def _setup_model(self) -> None:
        """The magnification model's frames and the design's probe along the focus knob (else the first axis)."""
        c = self.config
        aberr = [self._aberr[a] for a in self.axes]
        bad = [a for a, b in zip(self.axes, aberr) if b not in LINEAR_ABERRATIONS]
        if bad:
            raise ValueError(f"model: 'magnification' covers knobs of C10, C12.x, C12.y only, not {bad}")
        fit = FitConfig(camera_width=c.camera_width, floor_width=c.floor_width, camera_axes=c.camera_axes,
                        loss=c.model_loss)
        self._mag = MagnificationSteps(aberr, self.lo, self.hi, c.model_stop_m, fit)
        k = aberr.index("C10") if "C10" in aberr else 0
        x0 = np.array([self.start[a] for a in self.axes])
        sign = 1.0 if self.hi[k] - x0[k] >= x0[k] - self.lo[k] else -1.0
        probe = x0.copy()
        probe[k] = np.clip(x0[k] + sign * c.probe_m, self.lo[k], self.hi[k])
        self._design = [self._to_unit({a: float(v) for a, v in zip(self.axes, probe)})]

    def _setup_pair(self, knobs: dict[str, KnobInfo]) -> None:
        """The focus axis of the through-focus pair; the pair's frames must fit inside its limits."""
        focus = [i for i, a in enumerate(self.axes) if self._aberr[a] == "C10"]
        if not focus:
            raise ValueError(f"cost 'pair': the focus knob (aberration C10) must be among the axes {self.axes}")
        self._focus = focus[0]
        a, d = self.axes[self._focus], self.config.pair_defocus_m
        if self.lo[self._focus] - d < knobs[a].minimum or self.hi[self._focus] + d > knobs[a].maximum:
            raise ValueError(f"pair_defocus_m: {d:.3g} m around the search box [{self.lo[self._focus]:.3g}, "
                             f"{self.hi[self._focus]:.3g}] m of {a!r} leaves its limits [{knobs[a].minimum:.3g}, "
                             f"{knobs[a].maximum:.3g}] m")

    @property
    def _frames_per_eval(self) -> int:
        return 2 if self.config.cost == "pair" else 1

    def propose(self) -> dict[str, float] | None:
        if self._done:
            return None
        if self.config.cost != "pair":
            return self._propose_setting()
        if self._pair is None:
            centre = self._propose_setting()
            if centre is None:
                return None
            sign = 1.0 if self._pairs % 2 == 0 else -1.0
            self._pair = {"centre": centre, "signs": (sign, -sign), "first": None}
        k = 0 if self._pair["first"] is None else 1
        return self._pair_frame(self._pair["centre"], self._pair["signs"][k])

    def _pair_frame(self, centre: dict[str, float], sign: float) -> dict[str, float]:
        out = dict(centre)
        a = self.axes[self._focus]
        out[a] = float(centre[a] + sign * self.config.pair_defocus_m)
        return out

    def _propose_setting(self) -> dict[str, float] | None:
        n = len(self.costs)
        self._model_step = False
        if n == 0:
            return dict(self.start)
        if self._exc is not None:
            v = np.clip(self._exc.next_point(), self.lo, self.hi)
            return {a: float(x) for a, x in zip(self.axes, v)}
        if n < self.config.n_init and self._design:
            z = self._design.pop(0)
        elif self._next is not None:
            z, self._next = self._next, None
            self._model_step = True
            return self._to_knobs(z)
        elif self._mag is not None and (x := self._model_focus()) is not None:
            self._model_step = True
            return {a: float(v) for a, v in zip(self.axes, x)}
        else:
            # Until some frame shows resolvable speckle the landscape is a plateau: the best point
            # says nothing, so search with plain EI (space-filling); then weight towards the best.
            self.opt.config.rho = self.config.bo.rho if self._resolved_seen else float("inf")
            z = self.opt.ask()
        return self._to_knobs(z)

    def observe(self, setting: dict[str, float], frame: Frame) -> StepReport:
        c = self.config
        self._frames += 1
        if c.cost == "pair":
            return self._observe_pair(setting, frame)
        if c.cost in ("shadow", "gradient"):
            shadow = shadow_cost(frame.image, c.counts_per_electron, c.gradient_power)
            feat = dataclasses.replace(shadow.ellipse, resolved=True)
            cost = shadow.cost if c.cost == "shadow" else shadow.gradient
        else:
            feat = fourier_ellipse(frame.image, c.counts_per_electron, weighting=c.cost_weighting)
            cost = feat.cost
        model_cost = cost if (feat.resolved or c.unresolved_target is None) else min(cost, c.unresolved_target)
        if self._mag is not None:
            self._mag.add(np.array([float(setting[a]) for a in self.axes]), feat)
        if c.resolve_blind:
            self._aniso.append(gradient_anisotropy(frame.image))
        info = {"major": feat.major, "minor": feat.minor, "angle": feat.angle, "resolved": feat.resolved}
        return self._evaluated(setting, cost, model_cost, feat.resolved, info)

    def _observe_pair(self, setting: dict[str, float], frame: Frame) -> StepReport:
        """One frame of a through-focus pair; the second one evaluates the pair's centre."""
        pair = self._pair
        if pair is None:
            raise RuntimeError("observe: a pair frame arrived without a proposed pair")
        if pair["first"] is None:
            pair["first"] = (dict(setting), frame.image)
            return StepReport(cost=None, estimate=self.result(),
                              info={"pair_frame": 1, "offset_m": pair["signs"][0] * self.config.pair_defocus_m})
        (s1, img1), img2 = pair["first"], frame.image
        self._pair, self._pairs = None, self._pairs + 1
        over, under = (img1, img2) if pair["signs"][0] > 0 else (img2, img1)
        axis = tuple(self.config.pair_axis_px) if self.config.pair_axis_px is not None else None
        feat = pair_mismatch(over, under, self.config.pair_defocus_m, axis, linear_m=self.config.pair_step_max_m)
        centre = {a: float(setting[a]) for a in self.axes}
        f = self.axes[self._focus]
        centre[f] = 0.5 * (float(s1[f]) + float(setting[f]))   # the values actually applied
        linear = feat.mismatch_m <= self.config.pair_step_max_m
        info = {"pair_frame": 2, "pair_vector_m": list(feat.vector_m if linear else feat.tensor_vector_m),
                "pair_mismatch_m": feat.mismatch_m, "pair_tensor_m": feat.tensor_m, "pair_gain": feat.gain,
                "pair_noise_rel": feat.noise_rel, "resolved": True}
        return self._evaluated(centre, feat.cost_m, max(feat.cost_m, self.config.pair_floor_m), True, info)

    def _evaluated(self, setting: dict[str, float], cost: float, model_cost: float, resolved: bool,
                   info: dict) -> StepReport:
        """Tell the optimiser the cost at ``setting``, apply the stop rules, plan the model step."""
        c = self.config
        self._vectors.append(tuple(info["pair_vector_m"]) if "pair_vector_m" in info else None)
        z = self._to_unit(setting)
        target = np.log(max(model_cost, 1e-12)) if c.log_target else model_cost
        self.opt.tell(z, target)
        self.costs.append(cost)
        self._resolved_seen |= resolved
        self.settings.append({a: float(setting[a]) for a in self.axes})
        if self._exc is not None:
            self._exc.observe(cost)
            if self._exc.finished:
                self._forced = dict(self.settings[-1])
                self._exc = None
                self.stop("blind direction resolved", converged=True)
        if self._done:
            pass
        elif (c.stop_rule == "cost" or (c.stop_rule == "model" and self._mag is None)) and c.stop_cost is not None \
                and cost <= c.stop_cost:
            self.stop("cost below threshold", converged=True)
        elif c.stop_rule == "model" and self._model_step and self._mag is not None and self._mag.confirmed():
            self._forced = dict(self.settings[-1])
            self.stop("model focus measured and confirmed", converged=True)
        elif c.stop_m is not None and c.cost == "pair" and cost <= c.stop_m:
            self.stop("measured residual below stop_m", converged=True)
        elif self._frames + self._frames_per_eval > c.max_frames:
            self.stop("frame budget spent", converged=False)
        elif len(self.costs) >= max(c.n_init, 2) and (c.exploit or c.stop_rule == "converged"):
            self._plan_next()
        if not self._done and c.cost == "pair" and c.pair_step:
            self._plan_pair_step()
        info = {**info, "best_cost": float(min(self.costs)), "done": self._done, "stop_reason": self.stop_reason}
        return StepReport(cost=cost, estimate=self.result(), info=info)

    def result(self) -> dict[str, float]:
        if self._forced is not None:
            return dict(self._forced)
        if not self.costs:
            return dict(self.start)
        return dict(self.settings[int(np.argmin(self.costs))])

    def approach(self, setting: dict[str, float]) -> list[dict[str, float]]:
        """A waypoint below ``setting`` on every axis (see ``approach_from_below``), inside the limits."""
        f = self.config.approach_from_below
        if f is None or f <= 0:
            return []
        way = {}
        for i, a in enumerate(self.axes):
            off = f * 0.5 * (self.hi[i] - self.lo[i])
            way[a] = float(max(setting[a] - off, self._limits[a][0]))
        return [way]

    def final_approach(self) -> list[dict[str, float]]:
        """Waypoints the loop sets before :meth:`result`.

        Knobs have hysteresis (play): the same value reached from another direction is a
        different aberration. If the best frame was the last one the instrument is still in
        that state and nothing is needed; otherwise the knobs retrace the step that led to the
        best frame (the setting measured just before it, then the best), so each knob arrives
        from the same side as when the best frame was taken."""
        if self.config.approach_from_below:
            return self.approach(self.result()) if self.costs else []
        if len(self.costs) < 2:
            return []
        i = int(np.argmin(self.costs))
        if i == len(self.costs) - 1:
            return []
        return [dict(self.settings[i - 1]) if i > 0 else dict(self.start)]

    # -- helpers --------------------------------------------------------------------------
    def _model_focus(self) -> np.ndarray | None:
        """The magnification model's focus (m) if it has one that was not measured yet (within 1 nm)."""
        x = self._mag.focus() if self._mag is not None else None
        if x is None or self._mag.measured_near(x, 1e-9):
            return None
        return x

    def _posterior_minimum(self) -> np.ndarray:
        """The GP posterior mean's minimiser among the observations, random and local candidates."""
        x_best, _ = self.opt.best()
        d = len(self.axes)
        cand = np.vstack([self.opt.X, self.rng.uniform(-1.0, 1.0, (2048, d)),
                          np.clip(x_best + 0.1 * self.rng.standard_normal((1024, d)), -1.0, 1.0)])
        mu, _ = self.opt.predict(cand)
        return cand[int(np.argmin(mu))]

    def _cone_minimum(self) -> np.ndarray | None:
        """The vertex of the physical model ``cost^2 = a^2 + k^2 |x - m|^2`` fitted to the lowest costs.

        For a shadow image ``x = M theta`` both cost terms grow with ``|M| = |x - m|`` (C1 and A1
        in metres count alike), so near focus the cost is a cone with a rounded tip of height
        ``a`` (noise, texture, drift). Linear least squares on ``cost^2 = b |x|^2 + p.x + c``
        over the ``2 d + 2`` lowest-cost frames, weighted by ``1 / cost^2`` (the far frames sit
        on the plateau); returns the vertex ``m = -p / 2b`` in the unit box, or None when the
        fit is not a bowl (``b <= 0``) or its vertex lies outside the box."""
        d = len(self.axes)
        if len(self.costs) < d + 2:
            return None
        order = np.argsort(self.costs)[: 2 * d + 2]
        x = np.array([[self.settings[i][a] for a in self.axes] for i in order]) * 1e9  # nm
        y = np.array(self.costs)[order] ** 2
        A = np.column_stack([np.sum(x**2, axis=1), x, np.ones(len(x))])
        w = 1.0 / y
        sol, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
        b, p = sol[0], sol[1:1 + d]
        if not b > 0:
            return None
        m = -p / (2.0 * b) * 1e-9
        z = 2.0 * (m - self.lo) / (self.hi - self.lo) - 1.0
        if np.any(np.abs(z) > 1.0):
            return None
        return z

    def _start_excursion(self) -> bool:
        """Begin a :class:`BlindExcursion` from the best frame if it shows a single ramp."""
        self._blind_done = True
        i = int(np.argmin(self.costs))
        phi, ratio = self._aniso[i]
        if ratio >= self.config.blind_ratio:
            return False
        # Once the visible combination is aligned the ramp along u itself is gone: what gradient is
        # left comes from the invisible component (the sample's cross term) and points across u.
        n = blind_direction(phi + np.pi / 2, [self._aberr[a] for a in self.axes])
        if n is None:
            return False
        base = np.array([self.settings[i][a] for a in self.axes])
        self._exc = BlindExcursion(base, n, self.costs[i], self.lo, self.hi)
        return True

    def _plan_next(self) -> None:
        """Model-based step and convergence test (``exploit`` / ``stop_rule="converged"``).

        The GP's posterior minimum, in metres, against the best measured setting: within
        ``converge_m`` on every axis, right after a model step that measured the best setting so
        far -> converged (stop, the best measured setting is the result); otherwise, with ``exploit``, it is the next setting unless it repeats a measured
        one (then weighted EI decides)."""
        c = self.config
        z_cone = self._cone_minimum()
        z_pm = z_cone if z_cone is not None else self._posterior_minimum()
        half = 0.5 * (self.hi - self.lo)
        x_best, _ = self.opt.best()
        last_is_best = int(np.argmin(self.opt.y)) == len(self.opt.y) - 1
        # In the funnel: the best frame's cost is at most half the median measured cost (far from
        # focus the cost plateaus and the model's minimum means nothing; a dimensionless test on
        # the run's own frames, not a per-instrument threshold).
        funnel = len(self.costs) >= 3 and min(self.costs) <= 0.5 * float(np.median(self.costs))
        # A pair step still to take from the best pair is a better model than the GP's: no stop before it.
        best = int(np.argmin(self.costs))
        pair_pending = c.cost == "pair" and c.pair_step and best not in self._stepped and self._vectors[best] is not None
        if (c.stop_rule == "converged" and funnel and self._model_step and last_is_best and not pair_pending
                and np.all(np.abs(z_pm - x_best) * half <= c.converge_m)):
            if c.resolve_blind and not self._blind_done and self._start_excursion():
                return
            self.stop("model minimum measured and confirmed", converged=True)
            return
        if c.exploit:
            near = np.min(np.max(np.abs(self.opt.X - z_pm[None, :]) * half[None, :], axis=1))
            if near > c.converge_m:
                self._next = z_pm

    def _plan_pair_step(self) -> None:
        """Next setting: the best pair's centre corrected by its own measured (C1, A1) (see ``pair_step``)."""
        i = int(np.argmin(self.costs))
        vec = self._vectors[i]
        if vec is None or i in self._stepped:
            return
        self._stepped.add(i)
        step = knob_step(vec, [self._aberr[a] for a in self.axes], self.config.pair_camera_axes)
        target = np.array([self.settings[i][a] for a in self.axes]) + step
        self._next = np.clip(2.0 * (target - self.lo) / (self.hi - self.lo) - 1.0, -1.0, 1.0)

    def _to_knobs(self, z: np.ndarray) -> dict[str, float]:
        z = np.clip(np.asarray(z, dtype=float), -1.0, 1.0)
        v = self.lo + (z + 1.0) * 0.5 * (self.hi - self.lo)
        v = np.clip(v, self.lo, self.hi)  # float round-off only: the box lies inside the limits
        return {a: float(x) for a, x in zip(self.axes, v)}

    def _to_unit(self, setting: dict[str, float]) -> np.ndarray:
        v = np.array([float(setting[a]) for a in self.axes])
        return np.clip(2.0 * (v - self.lo) / (self.hi - self.lo) - 1.0, -1.0, 1.0)

    def landscape(self, n: int = 60) -> dict[str, np.ndarray] | None:
        """The GP posterior mean of the cost on an ``n x n`` grid for a 2-axis run (else None).

        Returns ``{"x": knob values of axis 0 (m), "y": axis 1 (m), "mean": (n, n) posterior mean
        of the cost, "std": (n, n) its standard deviation (in the modelled target's units)}``.
        """
        if len(self.axes) != 2 or len(self.costs) < 2:
            return None
        u = np.linspace(-1, 1, n)
        U, V = np.meshgrid(u, u)
        mu, sd = self.opt.predict(np.column_stack([U.ravel(), V.ravel()]))
        mean = np.exp(mu) if self.config.log_target else mu
        x = self.lo[0] + (u + 1) * 0.5 * (self.hi[0] - self.lo[0])
        y = self.lo[1] + (u + 1) * 0.5 * (self.hi[1] - self.lo[1])
        return {"x": x, "y": y, "mean": mean.reshape(n, n), "std": sd.reshape(n, n)}


    def landscape_slices(self, n: int = 40) -> list[dict[str, object]]:
        """2-D slices of the GP posterior mean through the best measured point, one per axis pair
        (any number of axes; for 2 axes the one slice is :meth:`landscape`).

        Each: ``{"axes": (a, b), "x": (n,) m, "y": (n,) m, "mean": (n, n) cost (rows y), "best": (xa, xb) m,
        "points": (k, 2) m measured}``."""
        if len(self.costs) < 2 or len(self.axes) < 2:
            return []
        zb = self._to_unit(self.result())
        u = np.linspace(-1, 1, n)
        U, V = np.meshgrid(u, u)
        pts = np.array([[s[a] for a in self.axes] for s in self.settings])
        out = []
        for i in range(len(self.axes)):
            for j in range(i + 1, len(self.axes)):
                Z = np.tile(zb, (n * n, 1))
                Z[:, i], Z[:, j] = U.ravel(), V.ravel()
                mu, _ = self.opt.predict(Z)
                mean = np.exp(mu) if self.config.log_target else mu
                to_m = lambda k: self.lo[k] + (u + 1) * 0.5 * (self.hi[k] - self.lo[k])  # noqa: E731
                best = self.result()
                out.append({"axes": (self.axes[i], self.axes[j]), "x": to_m(i), "y": to_m(j),
                            "mean": mean.reshape(n, n), "best": (best[self.axes[i]], best[self.axes[j]]),
                            "points": pts[:, [i, j]]})
        return out

def _options(axes: list[str], max_frames: int | None, stop_cost: float | None, camera_gain: float | None) -> dict:
    """``bo``'s defaults (the twin's): the Fourier-ellipse cost; on C10/C12 axes the magnification
    model's steps and its confirmation stop (``model="auto"``, off for other costs and axes, where
    the stop threshold applies). An instrument profile may switch cost and rule in
    ``alignment.bo`` (usim does: docs/alignment.md, "The through-focus pair")."""
    out = {"stop_cost": TWIN_STOP_COST if stop_cost is None else stop_cost,
           "max_frames": max_frames or default_max_frames(len(axes)),
           "counts_per_electron": TWIN_CAMERA_GAIN if camera_gain is None else camera_gain}
    if all(a in LINEAR_ABERRATIONS for a in axes):  # knob names are aberration names on beamloop's instruments
        out.update(model="auto", stop_rule="model", n_init=2)
    return out


SPEC = PolicySpec(default_axes=("C10", "C12.x", "C12.y"), calibrates_stop_cost=True,
                  cost_label="Fourier-ellipse cost", takes_windows=True, options=_options)
register_policy("bo", lambda **kw: BayesOptPolicy(**kw), seeded=True, spec=SPEC)
