"""Verilator --lint-only -Wall on every RTL module, and Icarus elaboration of the top."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from beamloop.firmware.sources import CORES, RTL_DIR, all_rtl, sources

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")


@pytest.mark.parametrize("top", sorted(CORES))
def test_verilator_lint_clean(top):
    files = [str(p) for p in sources(top)]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", f"-I{RTL_DIR}", "--top-module", top, *files],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_every_rtl_file_is_in_a_core_and_named_after_its_module():
    listed = {f for files in CORES.values() for f in files}
    for p in all_rtl():
        assert p.name in listed, f"{p.name} is in no core file list"
        text = p.read_text()
        assert f"module {p.stem}" in text, f"{p.name} does not define module {p.stem}"
        assert "`default_nettype none" in text, f"{p.name} lacks `default_nettype none"


@pytest.mark.parametrize("board,top,core", [("arty_a7", "arty_a7_top", "beamloop_top"),
                                            ("icebreaker", "icebreaker_trigger_top", "trigger_path")])
def test_board_wrappers_lint_clean(board, top, core):
    from beamloop.firmware.sources import BOARDS_DIR

    files = [str(p) for p in sources(core)] + [str(RTL_DIR / "dac_spi.v"), str(BOARDS_DIR / board / f"{top}.v")]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", f"-I{RTL_DIR}", "--top-module", top, *files],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
