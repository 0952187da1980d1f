"""The PNG report of an alignment run: what an operator reads in ten seconds.

Panels (those that have data):

1. residual per axis versus frame, one panel per unit (nm: C10/C12; um: C21 ...), with the
   tolerance band: the twin's true aberrations where the instrument knows them (for the ``nn``
   policy the truth at the centre of each defocus pair), otherwise the policy's estimate;
2. the policy's cost per frame with the best so far and the stop threshold;
3. the Ronchigram before (first frame) and after (last frame) with the angle scale in mrad;
4. the knob trajectory for every axis pair that moved (x/y components of one aberration
   together, C10 against the rest), start at the starting knob value, final setting starred;
5. ``nn``: the network's estimates with their 1-sigma against the truth (where known);
6. ``bo``: the final GP mean landscape, one slice through the best point per axis pair.

Input: the dict :func:`beamloop.controller.run.record.read_run` returns. Units in the picture:
nm / um / mrad; integer frame ticks; the style of :mod:`beamloop.sim.figure_style`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from beamloop.sim.figure_style import axis_colour, integer_ticks, show_ronchigram, style
from beamloop.sim.units import format_length

# Tolerance per aberration (m) when the run's policy does not state one: the bench's success
# criterion (20 nm two-fold, 1 um coma; docs/alignment.md).
DEFAULT_TOLERANCE = {"C10": 20e-9, "C12.x": 20e-9, "C12.y": 20e-9, "C21.x": 1e-6, "C21.y": 1e-6}


def _unit(tol: float) -> tuple[str, float]:
    return ("nm", 1e9) if tol < 0.3e-6 else ("um", 1e6)


def tolerances(run: dict[str, Any]) -> dict[str, float]:
    """Tolerance (m) per aligned axis: the policy's (nn ``tolerance``) or :data:`DEFAULT_TOLERANCE`."""
    cfg = run.get("config", {})
    pol_tol = (cfg.get("policy_config") or {}).get("tolerance") or {}
    out = {}
    for a in run["axes"]:
        ab = (run.get("knobs", {}).get(a) or {}).get("aberration") or a
        out[a] = float(pol_tol.get(ab, DEFAULT_TOLERANCE.get(ab, 20e-9)))
    return out


def _frame_steps(run: dict[str, Any]) -> tuple[np.ndarray, int]:
    """(frame number of every recorded frame, number of loop steps): frames 1..n are the loop's,
    0 the reference, > n the verification."""
    fr = run["frames"]
    return np.asarray(fr.get("frame", fr.get("step", [])), int), len(run["steps"].get("step", []))


