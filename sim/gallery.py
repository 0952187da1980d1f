"""Gallery of Ronchigrams over C1 x A1 and C1 x B2 (amorphous carbon and Si [110]), for eyes.

``gallery_images`` is pure (returns arrays and labels); ``save_gallery_png`` draws them with
matplotlib (the only I/O). Units: metres for coefficients; labels in nm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from beamloop.sim.aberrations import Aberrations
from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

__all__ = ["DEFAULT_C1", "DEFAULT_A1", "DEFAULT_B2", "BASE", "gallery_images", "save_gallery_png"]

DEFAULT_C1 = (-150e-9, -60e-9, -20e-9, 0.0, 20e-9, 60e-9, 150e-9)
DEFAULT_A1 = (0.0, 20e-9, 60e-9)
DEFAULT_B2 = (0.0, 300e-9, 1000e-9)
# Residual spherical aberration of a partially corrected probe, so that focus shows a finite
# sweet spot (flat region ~15 mrad) inside the 30 mrad aperture.
BASE = Aberrations(C30=10e-6)


def gallery_images(cfg: RonchigramConfig | None = None, samples=("amorphous_carbon", "si110"),
                   c1=DEFAULT_C1, a1=DEFAULT_A1, b2=DEFAULT_B2, base: Aberrations = BASE,
                   seed: int = 0, noise: bool = True) -> list[dict]:
    """Panels: for each sample, a C1 x A1 grid (A1 along x) and a C1 x B2 grid (B2 along x).

    Returns a list of ``{"title", "rows": [row label], "cols": [col label], "images": (R, C, n, n)}``.
    """
    cfg = cfg or RonchigramConfig(max_oversample=12)
    panels = []
    for sample in samples:
        c = cfg.with_(sample=sample, sample_thickness_m=cfg.sample_thickness_m if sample == "amorphous_carbon" else 5e-9)
        sim = RonchigramSimulator(c, seed=seed)
        rng = np.random.default_rng(seed)
        for label, name, values in (("A1", "C12.x", a1), ("B2", "C21.x", b2)):
            abs_ = [base.replace(C10=v1, **{name: v2}) for v2 in values for v1 in c1]
            imgs = sim.simulate_batch(abs_, rng=rng, noise=noise)
            imgs = imgs.reshape(len(values), len(c1), c.size_px, c.size_px)
            panels.append({
                "title": f"{sample}: C1 (columns) x {label} (rows), C3 = {base['C30'] * 1e6:.0f} um",
                "rows": [f"{label}.x={v * 1e9:.0f} nm" for v in values],
                "cols": [f"C1={v * 1e9:.0f} nm" for v in c1],
                "images": imgs,
            })
    return panels


def save_gallery_png(panels: list[dict], path: str | Path, dpi: int = 90) -> Path:
    """Draw the panels as one PNG (theta_x to the right, theta_y up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(p["images"].shape[1] for p in panels)
    heights = [p["images"].shape[0] + 0.5 for p in panels]
    fig = plt.figure(figsize=(1.55 * cols, 1.62 * sum(heights)), layout="constrained")
    subfigs = fig.subfigures(len(panels), 1, height_ratios=heights, squeeze=False)[:, 0]
    for sf, p in zip(subfigs, panels):
        R, C = p["images"].shape[:2]
        axes = sf.subplots(R, C, squeeze=False)
        sf.suptitle(p["title"], fontsize=9, weight="bold")
        for i in range(R):
            for j in range(C):
                ax = axes[i, j]
                img = p["images"][i, j]
                ax.imshow(img.T, origin="lower", cmap="gray", vmin=0, vmax=np.percentile(img, 99.7))
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_title(p["cols"][j], fontsize=7)
                if j == 0:
                    ax.set_ylabel(p["rows"][i], fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
