"""yosys cell-count parsing, and (slow) a real synth_xilinx run on generated trigger RTL."""

from __future__ import annotations

import shutil

import pytest

from beamloop.hls.yosys import parse_stat

LOG = """
=== trigger_net ===

   Number of wires:                 12
   Number of wire bits:            345
   Number of cells:                 11
     CARRY4                          2
     DSP48E1                         1
     FDRE                            3
     FDSE                            1
     LUT2                            4
     LUT6                            1

"""


def test_parse_stat_groups_cells():
    st = parse_stat(LOG)
    assert (st["luts"], st["ffs"], st["dsps"], st["carry4_8"]) == (5, 4, 1, 2)


def test_parse_stat_without_stat_block_fails():
    from beamloop.hls.errors import HlsFlowError

    with pytest.raises(HlsFlowError):
        parse_stat("no statistics here")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_synth_xilinx_on_generated_trigger_rtl(small_mlp, tmp_path):
    from beamloop.hls import da4ml_flow, qonnx_flow
    from beamloop.hls.yosys import synth_xilinx_stats

    model = qonnx_flow.clean(qonnx_flow.export_qonnx(small_mlp.module, (32,), tmp_path / "m.onnx"), False)
    rtl = da4ml_flow.write_trigger_rtl(da4ml_flow.trace_to_comb(model), tmp_path / "gen", tmp_path / "trigger_net.v",
                                       latency_cutoff=4)
    st = synth_xilinx_stats("trigger_net", rtl.sources)
    assert st["dsps"] == 0 and st["luts"] > 100 and st["ffs"] > 0
