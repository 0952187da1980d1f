"""``beamloop bench fpga``: bit-exact counts, latency and resources per network and for the firmware top.

Per network (``alignment``, ``trigger``) the full compile flow runs (:func:`compile_network`);
the trigger entry describes the da4ml RTL that goes into the firmware (latency measured in
Icarus, LUT/FF/DSP from yosys ``synth_xilinx``), with the hls4ml estimate alongside; the
alignment entry (the MLP on 216 features, ``io_parallel``, Resource strategy) gives the hls4ml
token-timing latency estimate (no Vitis here), its reuse factors and multiplier count; its
LUT/FF/DSP are unknown without Vitis (``null``). ``top`` is the firmware without the network
(the placeholder net) through yosys.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from beamloop.hls.compile_flow import compile_network, load_network
from beamloop.hls.errors import HlsFlowError
from beamloop.hls.hls4ml_project import HlsSettings


_MAC_CLASSES = ("Dense", "Conv2D", "Conv2DBatchnorm", "PointwiseConv2D")


def _multipliers(layers: list[dict[str, Any]]) -> int | None:
    """Multipliers the dense layers instantiate: sum of ``ceil(n_in * n_out / reuse_factor)``
    (hls4ml's ``multiplier_limit`` before zero weights are removed); ``None`` with conv layers."""
    total = 0
    for row in layers:
        if row["class"] == "Dense":
            total += -(-int(row["n_in"]) * int(row["n_out"]) // max(int(row["reuse_factor"]), 1))
        elif row["class"] in _MAC_CLASSES:
            return None
    return total


def _network_entry(res) -> dict[str, Any]:
    est = res.latency
    return {
        "bit_exact_matches": res.bitexact.matches,
        "bit_exact_total": res.bitexact.total,
        "bit_exact_against": "pytorch = qonnx = hls4ml C++ emulation",
        "latency_cycles": est.cycles,
        "clock_mhz": est.clock_mhz,
        "latency_ns": est.ns,
        "latency_is_estimate": True,
        "interval_cycles": est.interval_cycles,
        "interval_ns": est.interval_ns,
        "latency_target_ns": res.settings.latency_target_ns,
        "io_type": res.settings.io_type,
        "strategy": res.settings.strategy,
        "pipeline_style": est.pipeline_style,
        "reuse_factors": {row["name"]: row["reuse_factor"] for row in res.layers if row["class"] in _MAC_CLASSES},
        "multipliers": _multipliers(res.layers),
        "luts": None, "ffs": None, "dsps": None,
        "resources_note": "needs Vitis HLS (vitis_hls -f build_prj.tcl); not available here",
    }


def run_bench(work: str | Path, n_vectors: int | None = None, pretrained: bool = True,
              log: Callable[[str], None] = print,
              top_entry: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Both networks through the flow; ``top_entry(synth_xilinx_stats, log)`` (supplied by the
    firmware area, ``beamloop.firmware.bench``: hls does not import firmware) adds ``top``."""
    from beamloop.hls.yosys import synth_xilinx_stats

    work = Path(work)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    for name, fn in (("alignment", _alignment), ("trigger", _trigger)):
        try:
            out[name] = fn(work, n_vectors, pretrained, log, synth_xilinx_stats)
        except HlsFlowError as exc:  # e.g. no committed weights: report it, keep the other entries
            log(f"[{name}] FAILED: {exc}")
            out[name] = {"error": str(exc), "bit_exact_matches": None, "bit_exact_total": None}
    if top_entry is not None:
        out["top"] = top_entry(synth_xilinx_stats, log)
    out["wall_time_s"] = time.perf_counter() - t0
    out["note"] = "shared 2-core machine; wall times are noisy"
    return out


def _alignment(work: Path, n_vectors, pretrained, log, _synth) -> dict[str, Any]:
    s_align = HlsSettings.load("alignment")
    res_a = compile_network(load_network("alignment", pretrained), s_align, work / "alignment",
                            n_vectors=n_vectors, log=log)
    entry = _network_entry(res_a)
    target = s_align.latency_target_ns or float("inf")
    entry["meets_target"] = bool(res_a.latency.ns <= target and res_a.latency.interval_ns <= target)
    return entry


def _trigger(work: Path, n_vectors, pretrained, log, synth_xilinx_stats) -> dict[str, Any]:
    s_trig = HlsSettings.load("trigger")
    res_t = compile_network(load_network("trigger", pretrained), s_trig, work / "trigger", n_vectors=n_vectors,
                            log=log)
    rtl = res_t.rtl
    log("[trigger] yosys synth_xilinx on the da4ml RTL ...")
    st = synth_xilinx_stats(rtl.module, rtl.sources)
    period = s_trig.clock_period_ns
    trig = {
        "implementation": "da4ml Verilog (same generator and weights as firmware/rtl/trigger_net.v), Icarus + yosys",
        "bit_exact_matches": res_t.rtl_bitexact.matches,
        "bit_exact_total": res_t.rtl_bitexact.total,
        "bit_exact_against": "pytorch = da4ml Verilog in Icarus",
        "hls4ml_bit_exact_matches": res_t.bitexact.matches,
        "hls4ml_bit_exact_total": res_t.bitexact.total,
        "latency_cycles": rtl.latency,
        "latency_cycles_measured_icarus": res_t.rtl_latency_measured,
        "clock_mhz": s_trig.clock_mhz,
        "latency_ns": rtl.latency * period,
        "latency_is_estimate": False,
        "interval_cycles": 1,
        "luts": st.get("luts"), "ffs": st.get("ffs"), "dsps": st.get("dsps"),
        "synth_tool": st.get("tool"),
        "da4ml_luts_estimate": rtl.luts_estimate,
        "out_width": rtl.out_width, "out_frac": rtl.out_frac,
        "hls4ml_latency_cycles_estimate": res_t.latency.cycles,
        "hls4ml_latency_ns_estimate": res_t.latency.ns,
    }
    targets = s_trig.da4ml.get("targets", {})
    trig["meets_floors"] = bool(trig["latency_ns"] < targets.get("max_latency_ns", 100)
                                and (trig["luts"] or 0) < targets.get("max_luts", 10000)
                                and (trig["dsps"] or 0) <= targets.get("max_dsps", 0))
    return trig