def _loop_frames(run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame numbers, settings, truth) of the frames taken *in* the loop (steps 1..n)."""
    fr = run["frames"]
    step, n_steps = _frame_steps(run)
    sel = (step >= 1) & (step <= n_steps)
    d = len(run["axes"])
    truth = np.asarray(fr.get("true_aberration", np.full((len(step), d), np.nan)), float)
    return step[sel], np.asarray(fr["setting"], float)[sel], truth[sel]


def verification_truth(run: dict[str, Any]) -> tuple[int, np.ndarray] | None:
    """``(frame number, truth (m) per axis)`` of the verification frame at the final setting (the
    last frame after the loop), or None if there is none or the instrument reports no truth."""
    fr = run["frames"]
    step, n_steps = _frame_steps(run)
    after = np.flatnonzero(step > n_steps)
    if not len(after) or "true_aberration" not in fr:
        return None
    truth = np.asarray(fr["true_aberration"], float)[after[-1]]
    return (int(step[after[-1]]), truth) if np.isfinite(truth).any() else None


def centre_truth(run: dict[str, Any]) -> np.ndarray:
    """Truth (m) per loop frame; for ``nn`` estimate steps the mean of the pair (the truth at the
    setting the network estimated, without the pair's +-delta defocus)."""
    steps = run["steps"]
    _, _, truth = _loop_frames(run)
    truth = truth.copy()
    if run["config"].get("policy") == "nn":
        infos = [json.loads(s or "{}") for s in steps.get("info_json", [])]
        for i, info in enumerate(infos):
            if info.get("phase") == "estimate" and i >= 1 and i < len(truth):
                truth[i - 1] = truth[i] = 0.5 * (truth[i - 1] + truth[i])
    return truth


def _title(run: dict[str, Any], tol: dict[str, float]) -> str:
    res = run.get("result", {})
    cfg = run.get("config", {})
    n = len(run["steps"].get("step", []))
    ver = run.get("verification", {})
    resid = ver.get("true_aberrations")
    resid = json.loads(resid) if isinstance(resid, str) else (resid or {})
    parts = []
    for a in run["axes"]:
        ab = (run.get("knobs", {}).get(a) or {}).get("aberration") or a
        if ab in resid:
            ok = abs(resid[ab]) <= tol[a]
            parts.append(f"{a} {format_length(resid[ab])}{'' if ok else ' (!)'}")
    line2 = ("final true residual: " + ", ".join(parts)) if parts else "final residual unknown (instrument does not report it)"
    return (f"beamloop align - policy {cfg.get('policy', '?')} on {', '.join(run['axes'])}: "
            f"{res.get('status', '?')} after {n} frames ({res.get('message', '')})\n{line2}")


def write_report(path: str | Path, run: dict[str, Any], landscape: Any = None) -> Path:
    """Write the report PNG of ``run``; returns the path. ``landscape``: ignored (the GP slices
    are read from the record), kept for callers of the old signature."""
    axes = run["axes"]
    tol = tolerances(run)
    steps = run["steps"]
    cost = np.asarray(steps.get("cost", []), float)
    k = np.asarray(steps.get("step", np.arange(1, len(cost) + 1)), int)
    frames_k, setting, _ = _loop_frames(run)
    truth = centre_truth(run)
    verified = verification_truth(run)
    panels: list[tuple[str, Any]] = []
    groups: dict[str, list[str]] = {}
    for a in axes:
        groups.setdefault(_unit(tol[a])[0], []).append(a)
    est = np.asarray(steps.get("residual_estimate", np.full((len(k), len(axes)), np.nan)), float)
    sig = np.asarray(steps.get("residual_sigma", np.full((len(k), len(axes)), np.nan)), float)
    have_truth = truth.size and np.isfinite(truth).any()
    for unit, names in groups.items():
        panels.append(("residual", (unit, names)))
    panels.append(("cost", None))
    images = np.asarray(run["frames"].get("images", np.zeros((0, 1, 1))))
    if len(images):
        panels.append(("ronchigram", (0, "before (first frame)")))
        panels.append(("ronchigram", (len(images) - 1, "after (last frame)")))
    if np.isfinite(est).any():
        for unit, names in groups.items():
            panels.append(("estimate", (unit, names)))
    for pair in _moved_pairs(axes, setting):
        panels.append(("trajectory", pair))
    slices = [v for key, v in sorted(run.items()) if key.startswith("gp_slice_")]
    for s in slices:
        panels.append(("gp", s))

    ncol = 3
    nrow = math.ceil(len(panels) / ncol)
    with style():
        import matplotlib.pyplot as plt

        fig, axs = plt.subplots(nrow, ncol, figsize=(5.0 * ncol, 3.9 * nrow), squeeze=False)
        for ax in axs.ravel()[len(panels):]:
            ax.set_visible(False)
        rpp = run.get("instrument", {}).get("rad_per_px")
        alpha = run.get("instrument", {}).get("convergence_semiangle_rad")
        start = json.loads(run.get("result", {}).get("start_json", "{}") or "{}")
        final = json.loads(run.get("result", {}).get("final_json", "{}") or "{}")
        for ax, (kind, arg) in zip(axs.ravel(), panels):
            if kind == "residual":
                unit, names = arg
                scale = 1e9 if unit == "nm" else 1e6
                src = truth if have_truth else None
                for a in names:
                    j = axes.index(a)
                    c = axis_colour(a, j)
                    if src is not None:
                        ax.plot(frames_k, src[:, j] * scale, "o-", ms=3, color=c, label=a)
                        if verified is not None and len(frames_k):  # the final setting, as verified
                            ax.plot([frames_k[-1], verified[0]], [src[-1, j] * scale, verified[1][j] * scale],
                                    "--", color=c, lw=1)
                            ax.plot(verified[0], verified[1][j] * scale, "*", ms=10, color=c)
                    else:
                        ax.plot(k, est[:, j] * scale, "o-", ms=3, color=c, label=f"{a} (estimate)")
                band = max(tol[a] for a in names) * scale
                ax.axhspan(-band, band, color="g", alpha=0.12, lw=0, label=f"tolerance +-{band:g} {unit}")
                ax.axhline(0, color="k", lw=0.6)
                what = "true aberration" if src is not None else "estimated residual"
                if src is not None and verified is not None:
                    ax.plot([], [], "k*", ms=8, ls="none", label="verified at final setting")
                ax.set(xlabel="frame", ylabel=f"{what} ({unit})", title=f"residual per axis ({unit})")
                integer_ticks(ax)
                ax.legend(ncol=2)
            elif kind == "cost":
                ok = np.isfinite(cost)
                ax.plot(k[ok], cost[ok], "o-", ms=4, color="C0", label="measured cost")
                if ok.any():
                    ax.plot(k, np.fmin.accumulate(np.where(ok, cost, np.inf)), "k--", lw=1.2, label="best so far",
                            drawstyle="steps-post")
                    if (cost[ok] > 0).all():
                        ax.set_yscale("log")
                stop = run["config"].get("stop_cost")
                if run["config"].get("policy") == "nn":
                    ax.axhline(1.0, color="g", lw=1, label="tolerance (1)")
                    ylabel = "estimated residual / tolerance (rms)"
                else:
                    if stop:
                        ax.axhline(stop, color="g", lw=1, label=f"stop threshold {stop:.3g}")
                    ylabel = "Fourier-ellipse cost (cycles/px)"
                ax.set(xlabel="frame", ylabel=ylabel, title="policy cost per frame")
                integer_ticks(ax)
                ax.legend() if ax.get_legend_handles_labels()[0] else None
            elif kind == "ronchigram":
                i, label = arg
                step = int(np.asarray(run["frames"].get("frame", [0] * len(images)))[i])
                n_loop = len(k)
                what = ("reference frame at the start" if step == 0 else
                        "verification frame at the final setting" if step > n_loop else f"frame {step}")
                show_ronchigram(ax, images[i], rpp, alpha, title=f"{label.split(' (')[0]}: {what}")
            elif kind == "estimate":
                unit, names = arg
                scale = 1e9 if unit == "nm" else 1e6
                pair_truth = _truth_at_steps(run, truth, k, frames_k)
                lim = 0.0
                for a in names:
                    j = axes.index(a)
                    m = np.isfinite(est[:, j])
                    c = axis_colour(a, j)
                    if have_truth:
                        x = pair_truth[m, j] * scale
                        ax.errorbar(x, est[m, j] * scale, yerr=sig[m, j] * scale, fmt="o", ms=4, color=c,
                                    capsize=2, label=a)
                        lim = max(lim, np.nanmax(np.abs(np.r_[x, est[m, j] * scale, 1e-30])))
                    else:
                        ax.errorbar(k[m], est[m, j] * scale, yerr=sig[m, j] * scale, fmt="o-", ms=4, color=c,
                                    capsize=2, label=a)
                if have_truth:
                    lim = 1.1 * lim if lim > 0 else 1.0
                    ax.plot([-lim, lim], [-lim, lim], "k:", lw=1, label="estimate = truth")
                    ax.set(xlabel=f"true aberration ({unit})", ylabel=f"network estimate +-1 sigma ({unit})")
                else:
                    ax.set(xlabel="frame", ylabel=f"network estimate +-1 sigma ({unit})")
                    integer_ticks(ax)
                ax.set_title(f"network estimates ({unit})")
                ax.legend() if ax.get_legend_handles_labels()[0] else None
            elif kind == "trajectory":
                a, b = arg
                i, j = axes.index(a), axes.index(b)
                sa, sb = (1e9 if _unit(tol[a])[0] == "nm" else 1e6), (1e9 if _unit(tol[b])[0] == "nm" else 1e6)
                ua, ub = ("nm" if sa == 1e9 else "um"), ("nm" if sb == 1e9 else "um")
                ax.plot(setting[:, i] * sa, setting[:, j] * sb, "-", color="0.6", lw=1)
                sc = ax.scatter(setting[:, i] * sa, setting[:, j] * sb, c=frames_k, cmap="viridis", s=18, zorder=3)
                if a in start and b in start:
                    ax.plot(start[a] * sa, start[b] * sb, "rs", ms=9, mfc="none", label="start")
                if a in final and b in final:
                    if len(setting):  # the last correction, applied after the last loop frame
                        ax.plot([setting[-1, i] * sa, final[a] * sa], [setting[-1, j] * sb, final[b] * sb],
                                "r--", lw=1)
                    ax.plot(final[a] * sa, final[b] * sb, "r*", ms=14, label="final")
                cb = fig.colorbar(sc, ax=ax, label="frame")
                cb.locator = __import__("matplotlib.ticker", fromlist=["MaxNLocator"]).MaxNLocator(integer=True)
                cb.update_ticks()
                ax.set(xlabel=f"knob {a} ({ua})", ylabel=f"knob {b} ({ub})", title=f"knob trajectory {a} x {b}")
                ax.legend() if ax.get_legend_handles_labels()[0] else None
            elif kind == "gp":
                s = arg
                names = json.loads(s["axes"]) if isinstance(s["axes"], str) else list(s["axes"])
                a, b = names
                sa = 1e9 if _unit(tol.get(a, 20e-9))[0] == "nm" else 1e6
                sb = 1e9 if _unit(tol.get(b, 20e-9))[0] == "nm" else 1e6
                im = ax.pcolormesh(np.asarray(s["x"]) * sa, np.asarray(s["y"]) * sb, np.asarray(s["mean"]),
                                   shading="auto", cmap="magma")
                fig.colorbar(im, ax=ax, label="GP mean cost")
                pts = np.asarray(s.get("points", np.zeros((0, 2))))
                if pts.size:
                    ax.plot(pts[:, 0] * sa, pts[:, 1] * sb, "c.", ms=5, label="measured")
                best = json.loads(s["best"]) if isinstance(s.get("best"), str) else s.get("best")
                if best is not None:
                    ax.plot(best[0] * sa, best[1] * sb, "w*", ms=12, label="best")
                ax.set(xlabel=f"knob {a} ({'nm' if sa == 1e9 else 'um'})", ylabel=f"knob {b} ({'nm' if sb == 1e9 else 'um'})",
                       title=f"GP landscape {a} x {b} (slice through best)")
                ax.grid(False)
                ax.legend() if ax.get_legend_handles_labels()[0] else None
        fig.suptitle(_title(run, tol), fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / (3.9 * nrow)))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        plt.close(fig)
    return path


