"""``beamloop compile <model>``: checkpoint -> QONNX -> hls4ml project (+ da4ml RTL) with bit-exact proof.

Steps, each failing with a clear :mod:`beamloop.hls.errors` message:

1. export the Brevitas module to QONNX and clean it (:mod:`beamloop.hls.qonnx_flow`);
2. refuse non power-of-two scales and layers hls4ml cannot map, before converting;
3. hls4ml project (settings from ``hls/configs/<model>.yaml``) and its compiled C++ emulation;
4. bit-exact check PyTorch = QONNX = hls4ml on ``n`` inputs on the input grid (realistic samples
   from the twin where available, grid corners, uniform random); any mismatch fails;
5. latency estimate (:mod:`beamloop.hls.latency`);
6. for networks with a ``da4ml`` section (the trigger MLP): da4ml Verilog + ``trigger_net``
   wrapper, checked bit-exact in da4ml's interpreter and in Icarus against PyTorch.

Everything goes to ``out_dir`` (``report.json`` summarises it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from beamloop.hls import bitexact, latency, qonnx_flow
from beamloop.hls.errors import HlsFlowError, require_tool
from beamloop.hls.hls4ml_project import HlsSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CompileResult:
    network: str
    out_dir: Path
    settings: HlsSettings
    bitexact: bitexact.BitExactReport
    latency: latency.LatencyEstimate
    layers: list[dict[str, Any]]
    input_grid: qonnx_flow.InputGrid
    rtl: Any = None                                   # da4ml_flow.TriggerRtl
    rtl_bitexact: bitexact.BitExactReport | None = None
    rtl_latency_measured: list[int] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    vector_source: str = ""
    hls_model: Any = None                             # the compiled hls4ml model (emulation), not serialised

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "network": self.network,
            "out_dir": str(self.out_dir),
            "project": str(self.out_dir / "hls4ml_prj"),
            "io_type": self.settings.io_type,
            "strategy": self.settings.strategy,
            "part": self.settings.part,
            "clock_mhz": self.settings.clock_mhz,
            "input_grid": {"scale": self.input_grid.scale, "lo": self.input_grid.lo, "hi": self.input_grid.hi,
                           "bits": self.input_grid.bits, "signed": self.input_grid.signed},
            "vector_source": self.vector_source,
            "bit_exact": self.bitexact.as_dict(),
            "hls4ml_latency_estimate": self.latency.as_dict(),
            "timings_s": self.timings_s,
        }
        if self.rtl is not None:
            d["rtl"] = {
                "wrapper": str(self.rtl.wrapper), "sources": [str(s) for s in self.rtl.sources],
                "latency_cycles": self.rtl.latency, "latency_measured_icarus": self.rtl_latency_measured,
                "out_width": self.rtl.out_width, "out_frac": self.rtl.out_frac,
                "da4ml_luts_estimate": self.rtl.luts_estimate, "da4ml_ffs_estimate": self.rtl.ffs_estimate,
                "bit_exact_icarus": self.rtl_bitexact.as_dict() if self.rtl_bitexact else None,
            }
        return d


def _realistic(net, n: int, seed: int, log: Callable[[str], None]) -> np.ndarray | None:
    sampler = getattr(net, "sample_inputs", None)
    if sampler is None or n <= 0:
        return None
    try:
        x = sampler(n, np.random.default_rng(seed))
        return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - realistic samples are a bonus; random grid vectors still run
        log(f"  (no realistic samples: {type(exc).__name__}: {exc}; using grid corners + random vectors)")
        return None


def _torch_forward(module, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    import torch

    module.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            outs.append(module(torch.from_numpy(np.ascontiguousarray(x[s:s + batch]))).detach().numpy())
    y = np.concatenate(outs)
    return y.reshape(len(y), -1)


def compile_network(net, settings: HlsSettings, out_dir: str | Path, *, n_vectors: int | None = None,
                    seed: int = 0, rtl_dir: str | Path | None = None, wrapper_path: str | Path | None = None,
                    rtl_vectors: int | None = None, log: Callable[[str], None] = print) -> CompileResult:
    """Run the whole flow for ``net`` (``.module``, ``.input_shape``, optional ``.sample_inputs``).

    The trigger RTL is written to ``<out_dir>/rtl/`` and checked there; only when every check
    passed is it copied to ``rtl_dir``/``wrapper_path`` (``beamloop compile trigger``:
    ``firmware/rtl/generated/`` and ``firmware/rtl/trigger_net.v``).
    """
    from beamloop.hls import hls4ml_project

    require_tool("g++", "hls4ml's bit-accurate C++ emulation (the bit-exact check of every compile)")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = settings.model
    timings: dict[str, float] = {}
    n = int(n_vectors or settings.bitexact.get("n_vectors", 2000))
    input_shape = tuple(net.input_shape)
    is_cnn = len(input_shape) == 3

    t0 = time.perf_counter()
    raw = qonnx_flow.export_qonnx(net.module, input_shape, out_dir / "qonnx" / f"{name}.onnx")
    model = qonnx_flow.clean(raw, channels_last=is_cnn)
    model.save(str(out_dir / "qonnx" / f"{name}_clean.onnx"))
    qonnx_flow.check_power_of_two(model)
    qonnx_flow.check_operators(model, hls4ml_project.supported_operators(), f"hls4ml (Vitis, {settings.io_type})")
    grid = qonnx_flow.input_grid(model)
    timings["export_clean_s"] = time.perf_counter() - t0
    log(f"[{name}] QONNX exported and cleaned: {out_dir / 'qonnx'}; input grid {grid.lo}..{grid.hi} x {grid.scale:g}")

    rng = np.random.default_rng(seed)
    n_real = min(int(settings.bitexact.get("n_realistic", n // 2)), n // 2)
    real = _realistic(net, n_real, seed, log)
    if real is not None and not grid.on_grid(real):
        raise HlsFlowError(
            f"{name}: sample_inputs() returned values off the input quantiser's grid ({grid.lo}..{grid.hi} x "
            f"{grid.scale:g}); they must be put on the grid (LoadedModel.to_input_grid) before the bit-exact check."
        )
    x = bitexact.make_vectors(grid, input_shape, n, rng, realistic=real)
    source = f"{0 if real is None else min(len(real), n - 3)} realistic (twin) + grid corners + uniform random"

    t0 = time.perf_counter()
    y_torch = _torch_forward(net.module, x)
    x_hw = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if is_cnn else x
    y_qonnx = qonnx_flow.run_qonnx(model, x_hw).reshape(n, -1)
    timings["torch_qonnx_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    hls_model = hls4ml_project.convert(model, settings, out_dir / "hls4ml_prj")
    hls4ml_project.compile_emulation(hls_model)
    timings["hls4ml_convert_compile_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    y_hls = hls4ml_project.predict(hls_model, x_hw)
    timings["hls4ml_predict_s"] = time.perf_counter() - t0
    report = bitexact.compare(name, y_torch, {"qonnx": y_qonnx, "hls4ml": y_hls})
    log(f"[{name}] hls4ml project: {out_dir / 'hls4ml_prj'} (build_prj.tcl for Vitis HLS)")
    log(f"[{name}] {report.summary()}")

    layers = hls4ml_project.layer_table(hls_model)
    for change in hls4ml_project.reuse_factor_changes(layers, settings):
        log(f"[{name}] note: reuse factor not valid for hls4ml's {settings.strategy} dense, rounded: {change}")
    est = latency.estimate(layers, settings.io_type, settings.clock_mhz, hls4ml_project.pipeline_style(hls_model))
    log(f"[{name}] hls4ml latency ESTIMATE: {est.cycles} cycles = {est.ns:.0f} ns at {settings.clock_mhz:g} MHz, "
        f"interval {est.interval_cycles} cycles = {est.interval_ns:.0f} ns ({est.pipeline_style} top)"
        + (f" (target {settings.latency_target_ns:g} ns)" if settings.latency_target_ns else ""))

    result = CompileResult(network=name, out_dir=out_dir, settings=settings, bitexact=report, latency=est,
                           layers=layers, input_grid=grid, timings_s=timings, vector_source=source,
                           hls_model=hls_model)
    if not report.ok:
        _write_report(result)
        report.raise_if_mismatch()

    if settings.da4ml:
        _rtl(result, net, model, settings, x, y_torch, rtl_dir, wrapper_path, rtl_vectors, seed, log)
    _write_report(result)
    return result


def port_signed_inputs(net, cfg: dict) -> tuple[int, int]:
    """Inclusive range of the inputs that are two's complement bytes on the ``trigger_net`` port: the
    network's own record (``meta["input"]["signed_inputs"]``, written by ``beamloop train trigger``:
    features v2 (16, 31), v3 (0, 31)) when it has one, else ``da4ml.signed_inputs`` of the config."""
    rec = (getattr(net, "meta", None) or {}).get("input", {}).get("signed_inputs")
    return tuple(int(v) for v in (rec if rec is not None else cfg.get("signed_inputs", (0, -1))))


def _byte_domain(x: np.ndarray, in_bits: int, signed_range: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which vectors the ``trigger_net`` byte port can carry, and the per-input byte ranges (lo, hi)."""
    n_in = x.shape[1]
    signed = np.zeros(n_in, dtype=bool)
    signed[signed_range[0]:signed_range[1] + 1] = True
    lo = np.where(signed, -(2 ** (in_bits - 1)), 0)
    hi = np.where(signed, 2 ** (in_bits - 1) - 1, 2**in_bits - 1)
    ok = np.all((x >= lo) & (x <= hi), axis=1)
    return ok, lo, hi


