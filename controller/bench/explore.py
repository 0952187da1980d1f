"""``beamloop bench explore``: measurements needed to find the target on seeded twin samples.

Sample ``s`` (seed ``s``): :func:`beamloop.sim.scanning_sample.random_film` on a 64 x 64 grid
of 1 nm steps (precipitates at random places, random charges; the target's location is
random per sample). Scalar: |CoM| (the default; ``scalarizer="ratio"`` uses the
superlattice / central disk ratio). **Target**: the grid positions whose *noiseless* scalar
is at least ``frac`` (0.9) of the largest noiseless value on the grid - the strongest field
in the field of view. **Criterion**: the number of measurements up to and including the
first one inside the target (what an operator needs to have measured the hot spot).

Methods on the same sample, the same survey (same noise) and, for the surrogates, the same
``n_init`` random start points:
* ``dkl`` with EI, UCB and Thompson sampling; ``gp``: plain GP on coordinates with EI;
  run through :func:`run_explore` against the in-process scan twin, stopped at the first hit
  or after ``budget`` measurements (a miss counts as ``budget + 1`` and is reported in
  ``censored``).
* ``grid``: a full raster scan needs every position (``measurements_grid`` = nx * ny) to know
  where the maximum is; the raster position of the first hit is reported too.
* ``random`` (median over ``random_draws`` seeded orders per sample) and ``survey`` (brightest
  survey pixel first: does the survey alone reveal the target?): their order does not depend
  on the measured values, so the first hit is read off the order.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np

from beamloop.controller.estimation.scalarizers import com_magnitude, ratio
from beamloop.controller.instruments.scan_twin import ScanTwinBackend
from beamloop.controller.policies.explore import ExploreConfig
from beamloop.controller.run.explore_job import ExploreJobConfig, run_explore
from beamloop.sim.scanning_sample import random_film
from beamloop.sim.scanning_twin import ScanConfig, ScanningTwin, default_detectors

__all__ = ["run_benchmark", "truth_map", "make_twin"]

DKL_ACQ = ("ei", "ucb", "thompson")


def make_twin(seed: int, scan: ScanConfig | None = None) -> ScanningTwin:
    """Sample ``seed``: a random film on ``scan``'s field, 9 precipitates per (64 nm)^2 (at
    least 2), the twin's noise seeded with ``seed`` too."""
    scan = scan or ScanConfig()
    fx, fy = scan.field_m
    n = max(2, int(round(9 * fx * fy / (63e-9 * 63e-9))))
    film = random_film(seed, field_m=scan.field_m, n_precipitates=n)
    return ScanningTwin(film, scan, seed=seed)


def truth_map(twin: ScanningTwin, scalarizer: str = "com") -> np.ndarray:
    """The noiseless scalar over the grid (nx, ny)."""
    if scalarizer == "com":
        return np.linalg.norm(twin.truth(detectors={})["com_rad"], axis=-1)
    if scalarizer == "ratio":
        d = default_detectors(twin.cfg.alpha_rad)
        s = twin.truth({"superlattice": d["superlattice"], "central": d["central"]})["sums"]
        return s["superlattice"].sum(-1) / s["central"].sum(-1)
    raise ValueError(f"scalarizer: the benchmark knows 'com' and 'ratio', got {scalarizer!r}")


def _first_hit(order: np.ndarray, target: np.ndarray) -> int:
    hits = np.flatnonzero(target[np.asarray(order)])
    return int(hits[0]) + 1 if len(hits) else len(order) + 1


def _run_surrogate(twin: ScanningTwin, seed: int, strategy: str, acq: str, budget: int, target: np.ndarray,
                   scalarize, n_init: int) -> tuple[int, float]:
    twin.rng = np.random.default_rng(seed)          # the same survey noise for every method
    backend = ScanTwinBackend(twin)
    det = [] if scalarize is com_magnitude else ["superlattice", "central"]
    cfg = ExploreJobConfig(budget=budget, detectors=det,
                           policy=ExploreConfig(strategy=strategy, acquisition=acq, seed=seed, n_init=n_init))
    t0 = time.perf_counter()
    res = asyncio.run(run_explore(backend, scalarize, cfg, stop=lambda i, v: bool(target[i]), final_prediction=False))
    n = len(res.indices) if res.stopped_early else budget + 1
    return n, time.perf_counter() - t0


def _load_cache(path, key: dict) -> dict[int, dict]:
    """Finished samples of an earlier (interrupted) run with the same settings, by seed."""
    out: dict[int, dict] = {}
    try:
        with open(path) as fh:
            for line in fh:
                row = json.loads(line)
                if row.get("key") == key:
                    out.setdefault(int(row["sample"]), {"target_px": row["target_px"], "per": {}, "secs": {}})
                    out[int(row["sample"])]["per"].update(row["per"])
                    out[int(row["sample"])]["secs"].update(row["secs"])
    except FileNotFoundError:
        pass
    return out