def _truth_at_steps(run, truth, k, frames_k) -> np.ndarray:
    """Truth (m) per step row: the (centre) truth of the frame of that step."""
    out = np.full((len(k), truth.shape[1] if truth.ndim == 2 else 0), np.nan)
    where = {int(f): i for i, f in enumerate(frames_k)}
    for r, s in enumerate(k):
        if int(s) in where:
            out[r] = truth[where[int(s)]]
    return out


def _moved_pairs(axes: list[str], setting: np.ndarray) -> list[tuple[str, str]]:
    """Axis pairs to draw: x/y components of one aberration together, then the focus against the
    rest; only axes whose knob moved."""
    if not len(setting):
        return []
    moved = [a for j, a in enumerate(axes) if np.nanmax(setting[:, j]) - np.nanmin(setting[:, j]) > 0]
    pairs, used = [], set()
    for a in moved:
        if a.endswith(".x") and a[:-2] + ".y" in moved:
            pairs.append((a, a[:-2] + ".y"))
            used |= {a, a[:-2] + ".y"}
    rest = [a for a in moved if a not in used]
    focus = next((a for a in moved if a.startswith("C10")), None)
    for a in rest:
        if a != focus and focus is not None:
            pairs.append((focus, a))
            used |= {a, focus}
    left = [a for a in moved if a not in used]
    if focus in left and len(moved) > 1:
        other = next(a for a in moved if a != focus)
        pairs.insert(0, (focus, other))
    elif len(left) >= 2:
        pairs.append((left[0], left[1]))
    return pairs
