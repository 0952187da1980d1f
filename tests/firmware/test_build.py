"""Core file lists, yosys resource counts, the iCE40 open flow and `beamloop flash`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from beamloop.firmware.sources import RTL_DIR, sources

FW = RTL_DIR.parent


def test_fusesoc_core_lists_match_python_lists():
    core = yaml.safe_load((FW / "beamloop.core").read_text())
    fs = core["filesets"]

    def files(names):
        out = []
        for n in names:
            for f in fs[n].get("files", []):
                out.append(next(iter(f)) if isinstance(f, dict) else f)
        return {Path(f).name for f in out if f.endswith(".v")}

    assert files(core["targets"]["default"]["filesets"]) == {p.name for p in sources("beamloop_top")} | {"dac_spi.v"}
    assert files(core["targets"]["icebreaker"]["filesets"]) == {p.name for p in sources("trigger_path")} | {
        "icebreaker_trigger_top.v"}
    for f in {Path(next(iter(x)) if isinstance(x, dict) else x).name for s in fs.values() for x in s.get("files", [])}:
        assert (FW / "rtl" / f).exists() or any(FW.glob(f"boards/*/{f}")), f


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_yosys_stats_small_core():
    from beamloop.firmware.synth import yosys_stats

    s = yosys_stats("watchdog")
    assert s["ffs"] >= 32 + 27 + 1          # trips counter + timer + flag
    assert s["luts"] > 0 and s["dsps"] == 0


@pytest.mark.slow
def test_yosys_stats_top_without_network():
    from beamloop.firmware.synth import yosys_stats

    s = yosys_stats("beamloop_top")
    assert s["blackboxed"] == ["trigger_net_placeholder"] and s["cells"]["trigger_net_placeholder"] == 1
    assert 1000 < s["luts"] < 20000 and s["ffs"] > 1000 and s["bram"] >= 1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nextpnr-ice40") is None, reason="nextpnr-ice40 not installed")
def test_ice40_bitstream(tmp_path):
    from beamloop.firmware.build import build_ice40

    r = build_ice40(tmp_path)
    assert r.bitstream.exists() and r.bitstream.stat().st_size > 100_000   # UP5K bitstream ~104 kB
    used, total = r.utilisation["ICESTORM_LC"]
    assert 0 < used <= total
    assert r.fmax_mhz and r.fmax_mhz > 12.0


def test_flash_says_what_is_missing(monkeypatch):
    from beamloop.tools.cli import app

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda t: None if t == "vivado" else real_which(t))
    r = CliRunner().invoke(app, ["flash", "--board", "arty_a7", "--build-only"])
    assert r.exit_code == 2 and "missing vivado" in r.output and "build.tcl" in r.output
    r = CliRunner().invoke(app, ["flash", "--board", "nope"])
    assert r.exit_code != 0 and "--board" in r.output


def test_generated_net_core_lists_the_committed_network(tmp_path):
    from beamloop.firmware.sources import committed_net_sources, write_net_core

    srcs = committed_net_sources()
    if srcs is None:
        pytest.skip("no committed trigger_net.v yet")
    core = yaml.safe_load(write_net_core(tmp_path / "trigger_net.core").read_text())
    assert core["name"].startswith("beamloop:fpga:trigger_net")
    listed = [next(iter(f)) if isinstance(f, dict) else f for f in core["filesets"]["rtl"]["files"]]
    assert {str(p.relative_to(FW)) for p in srcs} <= set(listed)
    assert all((FW / f).exists() for f in listed)
    main = yaml.safe_load((FW / "beamloop.core").read_text())
    assert main["filesets"]["real_net"]["depend"] == ["beamloop:fpga:trigger_net"]
