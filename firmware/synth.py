"""Resource counts from yosys (``synth_xilinx`` / ``synth_ice40``) for the firmware cores.

``yosys_stats("beamloop_top")`` is what ``beamloop bench fpga`` reports for the top level
*without* the trigger network: the network module is read as a black box (``-lib``) so its
logic is not counted (the hls/ flow reports the network's own counts). These are yosys
technology-mapped counts, not Vivado post-place-and-route numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

from beamloop.firmware.sources import RTL_DIR, sources as core_sources

NETWORK_MODULES = ("trigger_net_placeholder", "trigger_net")

_XILINX_GROUPS = {
    "luts": re.compile(r"^LUT[1-6]$"),
    "ffs": re.compile(r"^FD[CPRS]E?$"),
    "carry": re.compile(r"^CARRY[48]$"),
    "dsps": re.compile(r"^DSP48E?1?$"),
    "bram": re.compile(r"^RAMB(18|36)E[12]$"),
    "lutram": re.compile(r"^RAM(16|32|64|128|256)[XM]"),
    "muxes": re.compile(r"^MUXF[78]$"),
}
_ICE40_GROUPS = {
    "luts": re.compile(r"^SB_LUT4$"),
    "ffs": re.compile(r"^SB_DFF"),
    "carry": re.compile(r"^SB_CARRY$"),
    "dsps": re.compile(r"^SB_MAC16$"),
    "bram": re.compile(r"^SB_RAM40_4K"),
}


class SynthError(RuntimeError):
    """yosys missing or failed; the message carries its log tail."""


def yosys_stats(top: str = "beamloop_top", sources: Iterable[str | Path] | None = None, *,
                blackbox: Iterable[str] = NETWORK_MODULES, target: str = "xilinx",
                defines: Mapping[str, str] | None = None, parameters: Mapping[str, int] | None = None,
                timeout: float = 900) -> dict:
    """Synthesize ``top`` with yosys and return grouped cell counts.

    Returns ``{"top", "target", "luts", "ffs", "carry", "dsps", "bram", "lutram", "muxes",
    "cells" (raw cell-type counts), "blackboxed"}``. Modules named in ``blackbox`` are read
    with ``read_verilog -lib`` (interface only; not counted). ``parameters`` override top-level
    integer parameters (``hierarchy -chparam``), e.g. ``{"OUT_W": 17}`` with the da4ml network."""
    if shutil.which("yosys") is None:
        raise SynthError("yosys not found on PATH (apt-get install yosys)")
    if target not in ("xilinx", "ice40"):
        raise ValueError(f"target must be 'xilinx' or 'ice40', got {target!r}")
    srcs = [Path(s).resolve() for s in (sources if sources is not None else core_sources(top))]
    bb = set(blackbox)
    dflags = " ".join(f"-D{k}={v}" for k, v in (defines or {}).items())
    lines = []
    boxed = []
    for s in srcs:
        if s.stem in bb:
            lines.append(f"read_verilog -lib -sv {dflags} -I{RTL_DIR} {s}")
            boxed.append(s.stem)
        else:
            lines.append(f"read_verilog -sv -defer {dflags} -I{RTL_DIR} {s}")
    synth = f"synth_xilinx -flatten -top {top}" if target == "xilinx" else f"synth_ice40 -top {top}"
    with tempfile.TemporaryDirectory() as tmp:
        stat_json = Path(tmp) / "stat.json"
        chp = " ".join(f"-chparam {k} {int(v)}" for k, v in (parameters or {}).items())
        lines += [f"hierarchy -top {top} {chp}", synth, f"tee -q -o {stat_json} stat -json"]
        script = Path(tmp) / "run.ys"
        script.write_text("\n".join(lines) + "\n")
        r = subprocess.run(["yosys", "-q", "-s", str(script)], cwd=RTL_DIR, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0 or not stat_json.exists():
            raise SynthError(f"yosys failed for {top}:\n{(r.stdout + r.stderr)[-3000:]}")
        data = json.loads(stat_json.read_text())
    mods = data.get("modules", {})
    mod = mods.get(f"\\{top}") or mods.get(top) or next(iter(mods.values()))
    cells: dict[str, int] = {k.lstrip("\\$"): int(v) for k, v in mod.get("num_cells_by_type", {}).items()}
    groups = _XILINX_GROUPS if target == "xilinx" else _ICE40_GROUPS
    out: dict = {"top": top, "target": target}
    for name, rx in groups.items():
        out[name] = sum(n for c, n in cells.items() if rx.match(c))
    out["cells"] = cells
    out["blackboxed"] = boxed
    return out


if __name__ == "__main__":
    import sys

    print(json.dumps(yosys_stats(sys.argv[1] if len(sys.argv) > 1 else "beamloop_top"), indent=2))
