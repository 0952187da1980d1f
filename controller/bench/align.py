"""``beamloop bench align``: many alignment trials on the in-process twin, scored on the truth.

Each trial: the twin's hidden aberrations are misaligned uniformly within ``windows`` (the
knobs start at zero), the same :func:`run_alignment` loop as the main job runs the policy
through :class:`LocalTwinBackend`, and the residual *true* aberrations (the twin knows them)
after the loop has left the knobs at the policy's result decide success.

Success criteria (stated in words in the output):

* axes C1 + A1x (the ASIMOV D1.2 figure): Euclidean residual ``sqrt(C1^2 + A1x^2) < 20 nm``;
* more axes: Euclidean residual of the two-fold terms ``sqrt(C1^2 + A1x^2 + A1y^2) < 20 nm``
  and axial coma ``|B2| < b2_tol`` (default 1 um: the coma whose phase at the edge of the
  twin's 30 mrad aperture, ``(2 pi / lambda) theta^3 |B2| / 3``, equals that of 20 nm of
  defocus, ``(2 pi / lambda) theta^2 C1 / 2``, i.e. ``|B2| = 3 C1 / (2 theta)``); only terms
  among the axes count.

Units: windows and residuals in metres (reported in nm in the JSON, keys say so).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from beamloop.controller.policies.registry import policy_spec
from beamloop.controller.run.session import DEFAULT_MISALIGN, twin_ronchigram_options  # noqa: F401 - re-export

# CLI aliases of the bench axes -> knob names of the twin
AXIS_ALIASES: dict[str, str] = {"C1": "C10", "A1x": "C12.x", "A1y": "C12.y", "B2x": "C21.x", "B2y": "C21.y"}
# Misalignment half-widths per aberration (m): DEFAULT_MISALIGN (C1, A1 +-150 nm, B2 +-2 um).
# The policy's search box around the start is this much wider than the misalignment window
# (the knobs' scale error and cross-talk put the aligned setting slightly outside it).
SEARCH_MARGIN = 1.2


def parse_axes(spec: str | list[str]) -> list[str]:
    """``"C1,A1x"`` -> ``["C10", "C12.x"]``. Knob names (``C12.x``) are accepted as they are."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise ValueError("axes: give at least one axis, e.g. C1,A1x")
    known = set(AXIS_ALIASES) | set(AXIS_ALIASES.values())
    bad = [s for s in items if s not in known]
    if bad:
        raise ValueError(f"axes: unknown axis {bad}; use {', '.join(AXIS_ALIASES)} (or {', '.join(AXIS_ALIASES.values())})")
    out = [AXIS_ALIASES.get(s, s) for s in items]
    if len(set(out)) != len(out):
        raise ValueError(f"axes: repeated axis in {spec!r}")
    return out


@dataclass
class SuccessCriterion:
    """Residual tolerances (m) for judging one trial; see the module docstring."""

    axes: list[str]
    twofold_tol: float = 20e-9
    b2_tol: float = 1e-6

    def describe(self) -> str:
        two = [a for a in self.axes if a in ("C10", "C12.x", "C12.y")]
        coma = [a for a in self.axes if a in ("C21.x", "C21.y")]
        parts = []
        if two:
            names = ", ".join({"C10": "C1", "C12.x": "A1x", "C12.y": "A1y"}[a] for a in two)
            parts.append(f"Euclidean residual of the true ({names}) after the run < {self.twofold_tol * 1e9:g} nm")
        if coma:
            names = ", ".join({"C21.x": "B2x", "C21.y": "B2y"}[a] for a in coma)
            parts.append(f"magnitude of the true residual ({names}) < {self.b2_tol * 1e9:g} nm (the coma with the "
                         "same phase error at the 30 mrad aperture edge as 20 nm of C1)")
        return " and ".join(parts) + " (residual = true aberration of the twin with the knobs left at the policy's result)"

    def residuals(self, truth: dict[str, float]) -> dict[str, float]:
        two = [a for a in self.axes if a in ("C10", "C12.x", "C12.y")]
        coma = [a for a in self.axes if a in ("C21.x", "C21.y")]
        out = {}
        if two:
            out["twofold"] = math.sqrt(sum(truth.get(a, 0.0) ** 2 for a in two))
        if coma:
            out["coma"] = math.sqrt(sum(truth.get(a, 0.0) ** 2 for a in coma))
        return out

    def ok(self, truth: dict[str, float]) -> bool:
        r = self.residuals(truth)
        return r.get("twofold", 0.0) < self.twofold_tol and r.get("coma", 0.0) < self.b2_tol


