"""Cleaned QONNX graph -> hls4ml project (Vitis backend) with a compiled bit-accurate C++ emulation.

The per-network settings come from the reviewed YAML files in ``hls/configs/`` (:class:`HlsSettings`);
the precision of every quantised tensor comes from the graph's ``Quant`` nodes
(``config_from_onnx_model(granularity='name')``).
"""

from __future__ import annotations

import fnmatch
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from beamloop.hls.errors import HlsFlowError, ToolMissingError, UnsupportedLayerError, require_tool

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class HlsSettings:
    """One network's reviewed hls4ml settings (``hls/configs/<model>.yaml``)."""

    model: str
    project_name: str
    backend: str
    part: str
    clock_period_ns: float
    io_type: str
    strategy: str
    default_precision: str
    reuse_factor: int
    layer_reuse_factor: dict[str, int] = field(default_factory=dict)
    layer_precision: dict[str, dict[str, str]] = field(default_factory=dict)
    bitexact: dict[str, Any] = field(default_factory=dict)
    latency_target_ns: float | None = None
    da4ml: dict[str, Any] = field(default_factory=dict)

    @property
    def clock_mhz(self) -> float:
        return 1e3 / self.clock_period_ns

    @classmethod
    def load(cls, name_or_path: str | Path) -> "HlsSettings":
        """Load ``hls/configs/<name>.yaml`` (or an explicit YAML path) and validate it."""
        path = Path(name_or_path)
        if not path.suffix:
            path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
            raise HlsFlowError(f"no hls4ml configuration {path}; known configurations: {known}")
        raw = yaml.safe_load(path.read_text()) or {}
        allowed = set(cls.__dataclass_fields__)
        unknown = set(raw) - allowed
        if unknown:
            raise HlsFlowError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        try:
            s = cls(**raw)
        except TypeError as exc:
            raise HlsFlowError(f"{path}: {exc}") from exc
        if s.io_type not in ("io_stream", "io_parallel"):
            raise HlsFlowError(f"{path}: io_type must be io_stream or io_parallel, got {s.io_type!r}")
        if s.strategy.lower() not in ("latency", "resource"):
            raise HlsFlowError(f"{path}: strategy must be Latency or Resource, got {s.strategy!r}")
        if not s.clock_period_ns > 0:
            raise HlsFlowError(f"{path}: clock_period_ns must be > 0, got {s.clock_period_ns}")
        s.layer_reuse_factor = dict(s.layer_reuse_factor or {})
        return s


def supported_operators() -> list[str]:
    """ONNX operators hls4ml's ONNX front end maps (hls4ml's own list)."""
    from hls4ml.converters.onnx_to_hls import get_supported_onnx_layers

    return list(get_supported_onnx_layers())


