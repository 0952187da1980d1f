"""The record every alignment run leaves: a NeXus (HDF5) file, flushed as it goes.

Open it with plain h5py, h5web, or RosettaSciIO/HyperSpy (``rsciio.nexus.file_reader``: the
frames, the cost and the residual curves come out as calibrated signals). Layout (SI units in
``units`` attributes; Ronchigram angles in mrad so viewers show operator units):

``/``                       NXroot, ``default=entry``, ``format="beamloop-align-run"``, ``format_version=2``
``/entry``                  NXentry: ``title``, ``start_time``, ``end_time``, ``program_name``; ``default=frames``
``/entry/instrument``       NXinstrument: ``name`` (where the microscope is), ``beam`` (NXbeam:
                            ``incident_energy`` eV, ``convergence_semi_angle`` rad),
                            ``ronchigram_camera`` (NXdetector: ``angular_pixel_size`` rad, ``mrad_per_px``),
                            ``knobs`` (NXcollection: one NXpositioner per knob with limits, units,
                            aberration), ``profile`` (NXnote, the instrument profile/config as JSON)
``/entry/frames``           NXdata ``data`` (n, nx, ny) counts over ``frame`` (loop step; 0 = reference
                            frame, after the last step = verification), ``theta_x``/``theta_y`` (mrad);
                            per frame also ``seq``, ``t_acquired`` (instrument clock), ``t_host``,
                            ``setting`` (n, n_axes, m), ``true_aberration`` (n, n_axes, m, NaN if
                            the instrument does not know; the twin does), ``state_json``, ``meta_json``
``/entry/cost``             NXdata ``cost`` and ``best_so_far`` over ``frame`` (the policy's cost)
``/entry/residual_<axis>``  NXdata per aligned axis: ``true_aberration`` (m) over ``frame``
``/entry/estimate_<axis>``  NXdata per aligned axis: ``estimate`` (m, the policy's estimated
                            residual, e.g. the network's) with ``estimate_errors`` (1-sigma)
``/entry/log``              NXcollection: ``commands`` (every command/reply, times, errors),
                            ``steps`` (setting, estimate, info_json per step), ``events``
                            (``t``, ``kind``, ``message``, ``fields_json``: pause, resume,
                            reconnect, instrument restart, calibration, trigger ...)
``/entry/process``          NXprocess (provenance): ``program``, ``version``, ``git_commit``,
                            ``git_dirty``, ``versions`` (every library), ``weights`` (sha256 per
                            file), ``configuration`` (NXnote, JSON; also one attr per key)
``/entry/result``           NXcollection attrs: status, message, frames, start/final (JSON) ...
``/entry/<name>``           :meth:`RunRecorder.extra` (verification, landscape ...)

Other engineers record into a run with :meth:`RunRecorder.event` (``recorder.event(kind,
message, **fields)``) and :meth:`RunRecorder.frames_block` (e.g. calibration frames); displays
follow a run with :meth:`RunRecorder.subscribe`. The file is flushed after every frame, step
and event, so ``kill -9`` leaves a readable record up to the last step.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.policies.base import StepReport
from beamloop.controller.run.nexus import STR, NexusFile, check_output_location, to_json  # noqa: F401
from beamloop.controller.run.provenance import file_hashes, git_state, software_versions

log = logging.getLogger(__name__)

FORMAT = "beamloop-align-run"
FORMAT_VERSION = 2
_json = to_json


def _knob_units(info: KnobInfo | None) -> str:
    return getattr(info, "unit", None) or "m"


class RunRecorder:
    """Writes one alignment run to ``path`` (NeXus/HDF5). Use as a context manager or ``close()``.

    axes: names of the aligned knobs (columns of the setting arrays); config: the run
    configuration (JSON-able); knobs: the instrument's knobs (limits, units, aberration);
    instrument: what is known of the optics and camera, keys ``name``, ``beam_energy_eV``,
    ``convergence_semiangle_rad``, ``rad_per_px`` and ``profile`` (any JSON-able description,
    e.g. the instrument profile); missing keys are simply not written. The output location is
    checked (:class:`~beamloop.controller.run.nexus.OutputLocationError`) before anything else.
    """

    def __init__(self, path: str | Path, axes: list[str], config: dict[str, Any],
                 knobs: dict[str, KnobInfo] | None = None, instrument: dict[str, Any] | None = None):
        self.path = Path(path)
        self.axes = list(axes)
        self.knobs = dict(knobs or {})
        self.instrument = dict(instrument or {})
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.nx = nx = NexusFile(self.path, format=FORMAT, format_version=FORMAT_VERSION, created=time.time(),
                                 axes=_json(self.axes))
        self.f = nx.f
        d = len(self.axes)
        self.entry = nx.group("entry", "NXentry")
        nx.field(self.entry, "title", f"beamloop alignment of {', '.join(self.axes)} ({config.get('policy', '?')})")
        nx.field(self.entry, "start_time", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        nx.field(self.entry, "program_name", "beamloop", version=software_versions(("beamloop",))["beamloop"])
        self._write_instrument()
        self._write_process(config)
        # frames: NXdata; the image dataset and its angle axes are created with the first frame
        fr = self._frames = nx.nxdata("entry/frames", "data", ["frame", "theta_x", "theta_y"],
                                      title="Ronchigrams as acquired")
        nx.column(fr, "frame", "i8", long_name="loop step of the frame (0: reference frame)")
        for name, dt, units in (("seq", "i8", None), ("t_acquired", "f8", "s"), ("t_host", "f8", "s")):
            nx.column(fr, name, dt, units=units)
        nx.column(fr, "setting", "f8", (d,), units="m", columns=_json(self.axes))
        nx.column(fr, "true_aberration", "f8", (d,), units="m", columns=_json(self.axes))
        nx.column(fr, "state_json", STR)
        nx.column(fr, "meta_json", STR)
        cost = self._cost = nx.nxdata("entry/cost", "cost", ["frame"], aux=["best_so_far"], title="cost versus frame")
        nx.column(cost, "frame", "i8")
        nx.column(cost, "cost", "f8", long_name=self._cost_label(config))
        nx.column(cost, "best_so_far", "f8", long_name="lowest cost so far")
        self._best = np.inf
        self._res, self._est = {}, {}
        for a in self.axes:
            safe = a.replace("/", "_")
            g = nx.nxdata(f"entry/residual_{safe}", "true_aberration", ["frame"],
                          title=f"{a}: true aberration of each frame")
            nx.column(g, "frame", "i8")
            nx.column(g, "true_aberration", "f8", units="m", long_name=f"{a} (m)")
            self._res[a] = g
            g = nx.nxdata(f"entry/estimate_{safe}", "estimate", ["frame"], title=f"{a}: the policy's estimate")
            nx.column(g, "frame", "i8")
            nx.column(g, "estimate", "f8", units="m", long_name=f"estimated {a} (m)")
            nx.column(g, "estimate_errors", "f8", units="m")
            self._est[a] = g
        lg = nx.group("entry/log", "NXcollection")
        self._commands = nx.group("entry/log/commands", "NXcollection")
        for name, dt in (("t_sent", "f8"), ("t_reply", "f8"), ("kind", STR), ("request_json", STR),
                         ("reply_json", STR), ("error", STR)):
            nx.column(self._commands, name, dt, chunk_rows=256)
        self._steps = nx.group("entry/log/steps", "NXcollection")
        for name, dt in (("step", "i8"), ("t", "f8"), ("cost", "f8"), ("info_json", STR)):
            nx.column(self._steps, name, dt)
        for name in ("setting", "estimate", "residual_estimate", "residual_sigma"):
            nx.column(self._steps, name, "f8", (d,), units="m", columns=_json(self.axes))
        self._events = nx.group("entry/log/events", "NXcollection")
        for name, dt in (("t", "f8"), ("kind", STR), ("message", STR), ("fields_json", STR)):
            nx.column(self._events, name, dt)
        self._blocks = lg
        nx.set_default("entry", "frames")
        self.n_frames = 0
        self.n_steps = 0
        self._last_truth: list[np.ndarray] = []
        nx.flush()

    # -- set-up ------------------------------------------------------------------------------
    @staticmethod
    def _cost_label(config: dict[str, Any]) -> str:
        return ("network's estimated residual / tolerance (rms)" if config.get("policy") == "nn"
                else "Fourier-ellipse cost (cycles/px)")

    def _write_instrument(self) -> None:
        nx, ins = self.nx, self.instrument
        g = nx.group("entry/instrument", "NXinstrument")
        nx.field(g, "name", str(ins.get("name", "unknown")))
        beam = nx.group("entry/instrument/beam", "NXbeam")
        if ins.get("beam_energy_eV") is not None:
            nx.field(beam, "incident_energy", float(ins["beam_energy_eV"]), "eV")
        if ins.get("convergence_semiangle_rad") is not None:
            nx.field(beam, "convergence_semi_angle", float(ins["convergence_semiangle_rad"]), "rad")
        cam = nx.group("entry/instrument/ronchigram_camera", "NXdetector")
        nx.field(cam, "description", "Ronchigram camera (frames in /entry/frames/data)")
        if ins.get("rad_per_px") is not None:
            nx.field(cam, "angular_pixel_size", float(ins["rad_per_px"]), "rad")
            nx.field(cam, "mrad_per_px", float(ins["rad_per_px"]) * 1e3, "mrad")
        kn = nx.group("entry/instrument/knobs", "NXcollection")
        for name, info in self.knobs.items():
            p = kn.require_group(name.replace("/", "_"))
            p.attrs["NX_class"] = "NXpositioner"
            nx.field(p, "name", name)
            for key in ("minimum", "maximum"):
                if getattr(info, key, None) is not None:
                    nx.field(p, f"soft_limit_{'min' if key == 'minimum' else 'max'}", float(getattr(info, key)),
                             _knob_units(info))
            if getattr(info, "aberration", None):
                nx.field(p, "aberration", str(info.aberration))
        kn.attrs["json"] = _json({k: getattr(v, "__dict__", v) for k, v in self.knobs.items()})
        prof = nx.group("entry/instrument/profile", "NXnote")
        nx.field(prof, "type", "application/json")
        nx.field(prof, "data", _json(ins.get("profile", {k: v for k, v in ins.items() if k != "profile"})))

    def _write_process(self, config: dict[str, Any]) -> None:
        nx = self.nx
        g = nx.group("entry/process", "NXprocess")
        versions = software_versions()
        git = git_state()
        nx.field(g, "program", "beamloop")
        nx.field(g, "version", versions.get("beamloop", "unknown"))
        nx.field(g, "git_commit", git["commit"])
        nx.field(g, "git_dirty", git["dirty"])
        nx.field(g, "date", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        v = nx.group("entry/process/versions", "NXcollection")
        v.attrs.update(versions)
        w = nx.group("entry/process/weights", "NXcollection", algorithm="sha256")
        w.attrs.update(file_hashes())
        c = nx.group("entry/process/configuration", "NXnote")
        nx.field(c, "type", "application/json")
        nx.field(c, "data", _json(config))
        c.attrs["config_json"] = _json(config)
        for key, value in config.items():
            c.attrs[key] = _json(value)

    # -- listeners (live view) ---------------------------------------------------------------
    def subscribe(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(message)`` for every frame/step/event/result (``message["type"]``)."""
        self._listeners.append(fn)

    def _tell(self, msg: dict[str, Any]) -> None:
        for fn in list(self._listeners):
            try:
                fn(msg)
            except Exception:  # noqa: BLE001 - a display must never stop a run
                log.exception("record listener failed")

    def _truth(self, frame: Frame) -> np.ndarray:
        truth = (frame.meta or {}).get("true_aberrations")
        out = np.full(len(self.axes), np.nan)
        if isinstance(truth, dict):
            for j, a in enumerate(self.axes):
                ab = getattr(self.knobs.get(a), "aberration", None) or a
                if ab in truth:
                    out[j] = float(truth[ab])
        return out

    # -- the loop's Recorder protocol --------------------------------------------------------
    def command(self, kind, request, reply, t_sent, t_reply, error) -> None:
        nx, g = self.nx, self._commands
        for name, value in (("t_sent", t_sent), ("t_reply", t_reply), ("kind", kind), ("request_json", _json(request)),
                            ("reply_json", _json(reply)), ("error", error or "")):
            nx.append(g[name], value)

    def frame(self, step: int, setting: dict[str, float], frame: Frame, t_host: float) -> None:
        """One acquired frame (``step`` 0 for a reference frame taken before the loop)."""
        nx, g = self.nx, self._frames
        img = np.asarray(frame.image)
        if "data" not in g:
            nx.column(g, "data", img.dtype, img.shape, units="counts", chunk_rows=1, compress=True,
                      long_name="Ronchigram (camera counts)")
            mrad = 1e3 * float(self.instrument["rad_per_px"]) if self.instrument.get("rad_per_px") else None
            for name, n in (("theta_x", img.shape[0]), ("theta_y", img.shape[1] if img.ndim > 1 else 1)):
                if mrad:
                    nx.field(g, name, (np.arange(n) - n / 2 + 0.5) * mrad, "mrad", long_name=f"{name} (mrad)")
                else:
                    nx.field(g, name, np.arange(n, dtype=float), "px", long_name=f"{name} (camera pixel)")
        ds = g["data"]
        if ds.shape[1:] != img.shape:
            raise ValueError(f"frame: image shape {img.shape} differs from earlier frames {ds.shape[1:]}")
        truth = self._truth(frame)
        nx.append(ds, img)
        for name, value in (("frame", step), ("seq", int(frame.seq)), ("t_acquired", float(frame.t_acquired)),
                            ("t_host", t_host), ("state_json", _json(frame.state)), ("meta_json", _json(frame.meta)),
                            ("setting", [setting.get(a, np.nan) for a in self.axes]), ("true_aberration", truth)):
            nx.append(g[name], value)
        for j, a in enumerate(self.axes):
            nx.append(self._res[a]["frame"], step)
            nx.append(self._res[a]["true_aberration"], truth[j])
        self._last_truth = (self._last_truth + [truth])[-2:]
        self.n_frames += 1
        nx.flush()
        self._tell({"type": "frame", "step": step, "image": img, "setting": dict(setting), "t": t_host,
                    "truth": {a: float(v) for a, v in zip(self.axes, truth) if np.isfinite(v)}})

    def step(self, step: int, setting: dict[str, float], report: StepReport, t: float) -> None:
        nx, g = self.nx, self._steps
        est = report.estimate or {}
        info = report.info or {}
        cost = np.nan if report.cost is None else float(report.cost)
        ab = {a: (getattr(self.knobs.get(a), "aberration", None) or a) for a in self.axes}
        r_est = [float(info.get("residual_m", {}).get(ab[a], np.nan)) for a in self.axes]
        r_sig = [float(info.get("sigma_m", {}).get(ab[a], np.nan)) for a in self.axes]
        for name, value in (("step", step), ("t", t), ("cost", cost), ("info_json", _json(info)),
                            ("setting", [setting.get(a, np.nan) for a in self.axes]),
                            ("estimate", [est.get(a, np.nan) for a in self.axes]),
                            ("residual_estimate", r_est), ("residual_sigma", r_sig)):
            nx.append(g[name], value)
        if np.isfinite(cost):
            self._best = min(self._best, cost)
        nx.append(self._cost["frame"], step)
        nx.append(self._cost["cost"], cost)
        nx.append(self._cost["best_so_far"], self._best if np.isfinite(self._best) else np.nan)
        for j, a in enumerate(self.axes):
            nx.append(self._est[a]["frame"], step)
            nx.append(self._est[a]["estimate"], r_est[j])
            nx.append(self._est[a]["estimate_errors"], r_sig[j])
        self.n_steps += 1
        nx.flush()
        self._tell({"type": "step", "step": step, "cost": None if not np.isfinite(cost) else cost,
                    "best": None if not np.isfinite(self._best) else float(self._best),
                    "setting": {a: float(setting.get(a, np.nan)) for a in self.axes},
                    "estimate": {a: v for a, v in zip(self.axes, r_est) if np.isfinite(v)},
                    "sigma": {a: v for a, v in zip(self.axes, r_sig) if np.isfinite(v)},
                    "phase": info.get("phase"), "t": t})

    def event(self, kind: str, message: str = "", t: float | None = None, **fields: Any) -> None:
        """Record an event: ``kind`` (``paused``, ``resumed``, ``reconnected``, ``instrument_restart``,
        ``calibration``, ``trigger`` ...), a human ``message``, the wall time ``t`` (default now) and
        any JSON-able ``fields``. Flushed at once."""
        t = time.time() if t is None else float(t)
        nx, g = self.nx, self._events
        for name, value in (("t", t), ("kind", str(kind)), ("message", str(message)), ("fields_json", _json(fields))):
            nx.append(g[name], value)
        nx.flush()
        self._tell({"type": "event", "kind": kind, "message": message, "t": t, "fields": fields})

    def frames_block(self, name: str, images: np.ndarray, settings: np.ndarray | None = None,
                     description: str = "", **attrs: Any) -> None:
        """Store a block of frames taken outside the loop (e.g. the knob calibration's) as the
        NXdata ``/entry/<name>`` (``data`` (n, nx, ny) counts, ``setting`` (n, n_axes) m)."""
        nx = self.nx
        g = nx.nxdata(f"entry/{name}", "data", ["frame", ".", "."], title=description or name)
        imgs = np.asarray(images)
        nx.field(g, "data", imgs, "counts")
        nx.field(g, "frame", np.arange(len(imgs)))
        if settings is not None:
            nx.field(g, "setting", np.asarray(settings, float), "m")
        for k, v in attrs.items():
            g.attrs[k] = v if isinstance(v, (int, float, str)) else _json(v)
        nx.flush()

    def result(self, result) -> None:
        g = self.nx.group("entry/result", "NXcollection")
        g.attrs.update({"status": str(result.status), "message": result.message, "frames": result.frames,
                        "elapsed_s": result.elapsed_s, "restored": result.restored,
                        "start_json": _json(result.start), "final_json": _json(result.final),
                        "stop_reason": result.stop_reason or ""})
        self.nx.field(self.entry, "end_time", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.nx.flush()
        self._tell({"type": "result", "status": str(result.status), "message": result.message, "final": result.final})

    def extra(self, name: str, values: dict[str, Any]) -> None:
        """Store anything else (residual aberrations, the GP landscape ...) under ``/entry/name``."""
        g = self.nx.group(f"entry/{name}", "NXcollection")
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                self.nx.field(g, key, value)
            else:
                g.attrs[key] = _json(value)
        self.nx.flush()

    def close(self) -> None:
        self.nx.close()

    def __enter__(self) -> "RunRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _table(g: h5py.Group) -> dict[str, Any]:
    return {k: (v.asstr()[()] if h5py.check_string_dtype(v.dtype) else v[()])
            for k, v in g.items() if isinstance(v, h5py.Dataset)}


def read_run(path: str | Path) -> dict[str, Any]:
    """Load a run record into plain Python/numpy (for reports and tests).

    Keys: ``axes``, ``config``, ``versions``, ``knobs``, ``instrument``, ``provenance``,
    ``frames`` (``images``, ``frame``/``step``, ``setting``, ``true_aberration``, ``meta_json`` ...),
    ``steps``, ``commands``, ``events``, ``result`` and one per :meth:`RunRecorder.extra` group.
    An explore record (``format="beamloop-explore"``) comes back as
    :func:`~beamloop.controller.run.explore_record.read_explore` returns it.
    """
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
    if fmt == "beamloop-explore":      # the explore (4D-STEM) record: its own layout, same NeXus conventions
        from beamloop.controller.run.explore_record import read_explore

        return read_explore(path)
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"path: {path} is not a beamloop alignment run record")
        e = f["entry"]
        proc = e["process"]
        frames = _table(e["frames"])
        if "data" in frames:
            frames["images"] = frames.pop("data")
        frames["step"] = frames.get("frame")
        ins = e["instrument"]
        instrument = {"name": ins["name"].asstr()[()]}
        for key, path_ in (("beam_energy_eV", "beam/incident_energy"), ("convergence_semiangle_rad", "beam/convergence_semi_angle"),
                           ("rad_per_px", "ronchigram_camera/angular_pixel_size")):
            if path_ in ins:
                instrument[key] = float(ins[path_][()])
        out: dict[str, Any] = {
            "axes": json.loads(f.attrs["axes"]),
            "config": json.loads(proc["configuration"].attrs["config_json"]),
            "versions": dict(proc["versions"].attrs),
            "provenance": {"git_commit": proc["git_commit"].asstr()[()], "git_dirty": proc["git_dirty"].asstr()[()],
                           "weights": dict(proc["weights"].attrs)},
            "knobs": json.loads(ins["knobs"].attrs["json"]),
            "instrument": instrument,
            "frames": frames,
            "steps": _table(e["log/steps"]),
            "commands": _table(e["log/commands"]),
            "events": _table(e["log/events"]),
            "result": dict(e["result"].attrs) if "result" in e else {},
        }
        for name, g in e.items():
            if isinstance(g, h5py.Group) and g.attrs.get("NX_class") == "NXcollection" and name not in ("log", "result"):
                out[name] = {**{k: v[()] for k, v in g.items() if isinstance(v, h5py.Dataset)}, **dict(g.attrs)}
            elif isinstance(g, h5py.Group) and name.startswith("calibration"):
                out[name] = {k: v[()] for k, v in g.items() if isinstance(v, h5py.Dataset)}
        return out


def write_report(path: str | Path, run: dict[str, Any], landscape: Any = None) -> Path:
    """The PNG report of a run (see :mod:`beamloop.controller.run.report`)."""
    from beamloop.controller.run.report import write_report as _write

    return _write(path, run, landscape)
