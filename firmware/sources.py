"""File lists of the firmware cores and a cocotb (Icarus) runner helper.

``sources(top)`` is the ordered Verilog file list of a core (the same lists as
``beamloop.core`` for FuseSoC); ``run_cocotb`` builds and runs a cocotb test module on
Icarus from pytest (``WAVES=1`` in the environment dumps waveforms into the build dir).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

RTL_DIR = Path(__file__).parent / "rtl"
BOARDS_DIR = Path(__file__).parent / "boards"
DEFAULT_MAP = RTL_DIR / "region_map_64x64.hex"

_LINK = ["crc16_update.v", "uart_rx.v", "uart_tx.v", "cmd_link.v"]
_TRIGGER = ["frame_ingest.v", "feature_extract.v", "trigger_net_placeholder.v", "trigger_core.v"]
CORES: dict[str, list[str]] = {
    "uart_rx": ["uart_rx.v"],
    "uart_tx": ["uart_tx.v"],
    "crc16_update": ["crc16_update.v"],
    "sync_fifo": ["sync_fifo.v"],
    "watchdog": ["watchdog.v"],
    "dac_limiter": ["dac_limiter.v"],
    "dac_spi": ["dac_spi.v"],
    "cmd_link": _LINK,
    "frame_ingest": ["frame_ingest.v"],
    "feature_extract": ["feature_extract.v"],
    "trigger_net_placeholder": ["trigger_net_placeholder.v"],
    "trigger_core": ["trigger_net_placeholder.v", "trigger_core.v"],
    "trigger_path": [*_TRIGGER, "trigger_path.v"],
    "beamloop_top": _LINK + _TRIGGER + ["sync_fifo.v", "watchdog.v", "dac_limiter.v", "beamloop_top.v"],
}


REAL_NET_WRAPPER = RTL_DIR / "trigger_net.v"          # written by hls/ (beamloop compile trigger)
REAL_NET_DIR = RTL_DIR / "generated"                  # da4ml core files beside it


def sources(top: str, net_sources: list[Path] | None = None) -> list[Path]:
    """Absolute Verilog sources of core ``top`` (dependencies first).

    ``net_sources`` (the da4ml ``trigger_net`` wrapper and core files) replace the placeholder
    network; build with the define ``BEAMLOOP_TRIGGER_NET_REAL`` then."""
    if top not in CORES:
        raise KeyError(f"unknown core {top!r}; known: {sorted(CORES)}")
    files = [RTL_DIR / f for f in CORES[top]]
    if net_sources is not None:
        files = [Path(p).resolve() for p in net_sources] + [f for f in files if f.name != "trigger_net_placeholder.v"]
    return files


def committed_net_sources() -> list[Path] | None:
    """The committed da4ml network (``rtl/trigger_net.v`` + ``rtl/generated/*.v``), or None."""
    if not REAL_NET_WRAPPER.exists():
        return None
    return [REAL_NET_WRAPPER, *sorted(REAL_NET_DIR.glob("*.v"))]


def net_params(wrapper: Path) -> dict[str, int]:
    """``OUT_W``, ``OUT_FRAC``, ``LATENCY`` of a ``trigger_net`` wrapper (parameter declarations)."""
    import re

    text = Path(wrapper).read_text()
    out = {}
    for k in ("OUT_W", "OUT_FRAC", "LATENCY"):
        m = re.search(rf"(?:local)?param(?:eter)?\s+(?:integer\s+)?{k}\s*=\s*(\d+)", text)
        if m:
            out[k] = int(m.group(1))
    if "OUT_W" not in out:
        raise ValueError(f"{wrapper}: no OUT_W parameter found")
    return out


def all_rtl() -> list[Path]:
    """Every RTL source file (for lint)."""
    return sorted(RTL_DIR.glob("*.v"))


def run_cocotb(top: str, test_module: str, test_dir: str | Path, *, parameters: Mapping[str, Any] | None = None,
               defines: Mapping[str, Any] | None = None, build_name: str | None = None,
               extra_sources: list[Path] | None = None, seed: int | None = None,
               extra_env: Mapping[str, str] | None = None, net_sources: list[Path] | None = None) -> None:
    """Build ``top`` with Icarus and run cocotb ``test_module`` (in ``test_dir``); raise on failure."""
    from cocotb_tools.runner import get_results, get_runner

    test_dir = str(Path(test_dir).resolve())
    if test_dir not in sys.path:
        sys.path.insert(0, test_dir)   # the runner passes sys.path on as PYTHONPATH
    base = Path(os.environ.get("BEAMLOOP_SIM_BUILD", Path(tempfile.gettempdir()) / f"beamloop_sim_{os.getuid()}"))
    build_dir = base / (build_name or top)
    runner = get_runner("icarus")
    runner.build(sources=[*sources(top, net_sources), *(extra_sources or [])], hdl_toplevel=top, includes=[RTL_DIR],
                 parameters=dict(parameters or {}), defines=dict(defines or {}), build_dir=build_dir,
                 always=True, timescale=("1ns", "1ps"))
    xml = runner.test(hdl_toplevel=top, test_module=test_module, build_dir=build_dir, test_dir=test_dir,
                      seed=seed, extra_env=dict(extra_env or {}),
                      results_xml=str(build_dir / "results.xml"))   # keep the source tree clean
    n, failed = get_results(xml)
    if n == 0 or failed:
        raise AssertionError(f"cocotb {test_module} on {top}: {failed} of {n} tests failed (see {build_dir})")