def _rtl(result: CompileResult, net, model, settings: HlsSettings, x, y_torch, rtl_dir, wrapper_path,
         rtl_vectors, seed, log) -> None:
    from beamloop.hls import da4ml_flow, rtl_sim

    cfg = settings.da4ml
    name = settings.model
    in_bits = int(cfg.get("in_bits", 8))
    sr = port_signed_inputs(net, cfg)
    module = cfg.get("module", "trigger_net")
    stage_dir, stage_wrapper = result.out_dir / "rtl" / "generated", result.out_dir / "rtl" / f"{module}.v"

    # Vectors on the byte port (realistic samples that fit + random bytes): the RTL's input domain.
    n_rtl = int(rtl_vectors or cfg.get("rtl_vectors", 2000))
    ok, lo, hi = _byte_domain(x, in_bits, sr)
    xs = x[ok][: n_rtl // 2]
    rng = np.random.default_rng(seed + 1)
    extra = rng.integers(lo, hi + 1, size=(max(n_rtl - len(xs), 0), x.shape[1])).astype(np.float32)
    xr = np.concatenate([xs, extra])[:n_rtl]
    xr[:2] = lo, hi                                   # port extremes
    yr_torch = _torch_forward(net.module, xr)

    t0 = time.perf_counter()
    comb = da4ml_flow.trace_to_comb(model, da4ml_flow.byte_port_kif(x.shape[1], in_bits, sr))
    y_da = da4ml_flow.predict(comb, xr)
    rep = bitexact.compare(name, yr_torch, {"da4ml": y_da})
    log(f"[{name}] da4ml interpreter (byte-port vectors): {rep.summary()}")
    rep.raise_if_mismatch()
    rtl = da4ml_flow.write_trigger_rtl(
        comb, stage_dir, stage_wrapper, module=module,
        latency_cutoff=float(cfg.get("latency_cutoff", 2.0)), clock_period_ns=settings.clock_period_ns,
        part=settings.part, in_bits=in_bits, signed_inputs=sr)
    result.rtl = rtl
    result.timings_s["da4ml_s"] = time.perf_counter() - t0
    log(f"[{name}] da4ml Verilog: {rtl.wrapper} + {len(rtl.sources) - 1} files in {stage_dir}; "
        f"LATENCY {rtl.latency} cycles = {rtl.latency * settings.clock_period_ns:g} ns; "
        f"da4ml estimate {rtl.luts_estimate:.0f} LUTs")

    t0 = time.perf_counter()
    sim = rtl_sim.simulate(rtl.sources, rtl.module, xr.astype(np.int64), rtl.out_width, rtl.latency, in_bits, seed)
    result.timings_s["icarus_s"] = time.perf_counter() - t0
    if sim.n_out != len(xr):
        raise HlsFlowError(f"Icarus: {len(xr)} vectors in, {sim.n_out} out_valid words out")
    y_rtl = sim.outputs.astype(np.float64) * 2.0 ** -rtl.out_frac
    rep_rtl = bitexact.compare(name, yr_torch, {"icarus_rtl": y_rtl.reshape(-1, 1)})
    result.rtl_bitexact = rep_rtl
    result.rtl_latency_measured = sim.latency_cycles
    log(f"[{name}] Icarus RTL ({len(xr)} vectors, valid gaps): {rep_rtl.summary()}; "
        f"measured latency {sim.latency_cycles} cycles")
    rep_rtl.raise_if_mismatch()
    if sim.latency_cycles != [rtl.latency]:
        raise HlsFlowError(f"Icarus measured latencies {sim.latency_cycles}, expected [{rtl.latency}]")
    if rtl_dir or wrapper_path:  # install only verified RTL (e.g. into firmware/rtl)
        result.rtl = da4ml_flow.install_rtl(rtl, rtl_dir or stage_dir, wrapper_path or stage_wrapper)
        log(f"[{name}] installed {result.rtl.wrapper} and {Path(rtl_dir or stage_dir)}/")


def _write_report(result: CompileResult) -> None:
    (result.out_dir / "report.json").write_text(json.dumps(result.as_dict(), indent=2, default=float) + "\n")


def load_network(name: str, pretrained: bool = True, weights_dir: str | Path | None = None):
    """The registry's network ``name`` (committed weights, or those in ``weights_dir``), with a
    clear error when they are missing or do not fit the architecture."""
    try:
        from beamloop.models.registry import load
    except ImportError as exc:
        raise HlsFlowError(f"beamloop.models.registry is not available ({exc})") from exc
    try:
        return load(name, weights_dir=weights_dir, pretrained=pretrained)
    except FileNotFoundError as exc:
        raise HlsFlowError(f"{exc} (or pass --untrained to compile the untrained architecture)") from exc
    except (RuntimeError, TypeError) as exc:  # weights/metadata of another architecture (stale files)
        where = weights_dir or "models/weights"
        raise HlsFlowError(
            f"the weights or metadata of {name!r} in {where} ({name}.pt/{name}.json) do not fit its current "
            f"architecture ({type(exc).__name__}: {str(exc).splitlines()[0]}). Retrain (`beamloop train {name}`)."
        ) from exc