@dataclass
class BenchConfig:
    """One benchmark: policy name and options, axes (knob names), trials, seed, the
    misalignment windows (m), twin noise/drift, frame cap, and the twin's Ronchigram options."""

    policy: str = "bo"
    axes: list[str] = field(default_factory=lambda: ["C10", "C12.x"])
    trials: int = 100
    seed: int = 0
    misalign: dict[str, float] = field(default_factory=dict)
    noise: bool = True
    drift: bool = True
    max_frames: int = 200
    policy_options: dict[str, Any] = field(default_factory=dict)
    microscope: dict[str, Any] = field(default_factory=dict)
    criterion: SuccessCriterion | None = None
    calibrate_stop: bool = False
    calibrate_response: bool = False  # nn: measure the knobs' response matrix once, before the trials
    response_mode: str = "short"  # "short" (16 frames, nn approaching from below), "quick" (20) or "full" (132)


def make_twin(cfg: BenchConfig, seed: int):
    """A twin with the bench's noise/drift settings and knobs for (at least) the axes."""
    from beamloop.sim.microscope import Microscope, MicroscopeConfig

    kw: dict[str, Any] = dict(noise=cfg.noise, drift=cfg.drift, ronchigram=twin_ronchigram_options())
    kw.update(cfg.microscope)
    return Microscope(MicroscopeConfig(**kw), seed=seed)


def calibrate_stop_cost(microscope, axes: list[str], rng: np.random.Generator, radius: float = 12e-9,
                        n: int = 8, counts_per_electron: float = 8.0) -> float:
    """Median Fourier-ellipse cost of ``n`` frames taken with the two-fold axes of ``axes`` a
    distance ``radius`` (m) from the twin's aligned setting in random directions (coma axes
    ``10 * radius``). Uses the twin's oracle once, before the trials, like ASIMOV's "we know the
    ellipse features of the calibrated image"; the frames are not counted in any trial."""
    from beamloop.controller.estimation.cost import fourier_ellipse

    costs = []
    saved = microscope.get_knobs()
    for _ in range(n):
        aligned = microscope.aligned_knobs()
        v = rng.standard_normal(len(axes))
        v /= np.linalg.norm(v)
        scale = np.array([10.0 if a.startswith("C21") else 1.0 for a in axes]) * radius
        target = {a: aligned[a] + s * x for a, s, x in zip(axes, scale, v)}
        microscope.set_knobs(target)
        img, _ = microscope.acquire()
        costs.append(fourier_ellipse(img, counts_per_electron).cost)
    microscope.set_knobs(saved)
    return float(np.median(costs))


def measure_twin_response(cfg: BenchConfig, microscope, repeats: int = 3):
    """The nn policy's knob response matrix, measured with the network on the (aligned) twin
    before the trials, as an operator calibrates a corrector once per session.
    ``cfg.response_mode``: ``"short"`` (default, 16 frames: coma cross-talk, every frame
    approached from below; for the nn policy's ``approach_from_below``,
    :func:`~beamloop.controller.estimation.knob_calibration.short_response`), ``"quick"`` (20
    frames: coma cross-talk + first-order play,
    :func:`~beamloop.controller.estimation.knob_calibration.quick_response`) or ``"full"``
    (all five knobs, ``repeats`` repeats, 132 frames)."""
    from beamloop.controller.estimation.inference import default_estimator
    from beamloop.controller.estimation.knob_calibration import measure_response, quick_response, short_response
    from beamloop.controller.instruments.local_twin import LocalTwinBackend

    if cfg.response_mode not in ("short", "quick", "full"):
        raise ValueError(f"response_mode: must be 'short', 'quick' or 'full', got {cfg.response_mode!r}")
    microscope.set_knobs({a: 0.0 for a in microscope.knob_specs()})
    microscope.misalign(None, {})
    est = default_estimator(cfg.policy_options.get("weights_dir"))
    backend = LocalTwinBackend(microscope)
    if cfg.response_mode == "short":
        return asyncio.run(short_response(backend, est))
    if cfg.response_mode == "quick":
        return asyncio.run(quick_response(backend, est))
    return asyncio.run(measure_response(backend, est, repeats=repeats))


