"""Runs the cocotb benches of the command path (beamloop_top) on Icarus."""

from __future__ import annotations

from pathlib import Path

import pytest

from beamloop.firmware.sources import DEFAULT_MAP, run_cocotb

HERE = Path(__file__).parent
LIMITS = {"HW_MIN": 1000, "HW_MAX": 60000, "HW_STEP": 4096, "RESET_VALUE": 32768}
ENV = {"BL_HW_MIN": "1000", "BL_HW_MAX": "60000", "BL_HW_STEP": "4096", "BL_RESET": "32768", "BL_CPB": "8"}


def _params(**kw):
    return {"CLKS_PER_BIT": 8, "MAP_FILE": f'"{DEFAULT_MAP}"', "SLEW": 60000, "TICK_DIV": 1,
            "WD_TIMEOUT": 100_000_000, **LIMITS, **kw}


def test_link_golden_fuzz_and_limits():
    run_cocotb("beamloop_top", "tb_link", HERE, parameters=_params(), build_name="top_link",
               extra_env={**ENV, "BL_FUZZ": "60"})


@pytest.mark.slow
@pytest.mark.timeout(3600)   # 1500 fuzz frames: ~25 min on one core (the suite-wide 600 s would cut it)
def test_link_heavy_fuzz():
    run_cocotb("beamloop_top", "tb_link", HERE, parameters=_params(), build_name="top_link_slow",
               extra_env={**ENV, "BL_FUZZ": "1500", "BL_SEED": "12345"})


def test_watchdog_top():
    run_cocotb("beamloop_top", "tb_watchdog_top", HERE, parameters=_params(WD_TIMEOUT=30000),
               build_name="top_wd", extra_env={**ENV, "BL_WD_TIMEOUT": "30000"})


def test_host_driver_through_rtl_uart():
    run_cocotb("beamloop_top", "tb_host_driver", HERE, parameters=_params(), build_name="top_host",
               extra_env=ENV)
