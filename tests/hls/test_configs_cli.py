"""The reviewed YAML configurations and the CLI's error path."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from beamloop.hls.errors import HlsFlowError
from beamloop.hls.hls4ml_project import HlsSettings


def test_committed_configs_match_the_issue():
    a = HlsSettings.load("alignment")
    t = HlsSettings.load("trigger")
    # alignment: the 216-feature MLP; Resource strategy (weights in ROMs, shared multipliers)
    assert (a.io_type, a.strategy.lower(), a.backend) == ("io_parallel", "resource", "Vitis")
    assert (t.io_type, t.strategy.lower(), t.backend) == ("io_parallel", "latency", "Vitis")
    assert a.default_precision == t.default_precision == "fixed<32,16>" and a.layer_precision == {}
    assert a.clock_mhz == t.clock_mhz == 200.0
    assert a.latency_target_ns == 11500 and t.latency_target_ns == 100
    assert t.da4ml["module"] == "trigger_net" and t.da4ml["in_bits"] == 8


def test_fine_alignment_config_is_the_coarse_one_renamed():
    """alignment_fine is the same MLP with other weights: every hls4ml setting must agree."""
    from dataclasses import asdict

    a, f = asdict(HlsSettings.load("alignment")), asdict(HlsSettings.load("alignment_fine"))
    assert (f["model"], f["project_name"]) == ("alignment_fine", "alignment_fine_net")
    for k in ("model", "project_name"):
        a.pop(k), f.pop(k)
    assert a == f


def test_bad_config_is_rejected_with_the_key(tmp_path):
    from beamloop.hls.hls4ml_project import CONFIG_DIR

    text = (CONFIG_DIR / "trigger.yaml").read_text()
    p = tmp_path / "x.yaml"
    p.write_text(text + "\nreuse_factr: 2\n")
    with pytest.raises(HlsFlowError, match="reuse_factr"):
        HlsSettings.load(p)
    p.write_text(text.replace("io_type: io_parallel", "io_type: io_serial"))
    with pytest.raises(HlsFlowError, match="io_type"):
        HlsSettings.load(p)


def test_unknown_model_exits_with_a_message():
    from beamloop.tools.cli import app

    res = CliRunner().invoke(app, ["compile", "nosuchnet"])
    assert res.exit_code == 2
    assert "nosuchnet" in res.output and "known configurations" in res.output


def test_synth_without_vitis_says_what_to_run(tmp_path, monkeypatch):
    from beamloop.hls.errors import ToolMissingError
    from beamloop.hls.hls4ml_project import run_vitis

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError) as err:
        run_vitis(tmp_path)
    assert "vitis_hls" in str(err.value) and "build_prj.tcl" in str(err.value)


def test_vitis_report_summary():
    from beamloop.hls.errors import HlsFlowError
    from beamloop.hls.hls4ml_project import summarize_vitis_report

    rep = {"CSynthesisReport": {"BestLatency": "1203", "WorstLatency": "1210", "IntervalMin": "1025",
                                "IntervalMax": "1025", "EstimatedClockPeriod": "4.321", "LUT": "23456",
                                "FF": "20000", "DSP": "64", "BRAM_18K": "12"}}
    s = summarize_vitis_report(rep)
    assert s["latency_cycles_worst"] == 1210 and s["interval_cycles_max"] == 1025 and s["dsps"] == 64
    assert s["estimated_clock_ns"] == 4.321 and s["latency_is_estimate"] is False
    with pytest.raises(HlsFlowError):
        summarize_vitis_report({})


def test_yaml_reuse_and_precision_reach_the_hls4ml_config(small_mlp, tmp_path, hls_settings):
    from beamloop.hls import qonnx_flow
    from beamloop.hls.hls4ml_project import hls_config

    model = qonnx_flow.clean(qonnx_flow.export_qonnx(small_mlp.module, (32,), tmp_path / "m.onnx"), False)
    s = hls_settings("mlp", "io_parallel", layer_reuse_factor={"MatMul_0": 4},
                     layer_precision={"Add_1": {"result": "fixed<30,14>"}})
    cfg = hls_config(model, s)
    assert cfg["LayerName"]["MatMul_0"]["ReuseFactor"] == 4
    assert cfg["LayerName"]["Add_1"]["Precision"]["result"] == "fixed<30,14>"
    s.layer_precision = {"NoSuchLayer": {"result": "fixed<8,4>"}}
    with pytest.raises(HlsFlowError, match="NoSuchLayer"):
        hls_config(model, s)


def test_alignment_yaml_fits_the_network(tmp_path):
    """Every per-layer reuse factor of hls/configs/alignment.yaml names a layer of the alignment MLP
    and is one hls4ml's Resource dense accepts as is (else hls4ml would silently round it)."""
    import hls4ml

    from beamloop.hls import qonnx_flow
    from beamloop.hls.hls4ml_project import hls_config
    from beamloop.models.alignment_net import INPUT_SHAPE
    from beamloop.models.registry import build

    module = build("alignment").eval()
    model = qonnx_flow.clean(qonnx_flow.export_qonnx(module, INPUT_SHAPE, tmp_path / "a.onnx"), False)
    s = HlsSettings.load("alignment")
    cfg = hls_config(model, s)                        # raises if a pattern matches no layer
    dense = {n.name: model.get_tensor_shape(n.input[1]) for n in model.graph.node if n.op_type == "MatMul"}
    assert sorted(dense) == sorted(s.layer_reuse_factor) == ["MatMul_0", "MatMul_1", "MatMul_2"]
    assert dense["MatMul_0"] == [216, 128]
    backend = hls4ml.backends.get_backend("Vitis")
    mults = 0
    for name, (n_in, n_out) in dense.items():
        rf = cfg["LayerName"][name]["ReuseFactor"]
        assert rf == s.layer_reuse_factor[name]
        assert rf in backend.get_valid_reuse_factors(n_in, n_out), (name, n_in, n_out, rf)
        mults += n_in * n_out // rf
    assert mults == 128 + 64 + 10                     # one multiplier per output neuron (docs/hls.md)


def test_compile_trigger_cli_end_to_end(tmp_path):
    """`beamloop compile trigger` through the registry (untrained weights: plumbing), small vector counts."""
    from beamloop.tools.cli import app

    res = CliRunner().invoke(app, ["compile", "trigger", "--untrained", "--out", str(tmp_path), "--vectors", "150",
                                   "--rtl-vectors", "120"])
    assert res.exit_code == 0, res.output
    assert "bit-exact: 150/150" in res.output and "bit-exact RTL: 120/120" in res.output
    assert "stays in the output folder" in res.output
    assert (tmp_path / "rtl" / "trigger_net.v").exists() and (tmp_path / "hls4ml_prj" / "build_prj.tcl").exists()


def test_rounded_reuse_factors_are_reported():
    from beamloop.hls.hls4ml_project import reuse_factor_changes

    s = HlsSettings.load("alignment")
    s.layer_reuse_factor = {"MatMul_0": 100, "MatMul_1": 64}
    rows = [{"name": "Dense_MatMul_0", "reuse_factor": 108}, {"name": "Dense_MatMul_1", "reuse_factor": 64},
            {"name": "Relu_0", "reuse_factor": 1}]
    assert reuse_factor_changes(rows, s) == ["Dense_MatMul_0: asked 100, hls4ml uses 108"]
