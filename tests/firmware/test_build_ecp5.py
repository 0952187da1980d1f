"""ECP5 (ULX3S) build: the file list comes from the FuseSoC core; the real build is slow."""

from __future__ import annotations

import re

import pytest

from beamloop.firmware import build_ecp5 as E


def test_ulx3s_target_files_from_the_core():
    f = E.core_files("ulx3s")
    names = [p.name for p in f["verilog"]]
    assert all(p.exists() for k in f for p in f[k])
    for must in ("beamloop_top.v", "trigger_core.v", "feature_extract.v", "cmd_link.v", "dac_limiter.v",
                 "dac_spi.v", "ulx3s_top.v", "trigger_net.v"):
        assert must in names, must
    assert "trigger_net_placeholder.v" not in names          # the trained network, not the placeholder
    assert [p.name for p in f["lpf"]] == ["ulx3s.lpf"] and [p.name for p in f["user"]] == ["region_map_64x64.hex"]


def test_lpf_places_every_top_port():
    f = E.core_files("ulx3s")
    top = next(p for p in f["verilog"] if p.name == "ulx3s_top.v").read_text()
    lpf = f["lpf"][0].read_text()
    sites = dict(re.findall(r'LOCATE COMP "([^"]+)" SITE "(\w+)";', lpf))
    assert len(set(sites.values())) == len(sites), "two ports on one pin"
    for m in re.finditer(r"(input|output|inout)\s+wire\s+(?:\[(\d+):0\]\s+)?(\w+)", top):
        width = int(m.group(2)) + 1 if m.group(2) else 1
        for i in range(width):
            key = m.group(3) if not m.group(2) else f"{m.group(3)}[{i}]"
            assert key in sites, f"{key} has no LOCATE in ulx3s.lpf"


def test_nextpnr_report_parsing():
    log = ("Info: Device utilisation:\nInfo:          TRELLIS_COMB:  9000/83640    10%\n"
           "Info:             DP16KD:     9/  208     4%\n"
           "Info: Max frequency for clock '$glbnet$clk': 71.30 MHz (FAIL at 100.00 MHz)\n"
           "Info: Max frequency for clock '$glbnet$clk': 103.52 MHz (PASS at 100.00 MHz)\n")
    assert E.parse_utilisation(log) == {"TRELLIS_COMB": (9000, 83640), "DP16KD": (9, 208)}
    assert E.parse_fmax(log) == 103.52


def test_build_folder_under_tmp_is_refused_for_yowasp(tmp_path):
    if E.missing() or not E.tool("yosys").startswith("yowasp-"):
        pytest.skip("needs the yowasp tools")
    with pytest.raises(E.BuildError, match="/tmp"):
        E.build_ulx3s("/tmp/beamloop_ulx3s_refused")


@pytest.mark.slow
def test_ulx3s_bitstream():
    if E.missing():
        pytest.skip(f"missing {E.missing()}")
    from beamloop.firmware.sources import RTL_DIR

    res = E.build_ulx3s(RTL_DIR.parents[1] / "build_ulx3s_test")   # not under /tmp (yowasp maps its own /tmp)
    assert res.bitstream.stat().st_size > 100_000
    assert res.utilisation["MULT18X18D"][0] == 0 and res.fmax_mhz
