"""The record of an explore run: a NeXus/HDF5 file and a PNG picture.

NeXus layout (written with :class:`beamloop.controller.run.nexus.NexusFile`; lengths in m):

``/``                      NXroot, ``format = "beamloop-explore"``, ``format_version`` (as the alignment
                           record's ``beamloop-align-run``; :func:`read_run` opens both)
``/entry``                 NXentry, attrs ``definition = "beamloop-explore"``, ``format_version``
``/entry/process``         NXprocess: ``program``, ``git_commit``, ``git_dirty``, ``versions`` (provenance)
``/entry/config``          NXnote: ``data`` = the run configuration (JSON)
``/entry/survey``          NXdata: ``data`` (nx, ny) survey counts, axes ``x``, ``y`` (m), attr ``detector``
``/entry/measurements``    NXdata, growing one row per measurement: ``value`` (the scalar) vs
                           ``step``; ``index`` (flat grid index), ``x``, ``y`` (m), ``com`` (n, 2) rad,
                           ``t_acquired`` (s), ``info_json``; ``frames`` (n, h, w) camera counts when
                           frames are kept
``/entry/prediction``      NXdata: ``mean`` and ``std`` (nx, ny) of the surrogate at the end, axes x, y
``/entry/result``          NXcollection attrs: status, n_measurements, best index/value/position ...

The file is flushed after every measurement, so an interrupted run leaves everything up to
the interruption. The PNG shows the survey with the measured points in order, the predicted
scalar map, its uncertainty and the scalar per measurement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from beamloop.controller.run.nexus import NexusFile, to_json

__all__ = ["ExploreRecord", "FORMAT", "FORMAT_VERSION", "plot_run", "read_explore"]

FORMAT = "beamloop-explore"
FORMAT_VERSION = 1


class ExploreRecord:
    """Write one explore run as it happens."""

    def __init__(self, path: str | Path, config: dict[str, Any], keep_frames: bool = False,
                 frame_shape: tuple[int, int] | None = None):
        from beamloop.controller.run.provenance import git_state, software_versions

        self.nx = NexusFile(path, creator="beamloop explore", format=FORMAT, format_version=FORMAT_VERSION)
        self.path = self.nx.path
        e = self.nx.group("entry", "NXentry", definition=FORMAT, format_version=FORMAT_VERSION,
                          start_time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        proc = self.nx.group("entry/process", "NXprocess")
        git = git_state()
        self.nx.field(proc, "program", "beamloop explore")
        self.nx.field(proc, "git_commit", git.get("commit", "unknown"))
        self.nx.field(proc, "git_dirty", git.get("dirty", "unknown"))
        vg = self.nx.group("entry/process/versions", "NXnote")
        for k, v in software_versions().items():
            vg.attrs[k] = v
        self.nx.field(self.nx.group("entry/config", "NXnote"), "data", to_json(config))
        self.nx.field(e, "type", "application/json")
        g = self.nx.nxdata("entry/measurements", "value", ["step"], title="scalarized measurements in order")
        col = self.nx.column
        self.cols = {
            "step": col(g, "step", "i8"),
            "value": col(g, "value", "f8"),
            "index": col(g, "index", "i8"),
            "x": col(g, "x", "f8", units="m"),
            "y": col(g, "y", "f8", units="m"),
            "com": col(g, "com", "f8", (2,), units="rad"),
            "t_acquired": col(g, "t_acquired", "f8", units="s"),
            "info_json": col(g, "info_json", __import__("h5py").string_dtype("utf-8")),
        }
        if keep_frames and frame_shape:
            self.cols["frames"] = col(g, "frames", "f4", frame_shape, units="counts", chunk_rows=8, compress=True)
        self.nx.flush()

    def survey(self, image: np.ndarray, step_m: float, detector: str) -> None:
        g = self.nx.nxdata("entry/survey", "data", ["x", "y"], title=f"{detector} survey")
        g.attrs["detector"] = detector
        self.nx.field(g, "data", np.asarray(image), units="counts")
        self.nx.field(g, "x", np.arange(image.shape[0]) * step_m, units="m")
        self.nx.field(g, "y", np.arange(image.shape[1]) * step_m, units="m")
        self.nx.set_default("entry", "survey")
        self.nx.flush()

    def measurement(self, step: int, index: int, position_m: tuple[float, float], value: float,
                    com_rad: np.ndarray | None, t_acquired: float, info: dict[str, Any],
                    frame: np.ndarray | None = None) -> None:
        c, a = self.cols, self.nx.append
        a(c["step"], step)
        a(c["value"], value)
        a(c["index"], index)
        a(c["x"], position_m[0])
        a(c["y"], position_m[1])
        a(c["com"], np.asarray(com_rad if com_rad is not None else (np.nan, np.nan), dtype=float))
        a(c["t_acquired"], t_acquired)
        a(c["info_json"], to_json(info))
        if "frames" in c and frame is not None:
            a(c["frames"], np.asarray(frame, dtype=np.float32))
        self.nx.flush()

    def prediction(self, mean: np.ndarray, std: np.ndarray, step_m: float, units: str = "") -> None:
        g = self.nx.nxdata("entry/prediction", "mean", ["x", "y"], title="surrogate mean and std", aux=["std"])
        self.nx.field(g, "mean", mean, units=units or None)
        self.nx.field(g, "std", std, units=units or None)
        self.nx.field(g, "x", np.arange(mean.shape[0]) * step_m, units="m")
        self.nx.field(g, "y", np.arange(mean.shape[1]) * step_m, units="m")
        self.nx.flush()

    def result(self, **attrs: Any) -> None:
        g = self.nx.group("entry/result", "NXcollection")
        for k, v in attrs.items():
            g.attrs[k] = v if isinstance(v, (int, float, str, np.integer, np.floating)) else to_json(v)
        self.nx.group("entry", "NXentry").attrs["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.nx.flush()

    def close(self) -> None:
        self.nx.close()


def read_explore(path: str | Path) -> dict[str, Any]:
    """Load an explore record into plain Python/numpy: ``format``, ``config`` (dict),
    ``provenance``, ``survey`` (``data``, ``x``, ``y``, ``detector``), ``measurements`` (one
    array per column, in order), ``prediction`` (``mean``, ``std``, ``x``, ``y``, or None) and
    ``result`` (attrs). ``read_run`` in ``run.record`` dispatches here for this format."""
    import json

    import h5py

    def table(g):
        return {k: (v.asstr()[()] if h5py.check_string_dtype(v.dtype) else v[()])
                for k, v in g.items() if isinstance(v, h5py.Dataset)}

    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"path: {path} is not a beamloop explore record (format {f.attrs.get('format')!r})")
        e = f["entry"]
        proc = e["process"]
        out: dict[str, Any] = {
            "format": FORMAT,
            "format_version": int(f.attrs["format_version"]),
            "config": json.loads(e["config/data"].asstr()[()]),
            "provenance": {"git_commit": proc["git_commit"].asstr()[()], "git_dirty": proc["git_dirty"].asstr()[()],
                           "versions": dict(proc["versions"].attrs)},
            "survey": None, "prediction": None,
            "measurements": table(e["measurements"]),
            "result": dict(e["result"].attrs) if "result" in e else {},
        }
        if "survey" in e:
            out["survey"] = {**table(e["survey"]), "detector": e["survey"].attrs.get("detector")}
        if "prediction" in e:
            out["prediction"] = table(e["prediction"])
        return out


def plot_run(path: str | Path, survey: np.ndarray, step_m: float, indices: list[int], values: list[float],
             prediction: tuple[np.ndarray, np.ndarray] | None, title: str, value_label: str,
             truth: np.ndarray | None = None) -> Path:
    """The run picture: survey + measured points in order; predicted map; uncertainty;
    scalar per measurement (and the true map, when a twin supplies one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nx_, ny_ = survey.shape
    ext = (0, (nx_ - 1) * step_m * 1e9, 0, (ny_ - 1) * step_m * 1e9)
    ix, iy = np.divmod(np.asarray(indices, dtype=int), ny_)
    px, py = ix * step_m * 1e9, iy * step_m * 1e9
    panels = 4 + (truth is not None)
    fig, axs = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2))
    ax = axs[0]
    ax.imshow(survey.T, origin="lower", extent=ext, cmap="gray")
    sc = ax.scatter(px, py, c=np.arange(len(px)), cmap="viridis", s=14, edgecolors="w", linewidths=0.4)
    ax.plot(px, py, "-", color="w", lw=0.4, alpha=0.5)
    for k in range(min(len(px), 12)):
        ax.annotate(str(k + 1), (px[k], py[k]), color="yellow", fontsize=6, xytext=(2, 2), textcoords="offset points")
    fig.colorbar(sc, ax=ax, fraction=0.046, label="measurement order")
    ax.set_title("survey + points measured")
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("y (nm)")
    k = 1
    if prediction is not None:
        for img, name in ((prediction[0], f"predicted {value_label}"), (prediction[1], "uncertainty (1 sigma)")):
            a = axs[k]
            im = a.imshow(img.T, origin="lower", extent=ext, cmap="magma")
            a.plot(px, py, ".", color="c", ms=2)
            fig.colorbar(im, ax=a, fraction=0.046)
            a.set_title(name)
            k += 1
    else:
        for _ in range(2):
            axs[k].set_axis_off()
            axs[k].text(0.5, 0.5, "no surrogate\n(grid / random / survey order)", ha="center", transform=axs[k].transAxes)
            k += 1
    if truth is not None:
        a = axs[k]
        im = a.imshow(truth.T, origin="lower", extent=ext, cmap="magma")
        a.plot(px, py, ".", color="c", ms=2)
        fig.colorbar(im, ax=a, fraction=0.046)
        a.set_title(f"true {value_label} (twin)")
        k += 1
    a = axs[k]
    v = np.asarray(values)
    a.plot(np.arange(1, len(v) + 1), v, ".", ms=3, label="measured")
    a.plot(np.arange(1, len(v) + 1), np.maximum.accumulate(v), "-", label="best so far")
    a.set_xlabel("measurement")
    a.set_ylabel(value_label)
    a.legend(fontsize=7)
    a.set_title("scalar per measurement")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
