"""Bit-exactness of the da4ml ``trigger_net`` RTL against PyTorch, through cocotb on Icarus.

- the committed RTL (``firmware/rtl/trigger_net.v`` + ``firmware/rtl/generated/``) against the
  committed trigger weights: catches stale RTL after retraining (re-run ``beamloop compile trigger``);
- freshly generated RTL of a small network, so the generator itself is tested on every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def _load_golden():
    """The golden model beside this test, imported by path (pytest runs with --import-mode=importlib)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("beamloop_hil_golden_trigger_net", HERE / "golden_trigger_net.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


golden = _load_golden()
REPO = HERE.parent.parent
WRAPPER = REPO / "firmware" / "rtl" / "trigger_net.v"
GENERATED = REPO / "firmware" / "rtl" / "generated"


def _run(sources: list[Path], module, n: int, tag: str, seed: int = 7) -> None:
    import sys

    from cocotb_tools.runner import get_runner

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # the runner passes sys.path on as PYTHONPATH (tb_trigger_net)
    params = golden.wrapper_params(sources[0])
    x = golden.random_features(n, np.random.default_rng(seed), golden.signed_inputs(sources[0]))
    exp = golden.expected_words(module, x, params["OUT_FRAC"])
    base = Path(os.environ.get("BEAMLOOP_SIM_BUILD", Path(tempfile.gettempdir()) / f"beamloop_sim_{os.getuid()}"))
    build = base / f"hls_{tag}"
    build.mkdir(parents=True, exist_ok=True)
    vec = build / "vectors.npz"
    np.savez(vec, words=np.array([f"{w:x}" for w in golden.pack(x)]), expected=exp)
    runner = get_runner("icarus")
    runner.build(sources=[str(s) for s in sources], hdl_toplevel="trigger_net", build_dir=build, always=True,
                 timescale=("1ns", "1ps"))
    from cocotb_tools.runner import get_results

    xml = runner.test(hdl_toplevel="trigger_net", test_module="tb_trigger_net", build_dir=build, test_dir=str(HERE),
                      extra_env={"BL_TN_VECTORS": str(vec), "BL_TN_LATENCY": str(params["LATENCY"]),
                                 "BL_TN_SEED": str(seed)},
                      results_xml=str(build / "results.xml"))   # keep the source tree clean
    total, failed = get_results(xml)
    assert total == 1 and failed == 0, f"cocotb trigger_net bench failed (see {build})"


def _committed():
    if not WRAPPER.exists():
        pytest.skip("firmware/rtl/trigger_net.v not generated yet: run `beamloop compile trigger`")
    try:
        from beamloop.models.registry import load

        net = load("trigger")
    except (FileNotFoundError, ImportError) as exc:
        pytest.skip(f"no committed trigger weights: {exc}")
    return [WRAPPER, *sorted(GENERATED.glob("*.v"))], net.module


def test_committed_trigger_net_matches_pytorch():
    sources, module = _committed()
    _run(sources, module, 600, "committed")


@pytest.mark.slow
def test_committed_trigger_net_matches_pytorch_5000():
    sources, module = _committed()
    _run(sources, module, 5000, "committed_5000", seed=11)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """RTL generated for an (untrained, calibrated) trigger architecture: (module, TriggerRtl)."""
    import torch

    from beamloop.hls import da4ml_flow, qonnx_flow
    from beamloop.models.trigger_net import INPUT_SHAPE, TriggerNet

    tmp = tmp_path_factory.mktemp("trigger_rtl")
    torch.manual_seed(3)
    net = TriggerNet(hidden=(8,)).train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.randint(-128, 256, (128, 32)).float())
    net.eval()
    model = qonnx_flow.clean(qonnx_flow.export_qonnx(net, INPUT_SHAPE, tmp / "t.onnx"), channels_last=False)
    comb = da4ml_flow.trace_to_comb(model, da4ml_flow.byte_port_kif(32, 8, (16, 31)))  # as `beamloop compile`
    return net, da4ml_flow.write_trigger_rtl(comb, tmp / "generated", tmp / "trigger_net.v", latency_cutoff=4)


def test_generated_trigger_net_matches_pytorch(generated):
    net, rtl = generated
    _run(rtl.sources, net, 300, "generated")


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_generated_trigger_net_lint_clean(generated):
    """Verilator -Wall on the wrapper and the da4ml core (da4ml's `negative` helper is skipped: it
    carries a lint pragma Debian's Verilator 5.006 does not know, and the MLP does not use it)."""
    _net, rtl = generated
    files = [str(s) for s in rtl.sources if s.name not in ("negative.v", "lookup_table.v")]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "trigger_net", *files],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
