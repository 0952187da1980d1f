"""The whole compile flow on small networks: hls4ml emulation, da4ml RTL in Icarus, failure paths.

One hls4ml compile per io type (a few seconds each); a few hundred vectors. The committed
networks with thousands of vectors run in ``beamloop compile`` and the slow tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from beamloop.hls import da4ml_flow, qonnx_flow
from beamloop.hls.compile_flow import compile_network
from beamloop.hls.errors import BitExactMismatchError, NonPowerOfTwoScaleError, QuantizerConfigError, ToolMissingError


@pytest.fixture(scope="module")
def mlp_result(small_mlp, tmp_path_factory, hls_settings):
    out = tmp_path_factory.mktemp("mlp")
    return compile_network(small_mlp, hls_settings("mlp", "io_parallel", da4ml=True), out, n_vectors=300,
                           rtl_vectors=200, rtl_dir=out / "fw" / "generated", wrapper_path=out / "fw" / "trigger_net.v",
                           log=lambda s: None)


def test_mlp_hls4ml_and_rtl_are_bit_exact(mlp_result):
    r = mlp_result
    assert r.bitexact.total == 300 and r.bitexact.matches == 300
    assert r.bitexact.per_impl == {"qonnx": 300, "hls4ml": 300}
    assert r.rtl_bitexact.total == 200 and r.rtl_bitexact.matches == 200
    assert r.rtl_latency_measured == [r.rtl.latency]
    # verified RTL installed at the requested place (firmware/rtl for `beamloop compile trigger`)
    assert r.rtl.wrapper == r.out_dir / "fw" / "trigger_net.v" and r.rtl.wrapper.exists()
    assert all(p.exists() and p.parent in (r.out_dir / "fw", r.out_dir / "fw" / "generated") for p in r.rtl.sources)
    assert (r.out_dir / "hls4ml_prj" / "build_prj.tcl").exists()
    rep = json.loads((r.out_dir / "report.json").read_text())
    assert rep["bit_exact"]["matches"] == 300 and rep["rtl"]["latency_cycles"] == r.rtl.latency


def test_trigger_wrapper_contract(mlp_result):
    text = mlp_result.rtl.wrapper.read_text()
    assert "`default_nettype none" in text and "module trigger_net" in text
    for port in ("input  wire                    clk", "in_valid", "[32*8-1:0]         in_data", "out_valid",
                 "output wire signed [OUT_W-1:0] out_data"):
        assert port in text
    assert f"parameter integer LATENCY = {mlp_result.rtl.latency}" in text
    defs = (mlp_result.rtl.sources[1].parent / "trigger_net_defs.vh").read_text()
    assert f"`define TRIGGER_NET_OUT_W {mlp_result.rtl.out_width}" in defs


def test_too_narrow_precision_fails_the_compile(small_mlp, tmp_path, hls_settings):
    """The check can fail: a too-narrow default precision for the un-quantised output truncates it."""
    s = hls_settings("narrow", "io_parallel", default_precision="fixed<10,4>")
    with pytest.raises(BitExactMismatchError) as err:
        compile_network(small_mlp, s, tmp_path, n_vectors=100, log=lambda m: None)
    rep = err.value.report
    assert rep["total"] == 100 and rep["per_impl"]["hls4ml"] < 100 and rep["per_impl"]["qonnx"] == 100
    assert (tmp_path / "report.json").exists()


def test_cnn_stream_project_is_bit_exact(small_cnn, tmp_path, hls_settings):
    s = hls_settings("cnn", "io_stream", layer_reuse_factor={"Conv_1": 2})
    r = compile_network(small_cnn, s, tmp_path, n_vectors=60, log=lambda m: None)
    assert r.bitexact.matches == r.bitexact.total == 60
    rf = {row["name"]: row["reuse_factor"] for row in r.layers}
    assert rf["Conv2D_Conv_1"] == 2
    assert 1024 <= r.latency.interval_cycles < 2300 and r.latency.is_estimate


def test_alignment_mlp_with_committed_config_is_bit_exact(tmp_path):
    """The alignment MLP's architecture (untrained) through hls/configs/alignment.yaml as committed:
    Resource strategy, reuse factor = n_in per layer, a few realistic twin inputs, estimate by hand."""
    from beamloop.hls.hls4ml_project import HlsSettings
    from beamloop.models.alignment_net import N_FEATURES
    from beamloop.models.registry import load

    wdir = tmp_path / "weights"          # metadata only: untrained weights, identity standardisation
    wdir.mkdir()
    (wdir / "alignment.json").write_text(json.dumps({
        "arch": {"kind": "mlp", "hidden": [128, 64], "n_features": N_FEATURES},
        "feature_mean": [0.0] * N_FEATURES, "feature_std": [1.0] * N_FEATURES}))
    torch.manual_seed(0)
    net = load("alignment", weights_dir=wdir, pretrained=False)
    s = HlsSettings.load("alignment")
    s.bitexact = {**s.bitexact, "n_realistic": 3}
    r = compile_network(net, s, tmp_path / "out", n_vectors=200, log=lambda m: None)
    assert r.bitexact.matches == r.bitexact.total == 200
    # the integer numpy form (operator install, FPGA-arithmetic estimator) equals the hls4ml emulation
    from beamloop.hls.hls4ml_project import predict
    from beamloop.models.fixed_point_mlp import from_module

    x = np.random.default_rng(5).normal(0.0, 1.5, (300, N_FEATURES)).astype(np.float32)
    x = net.to_input_grid(x).numpy()
    assert np.array_equal(from_module(net.module)(x), predict(r.hls_model, x).reshape(300, -1).astype(np.float64))
    assert r.vector_source.startswith("3 realistic")
    assert r.hls_model.config.get_config_value("IOType") == "io_parallel"
    dense = {row["name"]: (row["reuse_factor"], row["strategy"]) for row in r.layers if row["class"] == "Dense"}
    assert dense == {"Dense_MatMul_0": (216, "resource"), "Dense_MatMul_1": (128, "resource"),
                     "Dense_MatMul_2": (64, "resource")}
    # by hand as in test_latency.test_parallel_dataflow_mlp_by_hand: 1 + (3+215+1) + 1 + (3+127+1) + 1 + (3+63+1) + 1
    assert (r.latency.pipeline_style, r.latency.cycles, r.latency.interval_cycles) == ("dataflow", 421, 219)
    assert r.latency.ns < s.latency_target_ns
    rep = json.loads((r.out_dir / "report.json").read_text())
    assert rep["io_type"] == "io_parallel" and rep["hls4ml_latency_estimate"]["latency_cycles"] == 421


def test_missing_gxx_is_reported(small_mlp, tmp_path, monkeypatch, hls_settings):
    monkeypatch.setenv("PATH", str(tmp_path))   # an empty directory: no g++
    with pytest.raises(ToolMissingError) as err:
        compile_network(small_mlp, hls_settings("mlp", "io_parallel"), tmp_path / "o", n_vectors=10,
                        log=lambda m: None)
    assert "g++" in str(err.value) and "apt-get install g++" in str(err.value)


def test_compile_refuses_non_power_of_two(npot_mlp, tmp_path, hls_settings):
    with pytest.raises(NonPowerOfTwoScaleError):
        compile_network(npot_mlp, hls_settings("npot", "io_parallel"), tmp_path, n_vectors=10, log=lambda m: None)
    assert not (tmp_path / "hls4ml_prj").exists()   # refused before conversion


def test_da4ml_refuses_round_to_nearest_activations(round_mlp, tmp_path):
    path = qonnx_flow.export_qonnx(round_mlp.module, (32,), tmp_path / "r.onnx")
    model = qonnx_flow.clean(path, channels_last=False)
    with pytest.raises(QuantizerConfigError) as err:
        da4ml_flow.trace_qonnx(model)
    assert "FLOOR" in str(err.value)
