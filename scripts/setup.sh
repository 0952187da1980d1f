#!/usr/bin/env bash
# Idempotent set-up of everything beamloop needs on a fresh Debian 12 machine.
# apt: Icarus Verilog (cocotb simulator), Verilator (lint), yosys (synthesis counts), g++ (hls4ml emulation),
#      nextpnr-ice40 + fpga-icestorm (iCE40 open-flow bitstream of the trigger path, `beamloop flash`).
# pip: torch pinned to the local CPU wheel first, then beamloop editable with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=""
for tool in iverilog yosys verilator g++ make nextpnr-ice40 icepack chromium chromedriver; do
    command -v "$tool" >/dev/null 2>&1 || need_apt=1
done
if [ -n "$need_apt" ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog yosys verilator g++ make nextpnr-ice40 fpga-icestorm chromium chromium-driver >/dev/null
fi

PY=${PYTHON:-python3}
# torch first and exactly pinned: the local CPU build. A looser spec pulls several GB of CUDA.
$PY -m pip install -q "torch==2.13.0"
$PY -m pip install -q -e ".[dev]"