def hls_config(model, settings: HlsSettings) -> dict:
    """hls4ml configuration dict: ``config_from_onnx_model`` plus the YAML's strategy/reuse factors."""
    import hls4ml

    cfg = hls4ml.utils.config_from_onnx_model(
        model, granularity="name", backend=settings.backend,
        default_precision=settings.default_precision, default_reuse_factor=settings.reuse_factor,
    )
    cfg["Model"]["Strategy"] = settings.strategy
    cfg["Model"]["ReuseFactor"] = settings.reuse_factor
    layers = cfg.get("LayerName", {})
    for pattern, rf in settings.layer_reuse_factor.items():
        hits = [name for name in layers if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise HlsFlowError(
                f"hls/configs/{settings.model}.yaml: layer_reuse_factor pattern {pattern!r} matches no layer; "
                f"layers are {sorted(layers)}"
            )
        for name in hits:
            layers[name]["ReuseFactor"] = int(rf)
    for pattern, prec in (settings.layer_precision or {}).items():
        hits = [name for name in layers if fnmatch.fnmatchcase(name, pattern)]
        if not hits or not isinstance(prec, dict):
            raise HlsFlowError(
                f"hls/configs/{settings.model}.yaml: layer_precision {pattern!r} must map an existing layer "
                f"to {{result|accum|weight|bias: 'fixed<W,I,...>'}}; layers are {sorted(layers)}"
            )
        for name in hits:
            current = layers[name].get("Precision")
            if not isinstance(current, dict):
                current = {"result": current} if current else {}
            current.update({k: str(v) for k, v in prec.items()})
            layers[name]["Precision"] = current
    for name in layers:
        layers[name]["Strategy"] = settings.strategy
    return cfg


def convert(model, settings: HlsSettings, out_dir: str | Path):
    """Convert a cleaned QONNX ``ModelWrapper`` into an hls4ml model writing to ``out_dir``."""
    import hls4ml

    import contextlib

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = out_dir.parent / f"{out_dir.name}_convert.log"
    try:
        with open(log_path, "w") as log, contextlib.redirect_stdout(log):  # hls4ml prints its topology
            return hls4ml.converters.convert_from_onnx_model(
                model, output_dir=str(out_dir), project_name=settings.project_name,
                io_type=settings.io_type, backend=settings.backend, hls_config=hls_config(model, settings),
                part=settings.part, clock_period=settings.clock_period_ns,
            )
    except (AttributeError, KeyError, NotImplementedError, AssertionError) as exc:
        raise UnsupportedLayerError(
            f"hls4ml {hls4ml.__version__} could not map the network ({type(exc).__name__}: {exc}). "
            "Check that every layer is a Brevitas QuantConv2d/QuantLinear/QuantReLU/MaxPool2d/Flatten "
            "with power-of-two quantisers (docs/hls.md, 'What maps')."
        ) from exc


def compile_emulation(hls_model) -> None:
    """Write the project and build hls4ml's bit-accurate C++ emulation (needs g++ only)."""
    require_tool("g++", "hls4ml's bit-accurate C++ emulation")
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            hls_model.compile()
    except FileNotFoundError as exc:  # g++ disappeared between check and use
        raise ToolMissingError(f"hls4ml emulation build failed: {exc}; install g++ (scripts/setup.sh)") from exc
    except Exception as exc:  # noqa: BLE001 - add context: compiler output is in the project folder
        raise HlsFlowError(
            f"hls4ml could not compile the C++ emulation in {hls_model.config.get_output_dir()}: {exc}"
        ) from exc


def predict(hls_model, x: np.ndarray) -> np.ndarray:
    """Run the compiled emulation on ``x`` (batch first, channels-last for CNNs) -> (N, n_out)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(hls_model.predict(x))
    return y.reshape(len(x), -1)


def layer_table(hls_model) -> list[dict[str, Any]]:
    """Per-layer facts the latency estimate needs (name, class, shapes, reuse factor, n_in/n_out)."""
    rows = []
    for layer in hls_model.get_layers():
        inp = layer.get_input_variable() if layer.inputs else None
        out = layer.get_output_variable()
        rows.append({
            "name": layer.name,
            "class": layer.class_name,
            "in_shape": list(inp.shape) if inp is not None else None,
            "out_shape": list(out.shape),
            "reuse_factor": int(layer.get_attr("reuse_factor", 1) or 1),
            "strategy": layer.get_attr("strategy"),
            "n_in": layer.get_attr("n_in"),
            "n_out": layer.get_attr("n_out"),
            "n_chan": layer.get_attr("n_chan"),
            "n_filt": layer.get_attr("n_filt"),
            "filt_height": layer.get_attr("filt_height"),
            "filt_width": layer.get_attr("filt_width"),
            "stride_height": layer.get_attr("stride_height"),
            "stride_width": layer.get_attr("stride_width"),
            "pool_height": layer.get_attr("pool_height"),
            "pool_width": layer.get_attr("pool_width"),
            "in_height": layer.get_attr("in_height"),
            "in_width": layer.get_attr("in_width"),
            "out_height": layer.get_attr("out_height"),
            "out_width": layer.get_attr("out_width"),
        })
    return rows


def pipeline_style(hls_model) -> str:
    """hls4ml's top-level pipeline style after conversion: ``"pipeline"`` or ``"dataflow"``.

    hls4ml picks ``dataflow`` for ``io_stream`` and for the Resource strategy (every layer a
    dataflow process), ``pipeline`` for ``io_parallel`` with the Latency strategy.
    """
    style = str(getattr(hls_model.config, "pipeline_style", "") or "").lower()
    if style not in ("pipeline", "dataflow"):
        style = "dataflow" if hls_model.config.get_config_value("IOType") == "io_stream" else "pipeline"
    return style


def reuse_factor_changes(layers: list[dict[str, Any]], settings: HlsSettings) -> list[str]:
    """Layers whose applied reuse factor differs from the YAML's (hls4ml rounds invalid ones).

    hls4ml names a converted layer after its ONNX node (``Dense_MatMul_0`` for ``MatMul_0``);
    a YAML pattern applies to a layer when it matches the name or the name without that prefix.
    """
    out = []
    for row in layers:
        base = row["name"].split("_", 1)[1] if "_" in row["name"] else row["name"]
        for pattern, rf in settings.layer_reuse_factor.items():
            if fnmatch.fnmatchcase(row["name"], pattern) or fnmatch.fnmatchcase(base, pattern):
                if int(row["reuse_factor"]) != int(rf):
                    out.append(f"{row['name']}: asked {rf}, hls4ml uses {row['reuse_factor']}")
                break
    return out


def run_vitis(project_dir: str | Path) -> dict[str, Any]:
    """Run ``vitis_hls -f build_prj.tcl`` (C synthesis only) and parse the latency/resource report.

    Raises :class:`ToolMissingError` with what to do when Vitis HLS is not on PATH.
    """
    import subprocess

    require_tool("vitis_hls", "--synth (C synthesis with Vitis HLS)")
    project_dir = Path(project_dir)
    opts = {"reset": 0, "csim": 0, "synth": 1, "cosim": 0, "validation": 0, "export": 0, "vsynth": 0, "fifo_opt": 0}
    (project_dir / "build_opt.tcl").write_text(
        "array set opt {\n" + "".join(f"    {k} {v}\n" for k, v in opts.items()) + "}\n")
    proc = subprocess.run(["vitis_hls", "-f", "build_prj.tcl"], cwd=project_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HlsFlowError(f"vitis_hls failed (exit {proc.returncode}) in {project_dir}:\n{proc.stdout[-2000:]}")
    from hls4ml.report import parse_vivado_report

    return summarize_vitis_report(parse_vivado_report(str(project_dir)) or {})


VITIS_KEYS = {"BestLatency": "latency_cycles_best", "WorstLatency": "latency_cycles_worst",
              "IntervalMin": "interval_cycles_min", "IntervalMax": "interval_cycles_max",
              "EstimatedClockPeriod": "estimated_clock_ns", "LUT": "luts", "FF": "ffs", "DSP": "dsps",
              "DSP48E": "dsps", "BRAM_18K": "bram_18k"}


def summarize_vitis_report(report: dict[str, Any]) -> dict[str, Any]:
    """hls4ml's parsed Vitis report -> latency/II/resource numbers (``latency_is_estimate: False``)."""
    csyn = report.get("CSynthesisReport", {}) if isinstance(report, dict) else {}
    out: dict[str, Any] = {}
    for key, name in VITIS_KEYS.items():
        if key in csyn:
            try:
                out[name] = float(csyn[key]) if "." in str(csyn[key]) else int(csyn[key])
            except ValueError:
                out[name] = csyn[key]
    if not out:
        raise HlsFlowError(f"no C synthesis report found (parsed: {list(report)}); did csynth run?")
    out["latency_is_estimate"] = False
    out["source"] = "Vitis HLS csynth report"
    return out
