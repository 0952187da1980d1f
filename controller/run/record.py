"""The record every alignment run leaves: an HDF5 file and a PNG report.

HDF5 layout (h5py; strings are UTF-8, structured values JSON text, times Unix seconds):

``/``             attrs ``format = "beamloop-align-run"``, ``format_version``, ``created``
``/config``       attrs: the run configuration (``config_json``) and one attr per top-level key
``/versions``     attrs: python, platform, beamloop, numpy, scipy, scikit-learn, h5py, ...
``/knobs``        attrs: ``json`` (name -> unit, minimum, maximum, aberration)
``/frames``       ``images`` (n, ny, nx) as acquired (dtype kept), ``seq``, ``t_acquired``
                  (instrument clock), ``t_host``, ``step``, ``setting`` (n, n_axes, metres),
                  ``state_json`` (knob state the instrument reported), ``meta_json`` (frame meta, e.g.
                  the twin's true aberrations)
``/commands``     ``t_sent``, ``t_reply``, ``kind``, ``request_json``, ``reply_json``, ``error``
``/steps``        ``step``, ``t``, ``cost``, ``setting`` (n, n_axes), ``estimate`` (n, n_axes),
                  ``info_json``
``/events``       ``t``, ``kind``, ``message``
``/result``       attrs: status, message, frames, elapsed_s, restored, start/final (JSON) ...

Datasets grow as the run goes and the file is flushed after every frame, so an interrupted run
still leaves everything up to the interruption. ``axes`` (attr on ``/``) names the columns of
the ``setting``/``estimate`` arrays.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.policies.base import StepReport

FORMAT = "beamloop-align-run"
FORMAT_VERSION = 1
_STR = h5py.string_dtype("utf-8")


def _json(obj: Any) -> str:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if hasattr(o, "__dict__"):
            return o.__dict__
        return repr(o)

    return json.dumps(obj, default=default)


def software_versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages a run depends on."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("beamloop", "numpy", "scipy", "scikit-learn", "h5py", "pyzmq", "msgpack", "matplotlib", "rich"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


class RunRecorder:
    """Writes one alignment run to ``path`` (HDF5). Use as a context manager or call ``close()``.

    axes: names of the aligned knobs (columns of the setting arrays); config: the run
    configuration (JSON-able); knobs: the instrument's knobs (limits, units).
    """

    def __init__(self, path: str | Path, axes: list[str], config: dict[str, Any], knobs: dict[str, KnobInfo] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.axes = list(axes)
        self.f = h5py.File(self.path, "w")
        self.f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "created": time.time(),
                             "axes": _json(self.axes)})
        cfg = self.f.create_group("config")
        cfg.attrs["config_json"] = _json(config)
        for key, value in config.items():
            cfg.attrs[key] = _json(value)
        self.f.create_group("versions").attrs.update(software_versions())
        self.f.create_group("knobs").attrs["json"] = _json({k: v.__dict__ for k, v in (knobs or {}).items()})
        self._frames = self.f.create_group("frames")
        self._commands = self.f.create_group("commands")
        self._steps = self.f.create_group("steps")
        self._events = self.f.create_group("events")
        self.n_frames = 0
        d = len(self.axes)
        self._mk(self._commands, {"t_sent": "f8", "t_reply": "f8", "kind": _STR, "request_json": _STR,
                                  "reply_json": _STR, "error": _STR})
        self._mk(self._steps, {"step": "i8", "t": "f8", "cost": "f8", "info_json": _STR})
        self._steps.create_dataset("setting", (0, d), "f8", maxshape=(None, d), chunks=(64, max(d, 1)))
        self._steps.create_dataset("estimate", (0, d), "f8", maxshape=(None, d), chunks=(64, max(d, 1)))
        self._mk(self._events, {"t": "f8", "kind": _STR, "message": _STR})
        self._mk(self._frames, {"seq": "i8", "t_acquired": "f8", "t_host": "f8", "step": "i8",
                                "state_json": _STR, "meta_json": _STR})
        self._frames.create_dataset("setting", (0, d), "f8", maxshape=(None, d), chunks=(64, max(d, 1)))

    @staticmethod
    def _mk(group: h5py.Group, columns: dict[str, Any]) -> None:
        for name, dtype in columns.items():
            group.create_dataset(name, (0,), dtype, maxshape=(None,), chunks=(256,))

    @staticmethod
    def _append(ds: h5py.Dataset, value: Any) -> None:
        n = ds.shape[0]
        ds.resize(n + 1, axis=0)
        ds[n] = value

    def _row(self, group: h5py.Group, **values: Any) -> None:
        for name, value in values.items():
            self._append(group[name], value)

    # -- the loop's Recorder protocol -----------------------------------------------------
    def command(self, kind, request, reply, t_sent, t_reply, error) -> None:
        self._row(self._commands, t_sent=t_sent, t_reply=t_reply, kind=kind, request_json=_json(request),
                  reply_json=_json(reply), error=error or "")

    def frame(self, step: int, setting: dict[str, float], frame: Frame, t_host: float) -> None:
        img = np.asarray(frame.image)
        if "images" not in self._frames:
            self._frames.create_dataset("images", (0, *img.shape), img.dtype, maxshape=(None, *img.shape),
                                        chunks=(1, *img.shape), compression="gzip", compression_opts=1)
        ds = self._frames["images"]
        if ds.shape[1:] != img.shape:
            raise ValueError(f"frame: image shape {img.shape} differs from earlier frames {ds.shape[1:]}")
        self._append(ds, img)
        self._row(self._frames, seq=int(frame.seq), t_acquired=float(frame.t_acquired), t_host=t_host, step=step,
                  state_json=_json(frame.state), meta_json=_json(frame.meta))
        self._append(self._frames["setting"], [setting.get(a, np.nan) for a in self.axes])
        self.n_frames += 1
        self.f.flush()

    def step(self, step: int, setting: dict[str, float], report: StepReport, t: float) -> None:
        est = report.estimate or {}
        self._row(self._steps, step=step, t=t, cost=np.nan if report.cost is None else float(report.cost),
                  info_json=_json(report.info))
        self._append(self._steps["setting"], [setting.get(a, np.nan) for a in self.axes])
        self._append(self._steps["estimate"], [est.get(a, np.nan) for a in self.axes])

    def event(self, kind: str, message: str, t: float) -> None:
        self._row(self._events, t=t, kind=kind, message=message)
        self.f.flush()

    def result(self, result) -> None:
        g = self.f.require_group("result")
        g.attrs.update({"status": result.status, "message": result.message, "frames": result.frames,
                        "elapsed_s": result.elapsed_s, "restored": result.restored,
                        "start_json": _json(result.start), "final_json": _json(result.final),
                        "stop_reason": result.stop_reason or ""})
        self.f.flush()

    def extra(self, name: str, values: dict[str, Any]) -> None:
        """Store anything else (e.g. the residual aberrations, the GP landscape) under ``/name``."""
        g = self.f.require_group(name)
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                if key in g:
                    del g[key]
                g.create_dataset(key, data=value)
            else:
                g.attrs[key] = _json(value)
        self.f.flush()

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()

    def __enter__(self) -> "RunRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_run(path: str | Path) -> dict[str, Any]:
    """Load a run record into plain Python/numpy (for reports and tests)."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"path: {path} is not a beamloop alignment run record")
        out: dict[str, Any] = {"axes": json.loads(f.attrs["axes"]), "config": json.loads(f["config"].attrs["config_json"]),
                               "versions": dict(f["versions"].attrs), "knobs": json.loads(f["knobs"].attrs["json"])}
        for grp in ("frames", "commands", "steps", "events"):
            out[grp] = {k: (v.asstr()[()] if h5py.check_string_dtype(v.dtype) else v[()]) for k, v in f[grp].items()}
        out["result"] = dict(f["result"].attrs) if "result" in f else {}
        for name in f:
            if name not in out and isinstance(f[name], h5py.Group):
                g = f[name]
                out[name] = {**{k: v[()] for k, v in g.items()}, **dict(g.attrs)}
        return out


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
        ax[0].semilogy(k, np.minimum.accumulate(cost), "k--", lw=1, label="best so far")
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
