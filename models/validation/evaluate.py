"""Evaluate an estimator on foreign validation pairs: per-axis RMSE and the closed loop.

API (docs/models.md "Foreign validation")::

    from beamloop.models.validation.evaluate import rmse_table, closed_loop, foreign_report
    rmse_table(estimator, source, spec)          # {"C10": nm, ..., "n": N} on the cached set
    closed_loop(estimator, renderer, labels)     # success and RMS B2 at start / after 1, 2, 3 steps
    foreign_report(estimator, sources=("twin", "abtem", "usim"), spec=..., loop_trials=50)

``estimator``: anything with ``predict(pairs (N, 2, H, W) counts) -> (mean (N, 5) m, sigma)``
(e.g. ``beamloop.controller.estimation.inference.default_estimator()``). Frames are the sources'
noiseless electrons through the twin's camera (:func:`common.expose_pairs`, seeded). Closed loop:
the pair is measured at the current state, the estimate (all 5 axes) subtracted from the state
(a perfect corrector), repeated; success = |C10| and |A1| < 20 nm and |B2| < 1 um on the true state.
"""

from __future__ import annotations

import time

import numpy as np

from beamloop.models.validation.common import AXES, SuccessCriteria, ValidationSpec, expose_pairs


def load_source(source: str, spec: ValidationSpec, data_dir=None, force: bool = False, progress=None):
    """(expected, labels, meta) of one source, generated on first use and cached."""
    if source == "twin":
        from beamloop.models.validation.twin_pairs import generate

        return generate(spec, data_dir, force)
    if source == "abtem":
        from beamloop.models.validation.abtem_pairs import generate

        return generate(spec, data_dir, force, progress=progress)
    if source == "usim":
        from beamloop.models.validation.usim_pairs import generate

        return generate(spec, data_dir, force, progress=progress)
    raise ValueError(f"unknown validation source {source!r}; known twin, abtem, usim")


def rmse(estimator, expected: np.ndarray, labels: np.ndarray, spec: ValidationSpec, seed: int = 1) -> dict:
    """Per-axis RMSE (nm) of ``estimator`` on pairs of expected electrons (N, 2, S, S)."""
    pairs = expose_pairs(expected, spec, seed=seed)
    mean, _ = estimator.predict(pairs)
    err = np.asarray(mean) - labels
    out = {ax: float(np.sqrt(np.mean(err[:, k] ** 2)) * 1e9) for k, ax in enumerate(AXES)}
    out["n"] = int(len(labels))
    return out


def rmse_table(estimator, source: str, spec: ValidationSpec = ValidationSpec(), data_dir=None) -> dict:
    exp, labels, _ = load_source(source, spec, data_dir)
    return rmse(estimator, exp, labels, spec)


def closed_loop(estimator, renderer, labels: np.ndarray, spec: ValidationSpec, steps: int = 3,
                criteria: SuccessCriteria = SuccessCriteria(), seed: int = 2, first_pairs: np.ndarray | None = None) -> dict:
    """Apply the estimator's corrections step by step from ``labels`` (N, 5) m.

    ``renderer.render(states, ids)`` -> expected electrons (N, 2, S, S) at the states (the twin or
    usim; ``ids`` keep each trial on its own sample region). ``first_pairs``: already rendered
    pairs at ``labels`` (the cached validation set), saves the first render.
    Returns success fraction and RMS |B2| (um), RMS |C10|, |A1| (nm) at start and after each step.
    """
    state = np.array(labels, dtype=np.float64)
    ids = np.arange(len(state))
    rows = []

    def record(k):
        b2 = np.hypot(state[:, 3], state[:, 4])
        rows.append({"step": k, "success": float(np.mean(criteria.ok(state))),
                     "rms_B2_um": float(np.sqrt(np.mean(b2**2)) * 1e6),
                     "rms_C10_nm": float(np.sqrt(np.mean(state[:, 0] ** 2)) * 1e9),
                     "rms_A1_nm": float(np.sqrt(np.mean(state[:, 1] ** 2 + state[:, 2] ** 2)) * 1e9)})

    record(0)
    t0 = time.time()
    for k in range(1, steps + 1):
        exp = first_pairs if (k == 1 and first_pairs is not None) else renderer.render(state, ids)
        mean, _ = estimator.predict(expose_pairs(exp, spec, seed=seed + k))
        state = state - np.asarray(mean, dtype=np.float64)
        record(k)
    return {"trials": int(len(state)), "steps": rows, "wall_s": time.time() - t0}


def _renderer(source: str, spec: ValidationSpec):
    if source == "twin":
        from beamloop.models.validation.twin_pairs import TwinRenderer

        return TwinRenderer(spec, seed=spec.seed)
    if source == "usim":
        from beamloop.models.validation.usim_pairs import UsimRonchigram

        return UsimRonchigram(spec)
    raise ValueError(f"closed loop runs on twin or usim (an instrument), not {source!r}")


def foreign_report(estimator, sources=("twin", "abtem", "usim"), spec: ValidationSpec = ValidationSpec(),
                   data_dir=None, loop_sources=("twin", "usim"), loop_trials: int = 50, steps: int = 3,
                   progress=None) -> dict:
    """RMSE per source on the same labels, and the closed loop on the first ``loop_trials`` labels."""
    report = {"spec": dict(spec.__dict__), "rmse_nm": {}, "closed_loop": {}}
    cache = {}
    for src in sources:
        exp, labels, meta = load_source(src, spec, data_dir, progress=progress)
        cache[src] = (exp, labels)
        report["rmse_nm"][src] = rmse(estimator, exp, labels, spec)
    for src in loop_sources:
        exp, labels = cache.get(src) or load_source(src, spec, data_dir)[:2]
        n = min(loop_trials, len(labels))
        r = _renderer(src, spec)
        try:
            report["closed_loop"][src] = closed_loop(estimator, r, labels[:n], spec, steps=steps, first_pairs=exp[:n])
        finally:
            if hasattr(r, "close"):
                r.close()
    return report


def format_report(report: dict) -> str:
    """Markdown tables of a :func:`foreign_report`."""
    lines = ["| source | " + " | ".join(f"{a} RMSE (nm)" for a in AXES) + " | n |", "|---" * (len(AXES) + 2) + "|"]
    for src, r in report["rmse_nm"].items():
        lines.append(f"| {src} | " + " | ".join(f"{r[a]:.0f}" for a in AXES) + f" | {r['n']} |")
    if report["closed_loop"]:
        lines += ["", "| closed loop | start | after 1 | after 2 | after 3 |", "|---|---|---|---|---|"]
        for src, r in report["closed_loop"].items():
            st = r["steps"]
            lines.append(f"| {src}: success ({r['trials']} trials) | " + " | ".join(f"{100 * s['success']:.0f} %" for s in st) + " |")
            lines.append(f"| {src}: RMS B2 (um) | " + " | ".join(f"{s['rms_B2_um']:.2f}" for s in st) + " |")
    return "\n".join(lines)
