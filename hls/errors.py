"""Errors of the FPGA flow, each saying what is wrong *and what to change*.

Every failure the embedded engineer can hit from ``beamloop compile`` raises a subclass of
:class:`HlsFlowError`; the CLI prints the message and exits non-zero (no traceback needed).
"""

from __future__ import annotations

import shutil


class HlsFlowError(RuntimeError):
    """Base class: a clear, actionable message for the user of ``beamloop compile``."""


class UnsupportedLayerError(HlsFlowError):
    """The QONNX graph holds an operator the target tool (hls4ml or the da4ml converter) cannot map."""


class NonPowerOfTwoScaleError(HlsFlowError):
    """A ``Quant`` node has a scale that is not a power of two (the FPGA result would differ)."""


class QuantizerConfigError(HlsFlowError):
    """A quantiser setting (rounding, zero point, bit width) breaks bit-exactness."""


class ToolMissingError(HlsFlowError):
    """An external program (g++, iverilog, yosys, vitis_hls) is not on PATH."""


class BitExactMismatchError(HlsFlowError):
    """The hardware emulation and the training framework disagree on some inputs."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


_INSTALL_HINTS = {
    "g++": "install it (`apt-get install g++`, done by scripts/setup.sh); hls4ml compiles its "
           "bit-accurate C++ emulation with g++ and the bit-exact check cannot run without it",
    "iverilog": "install Icarus Verilog (`apt-get install iverilog`, done by scripts/setup.sh)",
    "yosys": "install yosys (`apt-get install yosys`, done by scripts/setup.sh)",
    "vitis_hls": "source the Vitis settings script (e.g. `source /tools/Xilinx/Vitis_HLS/2023.2/settings64.sh`) "
                 "or run `vitis_hls -f build_prj.tcl` in the project folder on a machine with Vitis (docs/hls.md)",
}


def require_tool(name: str, purpose: str) -> str:
    """Return the path of executable ``name`` or raise :class:`ToolMissingError` saying how to get it."""
    path = shutil.which(name)
    if path is None:
        hint = _INSTALL_HINTS.get(name, f"install {name} and put it on PATH")
        raise ToolMissingError(f"`{name}` not found on PATH (needed for {purpose}): {hint}.")
    return path
