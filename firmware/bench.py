"""``beamloop bench fpga``: the hls bench of both networks plus the firmware top.

The firmware sits above hls in the layers (it consumes hls output), so the firmware top's
counts are added here rather than by ``beamloop.hls.bench`` importing firmware.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from beamloop.firmware.sources import sources
from beamloop.firmware.synth import yosys_stats
from beamloop.hls.bench import run_bench

__all__ = ["run_fpga_bench", "top_entry"]


def run_fpga_bench(work: str | Path, n_vectors: int | None = None, pretrained: bool = True,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything ``beamloop bench fpga`` prints: alignment, trigger and the firmware top."""
    return run_bench(work, n_vectors=n_vectors, pretrained=pretrained, log=log, top_entry=top_entry)


def top_entry(synth, log) -> dict[str, Any]:
    """The firmware top without the trained network, via the firmware area's own yosys recipe.

    ``beamloop.firmware.synth.yosys_stats("beamloop_top")`` reads the network module as a black
    box, so the counts are the firmware's alone; if that helper is missing or fails, the top is
    synthesised here with the placeholder network included (said in ``note``).
    """
    entry: dict[str, Any] = {"bit_exact_matches": None, "bit_exact_total": None, "latency_cycles": None,
                             "clock_mhz": 200.0, "latency_ns": None, "latency_is_estimate": None}
    log("[top] yosys synth_xilinx on firmware beamloop_top (network black-boxed) ...")
    try:
        st = yosys_stats("beamloop_top")
        entry["synth_tool"] = "beamloop.firmware.synth.yosys_stats (synth_xilinx -flatten, network black-boxed)"
        entry["note"] = "firmware without the network; its latency is the firmware's own (firmware docs)"
    except Exception as exc:  # noqa: BLE001 - fall back, and say so
        try:
            st = synth("beamloop_top", sources("beamloop_top"))
        except Exception as exc2:  # noqa: BLE001 - report, do not lose the network entries
            entry["error"] = f"firmware top not synthesised: {exc}; {exc2}"
            return entry
        entry["synth_tool"] = st.get("tool")
        entry["note"] = (f"firmware helper failed ({type(exc).__name__}); counts INCLUDE the placeholder network "
                         "(trigger_net_placeholder, a small adder tree)")
    entry.update({"luts": st.get("luts"), "ffs": st.get("ffs"), "dsps": st.get("dsps"),
                  "brams": st.get("bram", st.get("brams"))})
    return entry
