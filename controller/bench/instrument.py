"""``beamloop bench align --instrument PROFILE``: alignment trials on a simulator that is not the twin.

The instrument comes from its profile (:func:`~beamloop.controller.instruments.open.open_instrument`):
nionswift-usim through the Nion adapter, the PyJEM stand-in, the board composite, or the twin
with another camera. Each trial: every aligned knob to 0, hidden offsets drawn uniformly in
``+-window`` (the simulator's oracle: usim's ``C10Control = C10 + offset`` ...), the same
:func:`~beamloop.controller.run.loop.run_alignment` loop as the main job, scored on the
oracle's true residual with the twin bench's :class:`~beamloop.controller.bench.align.SuccessCriterion`.

``bridge=True`` runs the very same trials through beamloop's ZeroMQ protocol: the instrument
is served by :class:`~beamloop.controller.serve.instrument_server.InstrumentServer` on
``tcp://127.0.0.1`` (free ports; the bridge ``beamloop serve --instrument`` runs) and the loop
drives a :class:`~beamloop.controller.instruments.zmq_client.ZmqTwinBackend`; only the oracle
reads the simulator directly.

Policies see the instrument as it is: ``nn`` gets a
:class:`~beamloop.controller.estimation.canonical_grid.CanonicalEstimator` for the profile's camera,
``bo`` the profile's camera gain; per-instrument policy options come from the profile's
``alignment.bo`` / ``alignment.nn`` maps. Units: metres (nm in the JSON where keys say so).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from beamloop.controller.bench.align import DEFAULT_MISALIGN, SEARCH_MARGIN, SuccessCriterion
from beamloop.controller.run.instrument_options import policy_options_for


@dataclass
class InstrumentBenchConfig:
    """instrument: profile path or shipped name; the rest as :class:`~.align.BenchConfig`.
    stop_cost None: the profile's ``alignment.stop_cost`` or, if absent, calibrated on the
    instrument with its oracle before the trials (frames not counted)."""

    instrument: str = "usim"
    policy: str = "bo"
    axes: list[str] = field(default_factory=lambda: ["C10", "C12.x", "C12.y"])
    trials: int = 50
    seed: int = 0
    misalign: dict[str, float] = field(default_factory=dict)
    max_frames: int | None = None
    stop_cost: float | None = None
    noise: bool | None = None
    bridge: bool = False
    calibrate_response: bool = True
    estimator: str = "integer"  # nn: "integer" (the FPGA's fixed-point arithmetic) or "torch"


async def _calibrate_stop(backend, oracle, axes, rng, gain, radius=12e-9, n=8) -> float:
    """Median Fourier-ellipse cost at a ``radius`` (m) residual (coma 10x) in random directions."""
    from beamloop.controller.estimation.cost import fourier_ellipse

    await backend.set({a: 0.0 for a in axes})
    costs = []
    for _ in range(n):
        v = rng.standard_normal(len(axes))
        v /= np.linalg.norm(v)
        oracle.misalign({a: (10.0 if a.startswith("C21") else 1.0) * radius * x for a, x in zip(axes, v)})
        costs.append(fourier_ellipse((await backend.acquire()).image, gain).cost)
    return float(np.median(costs))


async def _bench(cfg: InstrumentBenchConfig, opened, backend, progress) -> dict[str, Any]:
    from beamloop.controller.estimation.knob_calibration import SHORT_APPROACH, measure_response, short_response
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.loop import run_alignment

    profile, oracle = opened.profile, opened.oracle
    rng = np.random.default_rng(cfg.seed)
    windows = {a: cfg.misalign.get(a, DEFAULT_MISALIGN[a]) for a in cfg.axes}
    crit = SuccessCriterion(cfg.axes)
    options = policy_options_for(profile, cfg.policy, cfg.axes, cfg.max_frames, cfg.stop_cost, cfg.estimator)
    await backend.connect()
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        knobs = await backend.knobs()
        zero = {k: 0.0 for k in knobs}
        if (cfg.policy in ("bo", "nn") and "stop_cost" not in profile.alignment and cfg.stop_cost is None
                and options.get("stop_rule", "cost") == "cost"):
            sc = await _calibrate_stop(backend, oracle, cfg.axes, np.random.default_rng([cfg.seed, 1]),
                                       profile.camera.counts_per_electron)
            options["stop_cost" if cfg.policy == "bo" else "bo_stop_cost"] = sc  # nn: its BO fallback's
            info["stop_cost_calibrated"] = True
        if cfg.policy == "nn" and cfg.calibrate_response and "calibration" not in options:
            await backend.set(zero)
            oracle.misalign({})
            if options.get("approach_from_below", SHORT_APPROACH):   # nn's default: play needs no measuring
                cal = await short_response(backend, options["estimator"], instrument=profile.name)
            else:
                cal = await measure_response(backend, options["estimator"], repeats=2, instrument=profile.name)
            options["calibration"], options["play"] = cal.gain, cal.play_m
            info["response_calibration"] = {"frames": cal.frames, "gain": cal.gain,
                                            "note": "measured once with the network on the aligned instrument "
                                                    "before the trials (frames not counted)"}
        elif cfg.policy == "nn" and profile.response_calibration:
            info["response_calibration"] = {"frames": 0, "file": profile.response_calibration,
                                            "note": "loaded from the profile's response_calibration (checked: "
                                                    "same instrument, same knobs)"}
        trials = []
        for i in range(cfg.trials):
            await backend.set(zero)
            offsets = {a: float(rng.uniform(-w, w)) for a, w in windows.items()}
            oracle.misalign(offsets)
            start = crit.residuals(oracle.true_aberrations())
            opts = dict(options)
            opts.setdefault("windows", {a: SEARCH_MARGIN * w for a, w in windows.items()})
            policy = make_policy(cfg.policy, seed=int(rng.integers(2**31 - 1)), **opts)
            ts = time.perf_counter()
            res = await run_alignment(backend, policy, cfg.axes, max_frames=(opts.get("max_frames") or 200) + 5,
                                      offload_policy=cfg.bridge)
            truth = oracle.true_aberrations()
            trial = {"status": res.status, "frames": res.frames, "stop_reason": res.stop_reason,
                     "success": bool(res.status in ("converged", "finished") and crit.ok(truth)),
                     "residual": crit.residuals(truth), "start_residual": start, "seconds": time.perf_counter() - ts}
            trials.append(trial)
            if progress is not None:
                progress(i, trial)
    finally:
        await backend.close()
    wall = time.perf_counter() - t0
    frames = np.array([t["frames"] for t in trials], float)
    ok = np.array([t["success"] for t in trials])
    out: dict[str, Any] = {
        "instrument": profile.name, "instrument_kind": profile.kind, "instrument_note": opened.note,
        "transport": "zeromq tcp://127.0.0.1 (InstrumentServer bridge)" if cfg.bridge else "in-process adapter",
        "policy": cfg.policy, "axes": cfg.axes, "trials": cfg.trials, "seed": cfg.seed,
        "estimator": cfg.estimator if cfg.policy == "nn" else None,
        "success_rate": float(ok.mean()), "successes": int(ok.sum()), "success_criterion": crit.describe(),
        "frames_median": float(np.median(frames)), "frames_mean": float(frames.mean()),
        "frames_std": float(frames.std(ddof=1)) if len(frames) > 1 else 0.0, "frames_max": int(frames.max()),
        "wall_s": wall, "seconds_per_trial": wall / cfg.trials,
        "misalign_half_width_nm": {a: w * 1e9 for a, w in windows.items()},
        "stop_cost": options.get("stop_cost", options.get("bo_stop_cost")),
        "camera": profile.camera.model_dump(mode="json"),
        "statuses": {s: sum(t["status"] == s for t in trials) for s in sorted({t["status"] for t in trials})},
        "stop_reasons": {str(s): sum(t["stop_reason"] == s for t in trials) for s in {t["stop_reason"] for t in trials}},
        **info,
    }
    for key in trials[0]["residual"]:
        r = np.array([t["residual"][key] for t in trials]) * 1e9
        out[f"residual_{key}_nm_median"] = float(np.median(r))
        out[f"residual_{key}_nm_p95"] = float(np.percentile(r, 95))
    out["policy_options"] = {k: v for k, v in options.items() if isinstance(v, (int, float, str, type(None)))}
    return out


def run_instrument_bench(cfg: InstrumentBenchConfig, progress=None, serve=None) -> dict[str, Any]:
    """Run the trials; return the JSON-able summary (see the module docstring).

    serve: with ``cfg.bridge``, a callable ``serve(backend) -> (control_addr, data_addr, stop)`` that
    serves the instrument (the CLI passes :func:`beamloop.controller.serve.instrument_server` wiring;
    bench does not import serve, a sibling layer)."""
    from beamloop.controller.instruments.open import open_instrument

    if cfg.trials < 1:
        raise ValueError(f"trials: must be >= 1, got {cfg.trials}")
    opened = open_instrument(cfg.instrument, seed=cfg.seed, noise=cfg.noise)
    server = None
    try:
        if opened.oracle is None:
            raise ValueError(f"instrument {opened.profile.name!r} has no simulator oracle: a benchmark needs the true "
                             "aberrations (use usim, the PyJEM stand-in, the twin or a composite on them)")
        backend = opened.backend
        if cfg.bridge:
            from beamloop.controller.instruments.zmq_client import ZmqTwinBackend

            if serve is None:
                raise ValueError("bridge: give serve(backend) -> (control_addr, data_addr, stop)")
            ctrl, data, server = serve(opened.backend)
            backend = ZmqTwinBackend(ctrl, data, timeout_s=10.0)
        return asyncio.run(_bench(cfg, opened, backend, progress))
    finally:
        if server is not None:
            server()
        opened.close()
