"""The main job, given a backend: align, verify, record, report.

:func:`run_job` wraps :func:`~beamloop.controller.run.loop.run_alignment` with everything a
run leaves behind: the HDF5 record (every frame, command/reply, estimate, event, the
configuration and software versions), one verification frame at the final setting (its true
aberrations are the residuals "where known", i.e. on the twin), the final GP landscape for
2-axis runs and the PNG report. The display lives in ``tools/align_cmd.py``.

Units: SI (metres) throughout; residuals in metres.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from beamloop.controller.run.loop import AlignmentResult, LoopEvent, run_alignment
from beamloop.controller.core.backend import MicroscopeBackend
from beamloop.controller.estimation.cost import fourier_ellipse
from beamloop.controller.policies.registry import make_policy
from beamloop.controller.run.nexus import check_output_location
from beamloop.controller.run.record import RunRecorder, read_run, write_report


@dataclass
class JobConfig:
    """What the main job does. axes: knob names; policy / policy_options: registry name and
    options; max_frames: hard frame cap of the loop; out_dir: where the record goes;
    start_offsets: knob values (m) to set before aligning (the embedded twin's random
    misalignment; empty for a real column); source: where the microscope is (for the record);
    keep_if_better: take a reference frame at the start and, if the verification frame's cost
    is not lower than the reference's, put the start values back (never leave the column worse
    than it was found, by the instrument's own measure); instrument: optics and camera for the
    record's calibrations (``name``, ``beam_energy_eV``, ``convergence_semiangle_rad``,
    ``rad_per_px``, ``profile``; see :class:`~beamloop.controller.run.record.RunRecorder`);
    listeners: called with every record message (``RunRecorder.subscribe``), e.g. the live view;
    events: things that happened before the record existed (``{"kind", "message", "t", **fields}``,
    e.g. the knob calibration and its frame count), written first; frame_blocks: frames taken before
    the record existed (``{"name", "images", "settings", "knobs", "description"}``, e.g. the
    calibration's, :class:`~beamloop.controller.run.frame_tap.FrameTap`), written as NXdata."""

    axes: list[str]
    policy: str = "nn"  # the CLI's default (registry DEFAULT_POLICY)
    policy_options: dict[str, Any] = field(default_factory=dict)
    max_frames: int = 200
    out_dir: Path = Path("runs")
    start_offsets: dict[str, float] = field(default_factory=dict)
    source: str = "embedded twin"
    seed: int = 0
    keep_if_better: bool = True
    instrument: dict[str, Any] = field(default_factory=dict)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    frame_blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class JobOutcome:
    """result: the loop's result; record/report: file paths; residual: true aberrations (m) of
    the verification frame, if the instrument reports them; final_cost: its Fourier-ellipse
    cost; verification_frames: frames taken outside the loop (reference + verification);
    start_cost: the reference frame's cost; reverted: the start values were put back because
    the final cost was not lower than the start cost."""

    result: AlignmentResult
    record: Path
    report: Path | None
    residual: dict[str, float] | None = None
    final_cost: float | None = None
    verification_frames: int = 0
    start_cost: float | None = None
    reverted: bool = False


def run_paths(out_dir: str | Path) -> tuple[Path, Path]:
    """New ``(record, report)`` paths ``align-<time>[-n].h5/.png`` in ``out_dir``, after checking
    that the directory can take them (:class:`~beamloop.controller.run.nexus.OutputLocationError`)."""
    out_dir = Path(out_dir)
    check_output_location(out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        base = out_dir / (f"align-{stamp}" + (f"-{n}" if n else ""))
        if not base.with_suffix(".h5").exists():
            return base.with_suffix(".h5"), base.with_suffix(".png")
    raise FileExistsError(f"out_dir: {out_dir} has 1000 records of {stamp}")


def twin_instrument(microscope_config=None, name: str = "digital twin") -> dict[str, Any]:
    """The record's ``instrument`` description of a twin (:class:`beamloop.sim.microscope.MicroscopeConfig`):
    beam energy, convergence semi-angle, camera mrad per pixel and the whole config as profile."""
    from dataclasses import asdict as _asdict

    from beamloop.sim.microscope import MicroscopeConfig
    from beamloop.sim.ronchigram import RonchigramConfig

    mc = microscope_config or MicroscopeConfig()
    rc = RonchigramConfig(**{k: v for k, v in mc.ronchigram.items() if k in RonchigramConfig.__dataclass_fields__})
    try:
        profile = _asdict(mc)
    except TypeError:
        profile = {"ronchigram": dict(mc.ronchigram)}
    return {"name": name, "beam_energy_eV": rc.energy_eV, "convergence_semiangle_rad": rc.convergence_semiangle_rad,
            "rad_per_px": rc.camera_rad_per_px, "profile": profile}


def random_start(rng: np.random.Generator, axes: list[str], windows: dict[str, float]) -> dict[str, float]:
    """Knob values uniformly within +-windows (m) for ``axes``: a misaligned starting point."""
    return {a: float(rng.uniform(-windows[a], windows[a])) for a in axes}


async def run_job(
    backend: MicroscopeBackend,
    cfg: JobConfig,
    on_event: Callable[[LoopEvent], None] | None = None,
    abort: asyncio.Event | None = None,
) -> JobOutcome:
    """Run the main job on a connected ``backend``. Cancellation (Ctrl-C) restores the start,
    still closes the record, writes the report, and re-raises."""
    record_path, report_path = run_paths(cfg.out_dir)
    knobs = await backend.knobs()
    policy = make_policy(cfg.policy, seed=cfg.seed, **cfg.policy_options)
    config = {
        "axes": cfg.axes, "policy": cfg.policy, "policy_options": cfg.policy_options, "max_frames": cfg.max_frames,
        "source": cfg.source, "seed": cfg.seed, "start_offsets": cfg.start_offsets,
        "stop_cost": cfg.policy_options.get("stop_cost"),
    }
    if hasattr(policy, "config"):
        try:
            config["policy_config"] = asdict(policy.config)
        except TypeError:
            pass
    instrument = cfg.instrument or (twin_instrument(backend.microscope.config)
                                    if hasattr(getattr(backend, "microscope", None), "config") else {})
    rec = RunRecorder(record_path, cfg.axes, config, knobs, instrument=instrument)
    for fn in cfg.listeners:  # displays (live view, notebook) follow the record
        rec.subscribe(fn)
    for ev in cfg.events:
        ev = dict(ev)
        rec.event(ev.pop("kind"), ev.pop("message", ""), ev.pop("t", None), **ev)
    for blk in cfg.frame_blocks:
        rec.frames_block(blk["name"], blk["images"], blk.get("settings"), blk.get("description", ""),
                         knobs=list(blk.get("knobs", [])))
    outcome: JobOutcome | None = None
    try:
        if cfg.start_offsets:  # the embedded twin's misaligned start: recorded like any command
            t0 = time.time()
            reply = await backend.set(dict(cfg.start_offsets))
            rec.command("set", dict(cfg.start_offsets), reply, t0, time.time(), None)
            rec.event("misaligned_start", f"knobs set to a random start {cfg.start_offsets}", time.time())
        start_cost = None
        if cfg.keep_if_better:  # reference frame at the start, outside the loop's frame count
            ref = await backend.acquire()
            rec.frame(0, await backend.get(list(cfg.axes)), ref, time.time())
            start_cost = fourier_ellipse(ref.image).cost
        result = await run_alignment(backend, policy, cfg.axes, recorder=rec, on_event=on_event, abort=abort,
                                     max_frames=cfg.max_frames)
        outcome = JobOutcome(result, record_path, None, start_cost=start_cost,
                             verification_frames=int(start_cost is not None))
        if result.status in ("converged", "finished"):
            await _verify(backend, rec, outcome, result.final)
            if start_cost is not None and outcome.final_cost is not None and outcome.final_cost >= start_cost:
                t0 = time.time()
                reply = await backend.set(dict(result.start))
                rec.command("set", dict(result.start), reply, t0, time.time(), None)
                rec.event("reverted", f"final cost {outcome.final_cost:.4g} not below the start cost "
                          f"{start_cost:.4g}: start values put back", time.time())
                outcome.reverted = True
                await _verify(backend, rec, outcome, result.start)
        # GP landscape, slices and the report take seconds on a loaded machine: off the event loop, so
        # the heartbeats go on and the instrument's dead-man (lease expiry) does not undo the final setting
        land = await asyncio.to_thread(policy.landscape) if hasattr(policy, "landscape") else None
        if land is not None:
            rec.extra("landscape", land)
        for i, sl in enumerate(await asyncio.to_thread(_slices_of, policy)):
            rec.extra(f"gp_slice_{i}", sl)
    finally:
        rec.close()
        try:
            report = await asyncio.to_thread(lambda: write_report(report_path, read_run(record_path), _landscape_of(policy)))
        except Exception:  # noqa: BLE001 - a failed plot must not hide the run's own outcome
            report = None
        if outcome is not None:
            outcome.report = report
    return outcome


async def _verify(backend: MicroscopeBackend, rec: RunRecorder, outcome: JobOutcome, setting: dict[str, float]) -> None:
    """One frame at ``setting`` after the loop: its cost and (on the twin) true aberrations."""
    frame = await backend.acquire()
    rec.frame(outcome.result.frames + 1 + outcome.verification_frames, setting, frame, time.time())
    truth = frame.meta.get("true_aberrations")
    outcome.verification_frames += 1
    outcome.final_cost = fourier_ellipse(frame.image).cost
    outcome.residual = {a: float(truth[a]) for a in sorted(truth)} if isinstance(truth, dict) else None
    rec.extra("verification", {"cost": outcome.final_cost, "true_aberrations": outcome.residual or {},
                               "reverted": outcome.reverted, "start_cost": outcome.start_cost,
                               "note": "frames outside the loop (reference at the start, verification at the end)"})


def _slices_of(policy) -> list[dict[str, Any]]:
    """GP landscape slices of a BO policy (or of the nn policy's BO fallback), [] otherwise."""
    bo = getattr(policy, "_bo", None) or policy
    try:
        return bo.landscape_slices() if hasattr(bo, "landscape_slices") else []
    except Exception:  # noqa: BLE001 - a picture must not fail the run
        return []


def _landscape_of(policy) -> dict[str, np.ndarray] | None:
    try:
        return policy.landscape() if hasattr(policy, "landscape") else None
    except Exception:  # noqa: BLE001
        return None
