"""PNG report of an alignment run (placeholder: the full report follows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_report(path: str | Path, run: dict[str, Any], landscape: dict[str, np.ndarray] | None = None) -> Path:
    """PNG report of a run: cost versus step, trajectory in knob space, GP landscape (2-D runs).

    run: as :func:`read_run` returns; landscape: ``{"x", "y", "mean"}`` (metres, cost) of the
    final GP (the BO policy's ``landscape()``), drawn for 2-axis runs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = run["axes"]
    steps = run["steps"]
    cost = np.asarray(steps.get("cost", []), float)
    setting = np.asarray(steps.get("setting", np.zeros((0, len(axes)))), float)
    n_panels = 3 if landscape is not None else 2
    fig, ax = plt.subplots(1, n_panels, figsize=(5.2 * n_panels, 4.4))
    k = np.arange(1, len(cost) + 1)
    ax[0].semilogy(k, np.where(cost > 0, cost, np.nan), "o-", label="measured cost")
    if len(cost):
        ax[0].semilogy(k, np.fmin.accumulate(cost), "k--", lw=1, label="best so far")
    stop = run["config"].get("stop_cost")
    if stop:
        ax[0].axhline(stop, color="g", lw=1, label="stop threshold")
    ylabel = ("network's estimated residual / tolerance (rms)" if run["config"].get("policy") == "nn"
              else "Fourier-ellipse cost (cycles/px)")
    ax[0].set(xlabel="frame", ylabel=ylabel, title="cost versus step")
    ax[0].legend(fontsize=8)
    if len(axes) >= 2 and len(setting):
        ax[1].plot(setting[:, 0] * 1e9, setting[:, 1] * 1e9, "-", color="0.6", lw=1)
        sc = ax[1].scatter(setting[:, 0] * 1e9, setting[:, 1] * 1e9, c=k, cmap="viridis", zorder=3)
        ax[1].plot(setting[0, 0] * 1e9, setting[0, 1] * 1e9, "rs", ms=9, mfc="none", label="start")
        final = json.loads(run["result"].get("final_json", "{}") or "{}")
        if final:
            ax[1].plot(final[axes[0]] * 1e9, final[axes[1]] * 1e9, "r*", ms=14, label="final")
        fig.colorbar(sc, ax=ax[1], label="frame")
        ax[1].set(xlabel=f"{axes[0]} (nm)", ylabel=f"{axes[1]} (nm)", title="trajectory in knob space")
        ax[1].legend(fontsize=8)
    else:
        for j, a in enumerate(axes):
            ax[1].plot(k, setting[:, j] * 1e9, "o-", label=a)
        ax[1].set(xlabel="frame", ylabel="knob value (nm)", title="trajectory")
        ax[1].legend(fontsize=8)
    if landscape is not None:
        im = ax[2].pcolormesh(landscape["x"] * 1e9, landscape["y"] * 1e9, landscape["mean"], shading="auto", cmap="magma")
        fig.colorbar(im, ax=ax[2], label="GP mean cost")
        ax[2].plot(setting[:, 0] * 1e9, setting[:, 1] * 1e9, "c.", ms=6)
        for i, (x, y) in enumerate(setting[:, :2] * 1e9, start=1):
            ax[2].annotate(str(i), (x, y), color="c", fontsize=7)
        ax[2].set(xlabel=f"{axes[0]} (nm)", ylabel=f"{axes[1]} (nm)", title="final GP landscape")
    status = run["result"].get("status", "?")
    fig.suptitle(f"beamloop align: {status}, {len(cost)} frames")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