def run_benchmark(samples: int = 6, budget: int = 200, frac: float = 0.9, scalarizer: str = "com",
                  n_init: int = 8, random_draws: int = 20, methods: tuple[str, ...] = ("ei", "ucb", "thompson", "gp"),
                  scan: ScanConfig | None = None, log=None, cache: str | None = None) -> dict:
    """Run the benchmark; returns the JSON-able result (see module doc). ``cache``: a JSON-lines
    file; each finished sample is appended and samples already there (same settings) are not
    run again, so a benchmark longer than one heavy-lock slot runs in several invocations."""
    import torch

    torch.set_num_threads(1)
    scan = scan or ScanConfig()
    scal = com_magnitude if scalarizer == "com" else ratio("superlattice", "central")
    n_pos = scan.nx * scan.ny
    per: dict[str, list[int]] = {k: [] for k in ("grid_first_hit", "random", "survey", "gp", *DKL_ACQ)}
    secs: dict[str, float] = {k: 0.0 for k in ("gp", *DKL_ACQ)}
    timed: dict[str, int] = {k: 0 for k in ("gp", *DKL_ACQ)}
    target_px = []
    t_start = time.perf_counter()
    key = {"grid": [scan.nx, scan.ny], "step_m": scan.step_m, "budget": budget, "frac": frac, "scalarizer": scalarizer,
           "n_init": n_init, "random_draws": random_draws}
    done = _load_cache(cache, key) if cache else {}
    for s in range(samples):
        if s in done and all(m in done[s]["per"] for m in methods):
            row = done[s]
            target_px.append(row["target_px"])
            for k in ("grid_first_hit", "random", "survey", *methods):
                per[k].append(row["per"][k])
            for m in methods:
                if row["secs"].get(m) is not None:      # None: timing not kept (row rebuilt from a log)
                    secs[m] += row["secs"][m]
                    timed[m] += 1
            if log:
                log(f"sample {s}: from {cache}")
            continue
        twin = make_twin(s, scan)
        truth = truth_map(twin, scalarizer).ravel()
        target = truth >= frac * truth.max()
        target_px.append(int(target.sum()))
        per["grid_first_hit"].append(_first_hit(np.arange(n_pos), target))
        rng = np.random.default_rng(1000 + s)
        per["random"].append(float(np.median([_first_hit(rng.permutation(n_pos), target) for _ in range(random_draws)])))
        twin.rng = np.random.default_rng(s)
        survey = twin.survey("HAADF").ravel()
        per["survey"].append(_first_hit(np.argsort(-survey, kind="stable"), target))
        secs_s = {}
        for m in methods:
            strategy, acq = ("gp", "ei") if m == "gp" else ("dkl", m)
            n, dt = _run_surrogate(twin, s, strategy, acq, budget, target, scal, n_init)
            per[m].append(n)
            secs[m] += dt
            secs_s[m] = dt
            timed[m] += 1
        if cache:
            row = {"key": key, "sample": s, "target_px": target_px[-1], "secs": {m: secs_s[m] for m in methods},
                   "per": {k: per[k][-1] for k in ("grid_first_hit", "random", "survey", *methods)}}
            with open(cache, "a") as fh:
                fh.write(json.dumps(row) + "\n")
        if log:
            log(f"sample {s}: target {target_px[-1]} px; " + ", ".join(f"{k} {v[-1]}" for k, v in per.items() if v))
    med = {k: (float(np.median(v)) if v else None) for k, v in per.items()}
    dkl = {a: med[a] for a in DKL_ACQ if a in methods}
    best_dkl = min(v for v in dkl.values()) if dkl else None
    return {
        "samples": samples,
        "grid_shape": [scan.nx, scan.ny],
        "step_m": scan.step_m,
        "scalarizer": scalarizer,
        "criterion": f"measurements up to and including the first one whose noiseless {scalarizer} is >= "
                     f"{frac} x the grid maximum (target), budget {budget} (a miss counts {budget + 1})",
        "target_fraction_median": float(np.median(target_px)) / n_pos,
        "measurements_dkl_median": dkl,
        "measurements_grid": n_pos,
        "measurements_grid_first_hit_median": med["grid_first_hit"],
        "measurements_random_median": med["random"],
        "measurements_gp_median": med.get("gp"),
        "measurements_survey_rank_median": med["survey"],
        "dkl_best_over_grid": (best_dkl / n_pos) if best_dkl else None,
        "floor_dkl_le_grid_over_5": bool(best_dkl is not None and all(v <= n_pos / 5 for v in dkl.values())),
        "censored": {m: int(sum(1 for v in per[m] if v > budget)) for m in methods},
        "per_sample": per,
        "target_px": target_px,
        "seconds_per_run_mean": {m: (secs[m] / timed[m] if timed[m] else None) for m in methods},
        "seconds_per_run_samples": dict(timed),
        "n_init": n_init,
        "budget": budget,
        "elapsed_s": time.perf_counter() - t_start,
        "samples_from_cache": sorted(s for s in done if s < samples),
    }
