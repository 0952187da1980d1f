"""Runs the cocotb benches of the trigger path and of dac_limiter on Icarus."""

from __future__ import annotations

from pathlib import Path

import pytest

from beamloop.firmware.sources import DEFAULT_MAP, run_cocotb

HERE = Path(__file__).parent


def test_trigger_path_bit_exact():
    params = {"CLKS_PER_BIT": 8, "MAP_FILE": f'"{DEFAULT_MAP}"', "SHIFT": 4, "DSHIFT": 3}
    run_cocotb("beamloop_top", "tb_trigger_path", HERE, parameters=params, build_name="top_trigger",
               extra_env={"BL_SHIFT": "4", "BL_DSHIFT": "3", "BL_MAP": str(DEFAULT_MAP), "BL_CPB": "8"})


@pytest.mark.parametrize("w,h", [(8, 4), (5, 3)])
def test_frame_ingest(w, h):
    run_cocotb("frame_ingest", "tb_frame_ingest", HERE, parameters={"W": w, "H": h},
               build_name=f"ingest_{w}x{h}", extra_env={"BL_W": str(w), "BL_H": str(h)})


def test_dac_limiter():
    p = {"NCH": 4, "DW": 12, "HW_MIN": 100, "HW_MAX": 4000, "HW_STEP": 500, "RESET_VALUE": 2000,
         "SLEW": 7, "TICK_DIV": 3}
    env = {f"BL_{k}": str(v) for k, v in p.items() if k != "RESET_VALUE"}
    env["BL_RESET"] = "2000"
    run_cocotb("dac_limiter", "tb_dac_limiter", HERE, parameters=p, build_name="dac_limiter", extra_env=env)


def test_dac_spi():
    run_cocotb("dac_spi", "tb_dac_spi", HERE, parameters={"NCH": 8, "DW": 16, "SCLK_DIV": 2}, build_name="dac_spi")
