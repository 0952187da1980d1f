"""Brevitas checkpoint -> QONNX -> the cleaned graph hls4ml and da4ml read.

Steps (docs/hls.md, "Flow"):

1. ``export_qonnx(..., dynamo=False)`` (the dynamo exporter breaks ``GemmToMatMul``);
2. ``cleanup_model``, ``ConvertToChannelsLastAndClean`` (CNNs), ``GemmToMatMul``, ``cleanup_model``
   (the same sequence as :func:`beamloop.models.export.load_clean`);
3. for CNNs, drop the ``Transpose`` the channels-last conversion leaves in front of the graph, so
   the graph (and the IP core) takes channels-last data directly (otherwise hls4ml builds a
   transpose stage with a frame-deep FIFO);
4. checks before any conversion: every ``Quant`` scale a power of two, zero point 0, every
   operator known to the target tool. Failing checks raise :mod:`beamloop.hls.errors` with what
   to change.

Also: the input quantiser's grid (:class:`InputGrid`) and a batched QONNX executor.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from beamloop.hls.errors import NonPowerOfTwoScaleError, QuantizerConfigError, UnsupportedLayerError


@dataclass(frozen=True)
class QuantSpec:
    """One QONNX ``Quant`` node: ``y = clamp(round(x / scale) + zeropt) - zeropt) * scale``."""

    node: str
    tensor: str             # quantised input tensor name
    scale: np.ndarray
    zeropt: np.ndarray
    bitwidth: int
    signed: bool
    narrow: bool
    rounding_mode: str
    on_constant: bool       # quantises an initializer (weights/bias) rather than activations

    @property
    def frac_bits(self) -> int:
        """Fraction bits f with scale = 2**-f (per-tensor power-of-two scale)."""
        return int(round(-math.log2(float(np.max(self.scale)))))

    @property
    def int_range(self) -> tuple[int, int]:
        """Smallest and largest integer code (before multiplying by ``scale``)."""
        b = self.bitwidth
        if self.signed:
            lo = -(2 ** (b - 1)) + (1 if self.narrow else 0)
            return lo, 2 ** (b - 1) - 1
        return 0, 2**b - 1 - (1 if self.narrow else 0)


@dataclass(frozen=True)
class InputGrid:
    """The input quantiser's grid: values ``scale * n`` for integer ``n`` in ``[lo, hi]``."""

    scale: float
    lo: int
    hi: int
    bits: int
    signed: bool

    def random(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Uniformly random on-grid values (float32) of ``shape``."""
        return (rng.integers(self.lo, self.hi + 1, size=shape) * self.scale).astype(np.float32)

    def on_grid(self, x: np.ndarray) -> bool:
        n = np.asarray(x, dtype=np.float64) / self.scale
        return bool(np.all(n == np.round(n)) and np.all(n >= self.lo) and np.all(n <= self.hi))


def export_qonnx(module, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Export a Brevitas module (eval mode) to QONNX for a batch-1 input of ``input_shape``."""
    import torch
    from brevitas.export import export_qonnx as _export

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    _export(module, torch.zeros((1, *input_shape), dtype=torch.float32), export_path=str(path), dynamo=False)
    return path


def clean(path: str | Path, channels_last: bool):
    """Load ``path`` and apply the clean-up sequence; CNNs become channels-last at the input too."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(path)))
    if channels_last:
        model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    model = cleanup_model(model)
    if channels_last:
        model = strip_input_transpose(model)
    return model


def strip_input_transpose(model):
    """Remove a leading NCHW->NHWC ``Transpose`` so the graph input itself is channels-last."""
    from qonnx.util.cleanup import cleanup_model

    inp = model.graph.input[0]
    consumers = model.find_consumers(inp.name) or []
    if len(consumers) != 1 or consumers[0].op_type != "Transpose":
        return model
    tr = consumers[0]
    perm = next(list(a.ints) for a in tr.attribute if a.name == "perm")
    shape = model.get_tensor_shape(inp.name)
    for c in model.find_consumers(tr.output[0]) or []:
        for k, name in enumerate(c.input):
            if name == tr.output[0]:
                c.input[k] = inp.name
    model.graph.node.remove(tr)
    model.set_tensor_shape(inp.name, [shape[p] for p in perm])
    return cleanup_model(model)


def quant_specs(model) -> list[QuantSpec]:
    """All ``Quant`` nodes of ``model`` with their parameters."""
    from onnx import helper

    specs = []
    for node in model.graph.node:
        if node.op_type not in ("Quant", "IntQuant"):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        rmode = attrs.get("rounding_mode", "ROUND")
        rmode = rmode.decode() if isinstance(rmode, bytes) else str(rmode)
        scale = model.get_initializer(node.input[1])
        zeropt = model.get_initializer(node.input[2])
        bitwidth = model.get_initializer(node.input[3])
        if scale is None or zeropt is None or bitwidth is None:
            raise QuantizerConfigError(
                f"Quant node {node.name!r} has a run-time scale/zero point/bit width; the FPGA flow needs "
                "constant quantiser parameters (use a fixed-point Brevitas quantiser with a constant or "
                "learnt-then-frozen power-of-two scale)."
            )
        specs.append(QuantSpec(
            node=node.name, tensor=node.input[0], scale=np.asarray(scale, dtype=np.float64),
            zeropt=np.asarray(zeropt, dtype=np.float64), bitwidth=int(np.asarray(bitwidth).max()),
            signed=bool(attrs.get("signed", 1)), narrow=bool(attrs.get("narrow", 0)),
            rounding_mode=rmode.upper(), on_constant=model.get_initializer(node.input[0]) is not None,
        ))
    return specs


def check_power_of_two(model) -> None:
    """Raise :class:`NonPowerOfTwoScaleError` naming every Quant node whose scale is not 2**k."""
    bad = []
    for q in quant_specs(model):
        s = q.scale.ravel()
        if np.any(s <= 0) or np.any(np.abs(np.log2(s) - np.round(np.log2(s))) > 1e-9):
            bad.append(f"{q.node} (quantises {q.tensor!r}, scale {s[:4].tolist()}{' ...' if s.size > 4 else ''})")
        elif np.unique(s).size > 1:
            bad.append(f"{q.node} (per-channel scales {np.unique(s)[:4].tolist()}; use per-tensor scales)")
        if np.any(q.zeropt != 0):
            raise QuantizerConfigError(
                f"Quant node {q.node} has a non-zero zero point {q.zeropt.ravel()[:4].tolist()}: the FPGA flow "
                "needs symmetric quantisers (zero point 0)."
            )
    if bad:
        raise NonPowerOfTwoScaleError(
            "non power-of-two quantiser scale(s) in the QONNX graph: " + "; ".join(bad) + ". "
            "hls4ml/da4ml implement scales as bit shifts, so the FPGA result would differ from PyTorch. "
            "Use Brevitas fixed-point quantisers (e.g. Int8WeightPerTensorFixedPoint, "
            "Uint8ActPerTensorFixedPoint, or beamloop.models.quant.*) and retrain/fine-tune."
        )


def check_operators(model, supported: Iterable[str], tool: str, hint: str = "") -> None:
    """Raise :class:`UnsupportedLayerError` listing the nodes whose ``op_type`` ``tool`` cannot map."""
    supported = set(supported)
    bad = [f"{n.name or '?'} ({n.op_type})" for n in model.graph.node if n.op_type not in supported]
    if bad:
        raise UnsupportedLayerError(
            f"{tool} cannot map these layers of the network: {', '.join(bad)}. "
            f"Supported operators: {', '.join(sorted(supported))}. "
            + (hint or "Replace the layer by a supported one (e.g. a QuantReLU instead of GELU) and retrain.")
        )


def input_grid(model) -> InputGrid:
    """The grid of the Quant node that reads the graph input (the input quantiser)."""
    iname = model.graph.input[0].name
    for q in quant_specs(model):
        if q.tensor == iname:
            lo, hi = q.int_range
            return InputGrid(scale=float(q.scale.max()), lo=lo, hi=hi, bits=q.bitwidth, signed=q.signed)
    raise QuantizerConfigError(
        "the graph input is not quantised first: put a QuantIdentity with a fixed power-of-two scale in "
        "front of the network so the FPGA input format is defined."
    )


def _dynamic_tensors(model) -> set[str]:
    """Names of tensors that depend on the graph input (the ones with a batch dimension)."""
    dyn = {model.graph.input[0].name}
    for node in model.graph.node:  # graph is topologically sorted after cleanup
        if any(i in dyn for i in node.input):
            dyn.update(node.output)
    return dyn


def run_qonnx(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Execute ``model`` with qonnx on ``x`` (batch first), in batches of up to ``batch``.

    The graph is exported for batch 1; a copy with the batch dimension of every input-dependent
    tensor set to the batch size runs the whole batch in one go. The first sample of each batch
    is also run alone and must agree, else the executor falls back to one sample at a time.
    """
    import onnxruntime
    from qonnx.core.onnx_exec import execute_onnx

    onnxruntime.set_default_logger_severity(3)  # qonnx runs opset-1 single-node graphs: silence ORT warnings
    x = np.asarray(x, dtype=np.float32)
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    single = execute_onnx(model, {iname: x[:1]})[oname]
    dyn = _dynamic_tensors(model)
    outs = []
    for start in range(0, len(x), batch):
        xb = x[start:start + batch]
        mb = copy.deepcopy(model)
        g = mb.graph
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            dims = vi.type.tensor_type.shape.dim
            if vi.name in dyn and len(dims) and dims[0].dim_value == 1:
                dims[0].dim_value = len(xb)
        try:
            yb = execute_onnx(mb, {iname: xb})[oname]
            ok = start > 0 or np.array_equal(yb[:1], single)
        except Exception:  # noqa: BLE001 - fall back to the always-valid per-sample path
            ok = False
        if not ok:
            yb = np.concatenate([execute_onnx(model, {iname: xb[i:i + 1]})[oname] for i in range(len(xb))])
        outs.append(yb)
    return np.concatenate(outs)