def run_trial(cfg: BenchConfig, microscope, rng: np.random.Generator, trial_seed: int) -> dict[str, Any]:
    """One trial on ``microscope``: misalign, align, score. Returns a dict of numbers."""
    from beamloop.controller.run.loop import run_alignment
    from beamloop.controller.instruments.local_twin import LocalTwinBackend
    from beamloop.controller.policies.registry import make_policy

    windows = {a: cfg.misalign.get(a, DEFAULT_MISALIGN[a]) for a in cfg.axes}
    microscope.set_knobs({a: 0.0 for a in microscope.knob_specs()})
    microscope.misalign(rng, windows)
    start_truth = microscope.true_aberration_dict()
    options = dict(cfg.policy_options)
    if policy_spec(cfg.policy).takes_windows and "windows" not in options:  # nn: caps its BO fallback
        options["windows"] = {a: SEARCH_MARGIN * w for a, w in windows.items()}
    policy = make_policy(cfg.policy, seed=trial_seed, **options)
    backend = LocalTwinBackend(microscope)
    t0 = time.perf_counter()
    res = asyncio.run(run_alignment(backend, policy, cfg.axes, max_frames=cfg.max_frames, offload_policy=False))
    dt = time.perf_counter() - t0
    truth = microscope.true_aberration_dict()
    crit = cfg.criterion or SuccessCriterion(cfg.axes)
    resid = crit.residuals(truth)
    return {
        "status": res.status,
        "frames": res.frames,
        "success": bool(res.status in ("converged", "finished") and crit.ok(truth)),
        "residual": resid,
        "start_residual": crit.residuals(start_truth),
        "stop_reason": res.stop_reason,
        "seconds": dt,
    }


def run_bench(cfg: BenchConfig, progress=None) -> dict[str, Any]:
    """Run ``cfg.trials`` trials; return the benchmark's JSON-able summary.

    progress: optional callable ``progress(i, trial_dict)`` after each trial.
    """
    if cfg.trials < 1:
        raise ValueError(f"trials: must be >= 1, got {cfg.trials}")
    crit = cfg.criterion or SuccessCriterion(cfg.axes)
    cfg.criterion = crit
    rng = np.random.default_rng(cfg.seed)
    microscope = make_twin(cfg, seed=cfg.seed)
    t0 = time.perf_counter()
    if cfg.calibrate_stop:
        cal_rng = np.random.default_rng([cfg.seed, 1])
        microscope.misalign(cal_rng, {a: 0.0 for a in cfg.axes})
        cfg.policy_options = {**cfg.policy_options, "stop_cost": calibrate_stop_cost(
            microscope, cfg.axes, cal_rng, counts_per_electron=cfg.policy_options.get("counts_per_electron", 8.0))}
    calibration = None
    if cfg.calibrate_response:
        calibration = measure_twin_response(cfg, microscope)
        cfg.policy_options = {**cfg.policy_options, "calibration": calibration.gain, "play": calibration.play_m}
    trials = []
    for i in range(cfg.trials):
        trial = run_trial(cfg, microscope, rng, trial_seed=int(rng.integers(2**31 - 1)))
        trials.append(trial)
        if progress is not None:
            progress(i, trial)
    wall = time.perf_counter() - t0
    frames = np.array([t["frames"] for t in trials], float)
    ok = np.array([t["success"] for t in trials])
    out: dict[str, Any] = {
        "policy": cfg.policy,
        "axes": cfg.axes,
        "trials": cfg.trials,
        "seed": cfg.seed,
        "success_rate": float(ok.mean()),
        "successes": int(ok.sum()),
        "success_criterion": crit.describe(),
        "frames_median": float(np.median(frames)),
        "frames_mean": float(frames.mean()),
        "frames_std": float(frames.std(ddof=1)) if len(frames) > 1 else 0.0,
        "frames_max": int(frames.max()),
        "wall_s": wall,
        "seconds_per_trial": wall / cfg.trials,
        "misalign_half_width_nm": {a: cfg.misalign.get(a, DEFAULT_MISALIGN[a]) * 1e9 for a in cfg.axes},
        "stop_cost": cfg.policy_options.get("stop_cost"),
        "stop_cost_calibrated": cfg.calibrate_stop,
        "noise": cfg.noise,
        "drift": cfg.drift,
        "statuses": {s: sum(t["status"] == s for t in trials) for s in sorted({t["status"] for t in trials})},
    }
    for key in trials[0]["residual"]:
        r = np.array([t["residual"][key] for t in trials]) * 1e9
        out[f"residual_{key}_nm_median"] = float(np.median(r))
        out[f"residual_{key}_nm_p95"] = float(np.percentile(r, 95))
        out[f"residual_{key}_nm_max"] = float(r.max())
    if calibration is not None:
        out["response_calibration"] = {"frames": calibration.frames, "method": calibration.method,
                                       "gain": calibration.gain,
                                       "play_nm": {k: v * 1e9 for k, v in calibration.play_m.items()},
                                       "measured_diagonal": calibration.measured_diagonal,
                                       "note": "measured once with the network before the trials (frames not counted in any trial)"}
    if "twofold" in trials[0]["residual"]:
        r = np.array([t["residual"]["twofold"] for t in trials])
        out["within_30nm_twofold"] = float(np.mean(r < 30e-9))
    return out
