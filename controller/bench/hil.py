"""``beamloop bench hil``: the loop with the RTL in it (profile ``board-rtl``, controller/instruments/hil.py).

Two parts, one JSON object:
- alignment trials with the normal controller and policy through the RTL command path
  (:func:`~.instrument.run_instrument_bench` on ``board-rtl``): ``success_rate``, ``trials``,
  ``frames_median``, ``wall_s``;
- a probe session on a fresh RTL: ``n_commands`` knob changes (request = first UART bit of the
  SET_DAC frame, DAC update = first change of the RTL's ``dac_out``, simulated time:
  ``command_latency_us``), ``n_frames`` twin frames through the trigger path
  (``fps_through_rtl`` wall-clock, ``trigger_latency_ns`` = last pixel -> network score valid,
  simulated at the 100 MHz design clock; the trigger pulse is one cycle later).
``trigger_recall_drift_at_1pct_fa`` is the committed trigger model's held-out figure
(models/weights/trigger.json); the RTL computes that model bit for bit (tb_trigger_path).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any


async def _probe(n_commands: int, n_frames: int) -> dict[str, Any]:
    from beamloop.controller.instruments.open import open_instrument

    inst = open_instrument("board-rtl", seed=11)
    comp = inst.backend
    await comp.connect()
    try:
        t0 = time.perf_counter()
        for i in range(n_commands):
            await comp.set({"C10": (i + 1) * 10e-9})
        wall_cmd = (time.perf_counter() - t0) / max(n_commands, 1)
        t0 = time.perf_counter()
        recs = [(await comp.acquire()).meta["rtl_trigger"] for _ in range(n_frames)]
        fps = n_frames / (time.perf_counter() - t0)
    finally:
        await comp.close()
        inst.close() if hasattr(inst, "close") else None
    trace = comp.board.sim.trace()
    lat_us = [(u["dac_ns"] - u["request_ns"]) / 1e3 for u in trace.get("dac_updates", [])]
    trig = [r["score_ns"] - r["eof_ns"] + 10 for r in recs]      # + 1 cycle: trigger pulse after the score
    return {"command_latency_us": statistics.median(lat_us) if lat_us else None, "command_updates": len(lat_us),
            "command_wall_s": wall_cmd, "fps_through_rtl": fps, "trigger_latency_ns": statistics.median(trig),
            "frames_through_rtl": len(recs)}


def run_hil_bench(trials: int = 3, axes=("C10",), max_frames: int = 20, seed: int = 0, n_commands: int = 5,
                  n_frames: int = 5, policy: str = "nn", progress=None) -> dict[str, Any]:
    from beamloop.controller.bench.instrument import InstrumentBenchConfig, run_instrument_bench

    t0 = time.perf_counter()
    probe = asyncio.run(_probe(n_commands, n_frames))
    align: dict[str, Any] = {}
    if trials > 0:
        cfg = InstrumentBenchConfig(instrument="board-rtl", policy=policy, axes=list(axes), trials=trials, seed=seed,
                                    max_frames=max_frames)
        align = run_instrument_bench(cfg, progress=progress)
    meta = json.loads((Path(__file__).resolve().parents[2] / "models" / "weights" / "trigger.json").read_text())
    m = meta.get("metrics_heldout", {}).get("far_0.01", {})
    return {"instrument": "board-rtl", "policy": policy, "axes": list(axes), "trials": trials,
            "success_rate": align.get("success_rate"), "frames_median": align.get("frames_median"),
            **probe, "trigger_recall_drift_at_1pct_fa": m.get("recall_drift"),
            "trigger_recall_sample_at_1pct_fa": m.get("recall_sample"),
            "trigger_model_version": meta.get("version"), "wall_s": time.perf_counter() - t0,
            "alignment": {k: v for k, v in align.items() if k not in ("trials_detail",)}}
