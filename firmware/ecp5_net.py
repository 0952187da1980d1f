"""The committed trigger network re-pipelined for the ECP5 build (same weights, same function).

``beamloop compile trigger`` writes ``rtl/trigger_net.v`` with da4ml stages sized for the 200 MHz
UltraScale+ target (``latency_cutoff`` in ``hls/configs/trigger.yaml``; 8 cycles = 40 ns). On an
ECP5 those stages take ~17.6 ns (nextpnr, network alone out of context: 56.8 MHz), far beyond the
10 ns of the ULX3S's 100 MHz design clock. :func:`write_ecp5_net` therefore regenerates the same
network (committed Brevitas weights -> QONNX -> da4ml) with ``da4ml.ecp5_latency_cutoff`` into the
build folder and checks it bit for bit in Icarus against PyTorch before the build uses it: more
pipeline registers, identical scores. ``trigger_core`` follows ``out_valid``, so only the
latency changes (reported with the build).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beamloop.firmware.build import BuildError

DEFAULT_CUTOFF = 1.0


@dataclass
class Ecp5Net:
    sources: list[Path]      # wrapper first, then da4ml's files
    latency: int             # cycles in_valid -> out_valid
    out_width: int
    cutoff: float
    vectors: int             # vectors checked bit for bit in Icarus


def ecp5_cutoff() -> float:
    """``da4ml.ecp5_latency_cutoff`` of ``hls/configs/trigger.yaml`` (da4ml delay units per stage)."""
    from beamloop.hls.hls4ml_project import HlsSettings

    return float(HlsSettings.load("trigger").da4ml.get("ecp5_latency_cutoff", DEFAULT_CUTOFF))


def write_ecp5_net(out_dir: str | Path, cutoff: float | None = None, n_vectors: int = 1000, seed: int = 0) -> Ecp5Net:
    """Regenerate the committed trigger network's RTL at ``cutoff`` into ``out_dir`` and verify it
    in Icarus on ``n_vectors`` byte-port vectors (port extremes + random bytes) against PyTorch;
    raises :class:`BuildError` on any mismatch or latency other than the wrapper's LATENCY."""
    from beamloop.hls import bitexact, da4ml_flow, qonnx_flow, rtl_sim
    from beamloop.hls.compile_flow import _torch_forward, load_network, port_signed_inputs
    from beamloop.hls.hls4ml_project import HlsSettings

    cfg = HlsSettings.load("trigger").da4ml
    cutoff = ecp5_cutoff() if cutoff is None else float(cutoff)
    in_bits = int(cfg.get("in_bits", 8))
    out = Path(out_dir).resolve()
    net = load_network("trigger")
    sr = port_signed_inputs(net, {"signed_inputs": (16, 31)} | dict(cfg))
    raw = qonnx_flow.export_qonnx(net.module, tuple(net.input_shape), out / "qonnx" / "trigger.onnx")
    model = qonnx_flow.clean(raw, channels_last=False)
    n_in = int(np.prod(net.input_shape))
    comb = da4ml_flow.trace_to_comb(model, da4ml_flow.byte_port_kif(n_in, in_bits, sr))
    rtl = da4ml_flow.write_trigger_rtl(comb, out / "generated", out / "trigger_net.v", module=cfg.get("module", "trigger_net"),
                                       latency_cutoff=cutoff, in_bits=in_bits, signed_inputs=sr)
    signed = np.zeros(n_in, dtype=bool)
    signed[sr[0]:sr[1] + 1] = True
    lo = np.where(signed, -(2 ** (in_bits - 1)), 0)
    hi = np.where(signed, 2 ** (in_bits - 1) - 1, 2 ** in_bits - 1)
    x = np.random.default_rng(seed).integers(lo, hi + 1, size=(n_vectors, n_in)).astype(np.float32)
    x[:2] = lo, hi
    y_torch = _torch_forward(net.module, x)
    sim = rtl_sim.simulate(rtl.sources, rtl.module, x.astype(np.int64), rtl.out_width, rtl.latency, in_bits, seed,
                           workdir=out / "icarus")
    y_rtl = sim.outputs.astype(np.float64) * 2.0 ** -rtl.out_frac
    rep = bitexact.compare("trigger", y_torch, {"ecp5_rtl": y_rtl.reshape(-1, 1)})
    if not rep.ok or sim.latency_cycles != [rtl.latency] or sim.n_out != n_vectors:
        raise BuildError(f"ECP5 trigger net (cutoff {cutoff:g}) not bit exact / wrong latency: {rep.summary()}, "
                         f"latencies {sim.latency_cycles} (expected [{rtl.latency}]), {sim.n_out}/{n_vectors} out")
    return Ecp5Net(list(rtl.sources), rtl.latency, rtl.out_width, cutoff, n_vectors)
