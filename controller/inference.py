"""The small inference interface the controller uses to ask a network about aberrations.

The controller never imports training code: an :class:`Estimator` turns Ronchigram pairs into
aberration estimates in metres, whatever runs the network behind it:

- :class:`TorchEstimator`: the Brevitas module with committed weights (``beamloop.models.registry``);
- :class:`QonnxEstimator`: the exported QONNX graph executed by qonnx (ONNX Runtime for the
  standard nodes, qonnx's reference kernels for ``Quant``), i.e. what the FPGA computes;
- anything else (hls4ml emulation, the board) can implement the same two attributes and
  ``predict``.

``predict(pairs)``: ``pairs`` is ``(N, 2, H, W)``: Ronchigrams at ``C10 - delta_c10`` (index 0)
and ``C10 + delta_c10`` (index 1) around the setting being measured. Returns ``(mean, sigma)``,
each ``(N, 5)`` in metres, for ``axes = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")``: the
aberrations present at the centre of the pair, and the network's 1-sigma uncertainty.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from beamloop.models.preprocess import AXES, output_to_metres, pairs_to_input


class Estimator(abc.ABC):
    """Ronchigram pairs -> aberration estimate and uncertainty, in metres."""

    axes: tuple[str, ...] = AXES
    delta_c10: float  # defocus offset (m) of the two images of a pair: C10 -/+ delta_c10
    label_scale: np.ndarray  # metres per network unit, one per axis

    @abc.abstractmethod
    def _raw(self, x: np.ndarray) -> np.ndarray:
        """Network input (N, 2, 32, 32) float32 (unit mean) -> raw output (N, 10)."""

    def predict(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = pairs_to_input(np.asarray(pairs))
        y = np.asarray(self._raw(x), dtype=np.float64)
        n = len(self.axes)
        return output_to_metres(y[:, :n], np.clip(y[:, n:], -20.0, 20.0), self.label_scale)


def _meta_fields(meta: dict) -> tuple[float, np.ndarray]:
    try:
        return float(meta["delta_c10_m"]), np.asarray(meta["label_scale_m"], dtype=np.float64)
    except KeyError as exc:
        raise ValueError(f"alignment model metadata lacks {exc}; retrain with `beamloop train alignment`") from None


class TorchEstimator(Estimator):
    """Runs the Brevitas alignment network (committed weights unless ``weights_dir`` is given)."""

    def __init__(self, weights_dir: str | Path | None = None):
        import torch

        from beamloop.models.registry import load

        self._torch = torch
        self.model = load("alignment", weights_dir=weights_dir)
        self.delta_c10, self.label_scale = _meta_fields(self.model.meta)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            xt = self.model.to_input_grid(torch.from_numpy(x))
            return self.model.module(xt).numpy()


class QonnxEstimator(Estimator):
    """Executes an exported QONNX alignment graph (``path``) with qonnx; metadata from the registry."""

    def __init__(self, path: str | Path, weights_dir: str | Path | None = None):
        from beamloop.models.export import load_clean
        from beamloop.models.registry import load

        ref = load("alignment", weights_dir=weights_dir)
        self.delta_c10, self.label_scale = _meta_fields(ref.meta)
        self._to_grid = ref.to_input_grid
        self.graph = load_clean(path)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        from beamloop.models.export import run_qonnx

        return run_qonnx(self.graph, self._to_grid(x).numpy())
