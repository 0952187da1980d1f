"""Runs the cocotb benches of the trigger path and of dac_limiter on Icarus."""

from __future__ import annotations

from pathlib import Path

import pytest

from beamloop.firmware.sources import DEFAULT_MAP, run_cocotb

HERE = Path(__file__).parent


@pytest.mark.parametrize("features", [1, 2, 3])
def test_trigger_path_bit_exact(features):
    params = {"CLKS_PER_BIT": 8, "MAP_FILE": f'"{DEFAULT_MAP}"', "SHIFT": 0, "DSHIFT": 0,   # set at run time
              "FEATURES": features}
    run_cocotb("beamloop_top", "tb_trigger_path", HERE, parameters=params, build_name=f"top_trigger_v{features}",
               extra_env={"BL_SHIFT": "4", "BL_DSHIFT": "3", "BL_MAP": str(DEFAULT_MAP), "BL_CPB": "8",
                          "BL_FEATURES": str(features),
                          # v3: frames 5, 6 have E2 against a baseline (rb2 != 0 reaches the score)
                          "BL_NFRAMES": "7" if features == 3 else "5"})


@pytest.mark.parametrize("w,h", [(8, 4), (5, 3)])
def test_frame_ingest(w, h):
    run_cocotb("frame_ingest", "tb_frame_ingest", HERE, parameters={"W": w, "H": h},
               build_name=f"ingest_{w}x{h}", extra_env={"BL_W": str(w), "BL_H": str(h)})


@pytest.mark.parametrize("tick_div", [3, 1])   # 1: a tick every cycle, so every move meets stale flags
def test_dac_limiter(tick_div):
    p = {"NCH": 4, "DW": 12, "HW_MIN": 100, "HW_MAX": 4000, "HW_STEP": 500, "RESET_VALUE": 2000,
         "SLEW": 7, "TICK_DIV": tick_div}
    env = {f"BL_{k}": str(v) for k, v in p.items() if k != "RESET_VALUE"}
    env["BL_RESET"] = "2000"
    run_cocotb("dac_limiter", "tb_dac_limiter", HERE, parameters=p, build_name=f"dac_limiter_t{tick_div}", extra_env=env)


def test_dac_spi():
    run_cocotb("dac_spi", "tb_dac_spi", HERE, parameters={"NCH": 8, "DW": 16, "SCLK_DIV": 2}, build_name="dac_spi")


# ---- the real da4ml network inside beamloop_top -------------------------------------------
def _trigger_path_with_net(net_module, net_sources, tag, tmp_path, features: int = 1):
    """Frames -> RTL features -> RTL network: scores must equal the PyTorch network's on the
    RTL's own (golden-checked) inputs, times 2**OUT_FRAC."""
    import json

    import numpy as np
    import torch

    from beamloop.firmware.sources import net_params

    p = net_params(net_sources[0])
    dump = tmp_path / "scores.json"
    params = {"CLKS_PER_BIT": 8, "MAP_FILE": f'"{DEFAULT_MAP}"', "OUT_W": p["OUT_W"], "FEATURES": features}
    run_cocotb("beamloop_top", "tb_trigger_path", HERE, parameters=params, build_name=f"top_trigger_{tag}",
               defines={"BEAMLOOP_TRIGGER_NET_REAL": 1}, net_sources=net_sources,
               extra_env={"BL_SHIFT": "4", "BL_DSHIFT": "3", "BL_MAP": str(DEFAULT_MAP), "BL_CPB": "8",
                          "BL_REAL_NET": "1", "BL_DUMP": str(dump), "BL_FEATURES": str(features)})
    d = json.loads(dump.read_text())
    with torch.no_grad():
        y = net_module(torch.tensor(d["inputs"], dtype=torch.float32)).numpy().ravel().astype(np.float64)
    expect = y * 2.0 ** p.get("OUT_FRAC", 0)
    assert np.array_equal(np.round(expect), expect), "PyTorch scores off the output grid"
    assert d["scores"] == [int(v) for v in expect], f"RTL scores {d['scores']} != PyTorch {expect.tolist()}"


@pytest.fixture(scope="module")
def da4ml_net(tmp_path_factory):
    """A small trigger MLP pushed through the hls/ da4ml flow (untrained, calibrated weights)."""
    torch = pytest.importorskip("torch")
    try:
        from beamloop.hls import da4ml_flow, qonnx_flow
        from beamloop.models.trigger_net import INPUT_SHAPE, TriggerNet
    except ImportError as exc:
        pytest.skip(f"hls/ da4ml flow not available: {exc}")
    tmp = tmp_path_factory.mktemp("fw_trigger_rtl")
    torch.manual_seed(5)
    net = TriggerNet(hidden=(8,)).train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.randint(-128, 256, (128, 32)).float())
    net.eval()
    model = qonnx_flow.clean(qonnx_flow.export_qonnx(net, INPUT_SHAPE, tmp / "t.onnx"), channels_last=False)
    rtl = da4ml_flow.write_trigger_rtl(da4ml_flow.trace_to_comb(model), tmp / "generated", tmp / "trigger_net.v",
                                       latency_cutoff=4)
    return net, [Path(s) for s in rtl.sources]


def test_trigger_path_with_generated_da4ml_net(da4ml_net, tmp_path):
    net, srcs = da4ml_net
    _trigger_path_with_net(net, srcs, "da4ml", tmp_path)


def test_trigger_path_with_committed_net(tmp_path):
    from beamloop.firmware.sources import committed_net_sources

    srcs = committed_net_sources()
    if srcs is None:
        pytest.skip("firmware/rtl/trigger_net.v not generated yet (beamloop compile trigger)")
    try:
        from beamloop.models.registry import load

        net = load("trigger")
    except (FileNotFoundError, ImportError) as exc:
        pytest.skip(f"no committed trigger weights: {exc}")
    _trigger_path_with_net(net.module, srcs, "committed", tmp_path,
                           features=int(net.meta.get("input", {}).get("features_version", 1)))


@pytest.mark.slow
def test_trigger_path_twin_frames(tmp_path):
    """Ronchigrams from the digital twin (beamloop.sim), defocus stepped between frames,
    through the RTL trigger path, bit exact against the golden model."""
    import numpy as np

    from beamloop.sim.microscope import Microscope, MicroscopeConfig

    m = Microscope(MicroscopeConfig(ronchigram={"size_px": 64}), seed=1)
    frames = []
    for i in range(4):
        img, _ = m.acquire()
        frames.append(img)
        k = m.get_knobs()
        k["C10"] = k["C10"] + 20e-9
        m.set_knobs(k)
    np.savez(tmp_path / "frames.npz", frames=np.stack(frames))
    params = {"CLKS_PER_BIT": 8, "MAP_FILE": f'"{DEFAULT_MAP}"'}
    run_cocotb("beamloop_top", "tb_trigger_path", HERE, parameters=params, build_name="top_trigger_twin",
               extra_env={"BL_SHIFT": "12", "BL_DSHIFT": "8", "BL_MAP": str(DEFAULT_MAP), "BL_CPB": "8",
                          "BL_FRAMES": str(tmp_path / "frames.npz")})
