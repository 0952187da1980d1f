"""QONNX export of the Brevitas networks and execution of the exported graph.

``export_qonnx(..., dynamo=False)``: the default dynamo exporter of torch >= 2.9 emits a Gemm
without bias that breaks qonnx ``GemmToMatMul`` (docs/toolchain notes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def export_qonnx(module: torch.nn.Module, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Export ``module`` (eval mode) to QONNX at ``path`` for a batch-1 input of ``input_shape``."""
    from brevitas.export import export_qonnx as _export

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    dummy = torch.zeros((1, *input_shape), dtype=torch.float32)
    _export(module, dummy, export_path=str(path), dynamo=False)
    return path


def load_clean(path: str | Path, channels_last: bool = False):
    """Load a QONNX file as a qonnx ``ModelWrapper`` after the clean-up hls4ml expects.

    ``cleanup_model``, then (if ``channels_last``) ``ConvertToChannelsLastAndClean``, then
    ``GemmToMatMul`` and ``cleanup_model`` again.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(path)))
    if channels_last:
        model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    return cleanup_model(model)


def run_qonnx(model, x: np.ndarray) -> np.ndarray:
    """Execute a qonnx ``ModelWrapper`` sample by sample on ``x`` (batch first); returns outputs."""
    from qonnx.core.onnx_exec import execute_onnx

    iname = model.graph.input[0].name
    oname = model.graph.output[0].name
    outs = []
    for xi in np.asarray(x, dtype=np.float32):
        outs.append(execute_onnx(model, {iname: xi[None]})[oname][0])
    return np.stack(outs)
