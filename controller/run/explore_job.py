"""An autonomous 4D-STEM experiment: survey, then measure where the explore policy says.

The job talks to the instrument only through the scan interface of
:class:`~beamloop.controller.core.backend.MicroscopeBackend` (``scan_info``, ``survey``,
``move_probe``, ``measure_point``), so the twin in-process, a served instrument or a real
adapter run the same experiment. Loop: survey (one image with ``survey_detector``) ->
policy.reset -> up to ``budget`` times: propose a grid position, move the probe, measure,
scalarize, observe, record. ``stop(index, value)`` may end the run early (benchmarks stop at
the first measurement inside the target). The policy's fits run in a worker thread, so the
event loop keeps serving the link (heartbeats keep a served instrument's lease alive during a
long fit).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from beamloop.controller.core.backend import MicroscopeBackend
from beamloop.controller.estimation.scalarizers import Scalarizer
from beamloop.controller.policies.explore import ExploreConfig, ExplorePolicy

__all__ = ["ExploreJobConfig", "ExploreResult", "run_explore"]


@dataclass
class ExploreJobConfig:
    """budget: measurements at most; survey_detector: detector of the survey image;
    detectors: detectors read at each point (None: all); keep_frames: store the 4D camera
    frames in the record; policy: the explore policy's settings; scalarizer_name: label."""

    budget: int = 100
    survey_detector: str = "HAADF"
    detectors: list[str] | None = None
    keep_frames: bool = False
    scalarizer_name: str = "com"
    policy: ExploreConfig = field(default_factory=ExploreConfig)

    def __post_init__(self):
        if not (isinstance(self.budget, int) and self.budget >= 1):
            raise ValueError(f"budget must be a positive number of measurements, got {self.budget!r}")


@dataclass
class ExploreResult:
    """indices/values: measured flat grid indices and scalars in order; best_*: the largest
    scalar measured; prediction: (mean, std) maps at the end (None without a surrogate);
    stopped_early: ``stop`` ended the run; record/picture: written files (or None)."""

    indices: list[int]
    values: list[float]
    positions_m: list[tuple[float, float]]
    survey: np.ndarray
    step_m: float
    best_index: int
    best_value: float
    prediction: tuple[np.ndarray, np.ndarray] | None
    stopped_early: bool
    elapsed_s: float
    record: Path | None = None
    picture: Path | None = None


async def run_explore(backend: MicroscopeBackend, scalarize: Scalarizer, cfg: ExploreJobConfig | None = None,
                      out_dir: str | Path | None = None, name: str = "explore",
                      stop: Callable[[int, float], bool] | None = None,
                      truth: np.ndarray | None = None, final_prediction: bool = True) -> ExploreResult:
    """Run one experiment; with ``out_dir`` write ``<name>.nxs`` and ``<name>.png`` there.
    ``truth`` (nx, ny): the true scalar map if known (a twin), only drawn in the picture."""
    cfg = cfg or ExploreJobConfig()
    t0 = time.perf_counter()
    info = await backend.scan_info()
    nx, ny = info.shape
    policy = ExplorePolicy(cfg.policy)
    survey = np.asarray(await backend.survey(cfg.survey_detector), dtype=np.float64)
    if survey.shape != (nx, ny):
        raise ValueError(f"survey has shape {survey.shape}, the scan field is {nx} x {ny}")
    policy.reset(survey)
    rec = None
    if out_dir is not None:
        from beamloop.controller.run.explore_record import ExploreRecord

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        conf: dict[str, Any] = asdict(cfg)
        conf["scan"] = {"shape": [nx, ny], "step_m": info.step_m, "detectors": info.detectors}
        rec = ExploreRecord(out / f"{name}.nxs", conf, keep_frames=cfg.keep_frames, frame_shape=info.camera_shape)
        rec.survey(survey, info.step_m, cfg.survey_detector)
    positions: list[tuple[float, float]] = []
    stopped = False
    try:
        for step in range(cfg.budget):
            idx = await asyncio.to_thread(policy.propose)   # the surrogate's fit: off the event loop
            if idx is None:
                break
            ix, iy = divmod(idx, ny)
            pos = await backend.move_probe(ix * info.step_m, iy * info.step_m)
            m = await backend.measure_point(cfg.detectors, camera=cfg.keep_frames)
            value = float(scalarize(m))
            step_info = policy.observe(idx, value)
            positions.append(tuple(pos))
            if rec is not None:
                rec.measurement(step, idx, pos, value, m.com_rad, m.t_acquired, step_info, m.frame)
            if stop is not None and stop(idx, value):
                stopped = True
                break
        prediction = await asyncio.to_thread(policy.predict) if final_prediction else None
        best_i, best_v = policy.best()
        result = ExploreResult(indices=list(policy.measured), values=list(policy.values), positions_m=positions,
                               survey=survey, step_m=info.step_m, best_index=best_i, best_value=best_v,
                               prediction=prediction, stopped_early=stopped, elapsed_s=time.perf_counter() - t0)
        if rec is not None:
            if prediction is not None:
                rec.prediction(prediction[0], prediction[1], info.step_m)
            bx, by = divmod(best_i, ny)
            rec.result(status="stopped" if stopped else "budget", n_measurements=len(result.indices),
                       best_index=best_i, best_value=best_v, best_position_m=[bx * info.step_m, by * info.step_m],
                       elapsed_s=result.elapsed_s)
            result.record = rec.path
            from beamloop.controller.run.explore_record import plot_run

            p = cfg.policy
            label = f"{p.strategy}" + (f"/{p.acquisition}" if p.strategy in ("dkl", "gp") else "")
            result.picture = plot_run(out / f"{name}.png", survey, info.step_m, result.indices, result.values,
                                      prediction, f"explore {label}: {len(result.indices)} measurements, "
                                      f"scalarizer {cfg.scalarizer_name}", cfg.scalarizer_name, truth=truth)
    finally:
        if rec is not None:
            rec.close()
    return result
