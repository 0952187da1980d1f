"""Training-free alignment by through-focus pair registration (policy ``pairfit``).

One iteration takes two frames around the current setting ``x``: at ``C10 + d1`` and
``C10 + d2`` (default ``d1 = -D``, ``d2 = +2 D``; asymmetric so that coma is visible, see
:mod:`beamloop.controller.estimation.pair_registration`), resamples both onto an angular grid
through the instrument's camera geometry, fits the residual aberrations at ``x`` that warp one
frame onto the other, and moves the aligned knobs by ``-G^-1 r`` (``G`` the knobs' response
matrix, ``calibration``; identity if not given: knob ``k`` drives ``KnobInfo.aberration``). It
stops when a pair measures every aligned residual within ``tolerance`` (it still applies that
last, small correction) or after ``max_pairs`` pairs. A pair the five-term fit cannot register
(relative mismatch above ``lost_residual``: far from focus, a caustic inside a frame) is refitted
for the focus alone; only that is corrected, and the next pair measures everything again. If
the focus alone does not register either, nothing moves and the next pair is taken on the other
side of focus (``+D``, ``-2 D``): a frame with a caustic inside does not map point to point.

Where it works: sample features resolved on the camera at both offsets (a geometric shadow
image: nionswift-usim, thick films, crystal edges at a few hundred nm of defocus). On the
twin's ~1 px amorphous-carbon speckle use ``nn`` (docs/alignment.md). Nothing is learnt: no
network, no training data. Decisions come from the images only. Units: metres, radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.estimation.canonical_grid import CameraGeometry, CanonicalGrid, to_canonical
from beamloop.controller.estimation.pair_registration import FIT_TERMS, PairGeometry, PairRegistrationError, fit_pair
from beamloop.controller.policies.base import AlignmentPolicy, PolicySpec, StepReport, apply_overrides, check_axes
from beamloop.controller.policies.registry import register_policy

#: stop when a pair measures every aligned residual within these (m): a quarter of the bench's
#: success tolerances (20 nm two-fold, 1 um coma), so the last applied correction lands well inside
DEFAULT_TOLERANCE = {"C10": 5e-9, "C12.x": 5e-9, "C12.y": 5e-9, "C21.x": 300e-9, "C21.y": 300e-9}


class PairFitSetupError(ValueError):
    """The policy cannot run on these knobs or this camera (no focus knob, no geometry ...)."""


@dataclass
class PairFitConfig:
    """defocus_m: ``D`` (m); ratio: ``d2 = ratio x D`` on the other side of focus (``d1 = -D``);
    focus_knob: the knob that moves C10; grid_px / grid_rad_per_px: the angular grid both frames are
    resampled onto (None: the camera's own pitch, 128 px); max_pairs; tolerance (m per aberration)."""

    camera: CameraGeometry | None = None
    defocus_m: float = 400e-9
    ratio: float = 2.0
    focus_knob: str = "C10"
    grid_px: int = 128
    grid_rad_per_px: float | None = None
    max_pairs: int = 4
    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    calibration: list | None = None       # (n_axes x n_axes) knob -> aberration response, axes order
    stride: int = 2
    lost_residual: float = 0.3            # relative mismatch above which a five-term fit is not trusted


class PairFitPolicy(AlignmentPolicy):
    """See the module docstring."""

    name = "pairfit"

    def __init__(self, windows: dict | None = None, max_frames: int | None = None, seed: int | None = None, **overrides):
        self.cfg = apply_overrides(PairFitConfig(), overrides, self.name)
        if self.cfg.camera is None:
            raise PairFitSetupError("camera: the pairfit policy needs the camera geometry (an instrument profile's camera)")
        if not (self.cfg.defocus_m > 0 and self.cfg.ratio > 0):
            raise PairFitSetupError(f"defocus_m and ratio must be positive, got {self.cfg.defocus_m}, {self.cfg.ratio}")
        self.max_frames = max_frames
        cam = self.cfg.camera
        pitch = self.cfg.grid_rad_per_px or cam.rad_per_px * max(cam.size_px) / self.cfg.grid_px
        self._grid = CanonicalGrid(self.cfg.grid_px, pitch)
        self._geom = PairGeometry((self.cfg.grid_px, self.cfg.grid_px), pitch)
        self.history: list[dict] = []

    # -- AlignmentPolicy -------------------------------------------------------------------------
    def reset(self, knobs: dict[str, KnobInfo], start: dict[str, float], axes: list[str]) -> None:
        check_axes(knobs, start, axes)
        if self.cfg.focus_knob not in knobs:
            raise PairFitSetupError(f"focus_knob: {self.cfg.focus_knob!r} is not a knob; known {sorted(knobs)}")
        self.restart()
        self.knobs, self.axes = knobs, list(axes)
        self.ab_names = [knobs[a].aberration or a for a in self.axes]
        bad = [n for n in self.ab_names if n not in FIT_TERMS]
        if bad:
            raise PairFitSetupError(f"axes: the pair fit measures {FIT_TERMS}, not {bad}")
        n = len(self.axes)
        g = np.eye(n) if self.cfg.calibration is None else np.asarray(self.cfg.calibration, float)
        if g.shape != (n, n):
            raise PairFitSetupError(f"calibration: need a {n}x{n} response matrix for axes {self.axes}, got {g.shape}")
        self._ginv = np.linalg.inv(g)
        self._mirror = False
        self.base = {k: float(start[k]) for k in set(self.axes) | {self.cfg.focus_knob}}
        self._offsets = self._pair_offsets()
        self._frames: list[tuple[float, np.ndarray]] = []
        self._last: dict[str, float] | None = None
        self._last_base = self.base[self.cfg.focus_knob]
        self.pairs = 0
        self._best = dict(self.base)
        self._start = dict(self.base)
        self._measured: list[tuple[float, dict[str, float]]] = []
        self.history = []

    def _pair_offsets(self) -> tuple[float, float]:
        d, r, f = self.cfg.defocus_m, self.cfg.ratio, self.cfg.focus_knob
        lim = self.knobs[f]
        sides = ((-d, r * d), (d, -r * d))
        for d1, d2 in (sides[::-1] if self._mirror else sides):
            if all(lim.minimum <= self.base[f] + o <= lim.maximum for o in (d1, d2)):
                return d1, d2
        raise PairFitSetupError(f"{f}: the pair offsets -/+{d:.3g} m x (1, {r}) leave the knob's limits "
                                f"[{lim.minimum}, {lim.maximum}] around {self.base[f]}")

    def _via_base(self) -> list[dict[str, float]]:
        """Waypoints from the last frame back to its pair's base, then to the current base: the
        focus knob never jumps across both offsets at once (instruments cap the step, e.g. usim 1 um)."""
        if self._last is None:
            return []
        f = self.cfg.focus_knob
        back = {**self._last, f: self._last_base}
        return [back, {a: self.base[a] for a in back}]

    def approach(self, setting: dict[str, float]) -> list[dict[str, float]]:
        return self._via_base()

    def final_approach(self) -> list[dict[str, float]]:
        return self._via_base()

    def propose(self) -> dict[str, float] | None:
        if self.done:
            return None
        off = self._offsets[len(self._frames)]
        s = {a: self.base[a] for a in self.axes}
        s[self.cfg.focus_knob] = self.base[self.cfg.focus_knob] + off
        return s

    def observe(self, setting: dict[str, float], frame: Frame) -> StepReport:
        off = float(setting[self.cfg.focus_knob]) - self.base[self.cfg.focus_knob]
        self._last = {a: float(setting[a]) for a in self.axes if a in setting}
        self._last_base = self.base[self.cfg.focus_knob]
        self._frames.append((off, to_canonical(frame.image, self.cfg.camera, self._grid)))
        if len(self._frames) < 2:
            return StepReport(info={"pair_frame": 1, "offset_m": off})
        (d1, f1), (d2, f2) = self._frames
        self._frames = []
        self.pairs += 1
        try:
            fit = fit_pair(f1, f2, d1, d2, self._geom, terms=tuple(dict.fromkeys(("C10", *self.ab_names))),
                           stride=self.cfg.stride)
        except PairRegistrationError as exc:
            self._give_up(f"pair {self.pairs} could not be registered: {exc}")
            return StepReport(info={"error": str(exc)})
        recovery = lost = False
        if fit.residual_rel > self.cfg.lost_residual and "C10" in self.ab_names:
            # lost (far from focus, a caustic in a frame): take the focus alone if that registers;
            # if not either, move nothing and take the next pair on the other side of focus
            focus = fit_pair(f1, f2, d1, d2, self._geom, terms=("C10",), stride=self.cfg.stride)
            if focus.residual_rel <= self.cfg.lost_residual:
                fit, recovery = focus, True
            else:
                lost = True
                self._mirror = not self._mirror
        est = fit.as_dict()
        keep = (lambda n: False) if lost else (lambda n: n == "C10" or not recovery)
        r = np.array([est[n] if keep(n) else 0.0 for n in self.ab_names])
        step = -self._ginv @ r
        new = dict(self.base)
        for a, dv in zip(self.axes, step):
            new[a] = self.base[a] + float(dv)
        rms = float(np.sqrt(np.mean([(est[n] / self.cfg.tolerance.get(n, 1.0)) ** 2 for n in self.ab_names])))
        registered = not (recovery or lost)
        if registered:
            self._measured.append((rms, dict(self.base)))
        within = registered and all(abs(est[n]) <= self.cfg.tolerance.get(n, np.inf) for n in self.ab_names)
        self.history.append({"pair": self.pairs, "estimate_m": {n: est[n] for n in self.ab_names},
                             "residual_rel": fit.residual_rel, "focus_only": recovery,
                             "lost": lost})
        out_of_range = [a for a in self.axes if not self.knobs[a].minimum <= new[a] <= self.knobs[a].maximum]
        if out_of_range:
            # a correction beyond a knob's limits is not clipped
            self._give_up(f"the correction would take {out_of_range} beyond their limits")
        else:
            last_is_best = registered and rms <= min(m[0] for m in self._measured)
            self.base = new
            self._best = dict(new)
            if within:
                self.stop(f"pair {self.pairs} measured every residual within tolerance", converged=True)
            elif self.pairs >= self.cfg.max_pairs:
                self._give_up(f"max_pairs ({self.cfg.max_pairs}) reached", keep_last=last_is_best)
            else:
                try:
                    self._offsets = self._pair_offsets()
                except PairFitSetupError as exc:
                    self._give_up(str(exc))
        return StepReport(cost=rms, estimate={a: self._best[a] for a in self.axes},
                          info={"estimate_m": {n: est[n] for n in self.ab_names}, "residual_rel": fit.residual_rel,
                                "gain": fit.gain})

    def _give_up(self, reason: str, keep_last: bool = False) -> None:
        """Stop unconverged at the best *measured* setting: the one whose pair measured the smallest
        residual (or the last correction, when its pair was that one); the start if no pair registered."""
        if not keep_last:
            self._best = dict(min(self._measured, key=lambda m: m[0])[1]) if self._measured else dict(self._start)
            reason += "; left at the best measured setting" if self._measured else "; left at the start"
        self.stop(reason, converged=False)

    def result(self) -> dict[str, float]:
        return {a: self._best[a] for a in self.axes}


def _options(axes, max_frames, stop_cost, camera_gain) -> dict:
    return {"max_frames": max_frames or 2 * PairFitConfig.max_pairs}


SPEC = PolicySpec(default_axes=("C10", "C12.x", "C12.y", "C21.x", "C21.y"), cost_label="pair-measured residual / tolerance (rms)",
                  takes_windows=True, needs_camera=True, measures_residual=True, options=_options)
register_policy("pairfit", lambda **kw: PairFitPolicy(**kw), seeded=True, spec=SPEC)
