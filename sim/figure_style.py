"""One figure style for every picture beamloop writes (reports, ``sim ronchigram``, gallery).

* :func:`style` - matplotlib rc settings (sizes, grid, colours); use as a context manager.
* :func:`show_ronchigram` - a Ronchigram on an axes with its angle scale in mrad (image rows
  are ``theta_x``, columns ``theta_y``: drawn transposed, origin lower, like the twin's gallery)
  and the convergence aperture's edge.
* :func:`ronchigram_figure` - one Ronchigram as a PNG.
* :data:`SAMPLE_LABELS`, :data:`AXIS_LABELS` - human labels.

Lives in ``sim`` so the twin's own pictures can use it; imports matplotlib lazily.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np

SAMPLE_LABELS = {"amorphous_carbon": "amorphous carbon", "si100": "Si [100]", "si110": "Si [110]"}
# Krivanek names with the common name an operator knows
AXIS_LABELS = {"C10": "C10 defocus", "C12.x": "C12.x astigmatism", "C12.y": "C12.y astigmatism",
               "C21.x": "C21.x coma", "C21.y": "C21.y coma", "C23.x": "C23.x 3-fold", "C23.y": "C23.y 3-fold",
               "C30": "C30 spherical"}
AXIS_COLOURS = {"C10": "#1f77b4", "C12.x": "#ff7f0e", "C12.y": "#2ca02c", "C21.x": "#d62728", "C21.y": "#9467bd"}
RC = {"figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
      "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
      "axes.spines.top": False, "axes.spines.right": False, "image.cmap": "gray"}


def axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name)


def axis_colour(name: str, i: int = 0) -> str:
    return AXIS_COLOURS.get(name, f"C{i % 10}")


@contextlib.contextmanager
def style() -> Iterator[None]:
    """``with style(): ...`` - beamloop's rc settings, Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(RC):
        yield


def integer_ticks(ax, axis: str = "x") -> None:
    """Whole-number ticks (frames)."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def show_ronchigram(ax, img: np.ndarray, rad_per_px: float | None, alpha_rad: float | None = None,
                    title: str | None = None, vmax_percentile: float = 99.7):
    """Draw ``img`` (rows theta_x, columns theta_y) with mrad axes; returns the AxesImage."""
    img = np.asarray(img, float)
    nx, ny = img.shape
    if rad_per_px:
        s = rad_per_px * 1e3
        extent = (-nx / 2 * s, nx / 2 * s, -ny / 2 * s, ny / 2 * s)
        xl, yl = "theta_x (mrad)", "theta_y (mrad)"
    else:
        extent, xl, yl = (0, nx, 0, ny), "x (camera px)", "y (camera px)"
    vmax = float(np.percentile(img, vmax_percentile)) if img.size else 1.0
    im = ax.imshow(img.T, origin="lower", cmap="gray", extent=extent, vmin=0, vmax=max(vmax, 1e-12),
                   interpolation="nearest")
    if rad_per_px and alpha_rad:
        t = np.linspace(0, 2 * np.pi, 200)
        ax.plot(alpha_rad * 1e3 * np.cos(t), alpha_rad * 1e3 * np.sin(t), color="#ffcc00", lw=0.8, ls="--",
                label=f"aperture {alpha_rad * 1e3:g} mrad")
    ax.set(xlabel=xl, ylabel=yl)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return im


def ronchigram_figure(img: np.ndarray, rad_per_px: float | None, path: str | Path, title: str = "",
                      alpha_rad: float | None = None) -> Path:
    """One Ronchigram with its angle scale and a colour bar (counts) as a PNG."""
    with style():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.4, 4.6))
        im = show_ronchigram(ax, img, rad_per_px, alpha_rad)
        fig.colorbar(im, ax=ax, label="camera counts")
        if title:
            ax.set_title(title, fontsize=8)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path)
        plt.close(fig)
    return path
