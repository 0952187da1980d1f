"""LUT/FF/DSP counts of Verilog sources from yosys ``synth_xilinx`` (an open estimate, not Vivado).

Runs yosys with ``read_verilog -sv -defer`` (da4ml's output needs ``-defer``: it holds a lookup-table
module whose ``.mem`` file only exists when a network uses tables).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from beamloop.hls.errors import HlsFlowError, require_tool

_CELL = re.compile(r"^\s+(\S+)\s+(\d+)\s*$")


def parse_stat(text: str) -> dict[str, Any]:
    """Parse the last ``stat`` block of a yosys log -> {'luts', 'ffs', 'dsps', 'brams', 'cells'}."""
    idx = text.rfind("Number of cells:")
    if idx < 0:
        raise HlsFlowError("yosys log has no `stat` output")
    cells: dict[str, int] = {}
    for line in text[idx:].splitlines()[1:]:
        m = _CELL.match(line)
        if m:
            cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
        elif line.strip() == "" and cells:
            break
    luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT\d", k))
    ffs = sum(v for k, v in cells.items() if re.fullmatch(r"FD[A-Z]*", k))
    dsps = sum(v for k, v in cells.items() if k.startswith("DSP"))
    brams = sum(v for k, v in cells.items() if k.startswith("RAMB"))
    carry = sum(v for k, v in cells.items() if k.startswith("CARRY"))
    return {"luts": luts, "ffs": ffs, "dsps": dsps, "brams": brams, "carry4_8": carry, "cells": cells}


def synth_xilinx_stats(top: str, sources: list[str | Path], timeout_s: float = 1200) -> dict[str, Any]:
    """Run ``synth_xilinx -flatten -top <top>`` on ``sources`` and return the cell counts."""
    require_tool("yosys", "LUT/FF/DSP counts")
    files = " ".join(f'"{Path(s).resolve()}"' for s in sources)
    script = f"read_verilog -sv -defer {files}\nhierarchy -top {top}\nsynth_xilinx -flatten -top {top}\nstat\n"
    with tempfile.TemporaryDirectory(prefix="beamloop_yosys_") as wd:
        (Path(wd) / "synth.ys").write_text(script)
        proc = subprocess.run(["yosys", "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=wd,
                              capture_output=True, text=True, timeout=timeout_s)
        log = (Path(wd) / "yosys.log").read_text() if (Path(wd) / "yosys.log").exists() else ""
    if proc.returncode != 0:
        raise HlsFlowError(f"yosys failed on {top}:\n{(proc.stderr or log)[-3000:]}")
    stats = parse_stat(log)
    stats["tool"] = "yosys synth_xilinx -flatten"
    return stats
