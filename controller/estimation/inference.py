"""The small inference interface the controller uses to ask a network about aberrations.

The controller never imports training code: an :class:`Estimator` turns Ronchigram pairs into
aberration estimates in metres, whatever runs the network behind it:

- :class:`IntegerEstimator`: the integer fixed-point form (numpy only; the operator install's
  path and bit-exact with the FPGA);
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

from beamloop.models.fixed_point_mlp import load_npz
from beamloop.models.preprocess import AXES, output_to_metres, standardise
from beamloop.models.ronchigram_features import FeatureConfig, pairs_features
from beamloop.models.weight_files import WEIGHTS_DIR, WeightFileError, integer_path, meta_path, read_meta, state_path


class Estimator(abc.ABC):
    """Ronchigram pairs -> aberration estimate and uncertainty, in metres."""

    axes: tuple[str, ...] = AXES
    delta_c10: float  # defocus offset (m) of the two images of a pair: C10 -/+ delta_c10
    label_scale: np.ndarray  # metres per network unit, one per axis
    feature_mean: np.ndarray  # standardisation of the features (from the training set)
    feature_std: np.ndarray
    features: FeatureConfig = FeatureConfig()

    @abc.abstractmethod
    def _raw(self, x: np.ndarray) -> np.ndarray:
        """Network input (N, n_features) float32 (standardised features) -> raw output (N, 10)."""

    def predict(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_features(pairs_features(np.asarray(pairs), self.features))

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Same as :meth:`predict` from already computed (unstandardised) pair features ``(N, F)``."""
        x = standardise(features, self.feature_mean, self.feature_std)
        y = np.asarray(self._raw(x), dtype=np.float64)
        n = len(self.axes)
        return output_to_metres(y[:, :n], np.clip(y[:, n:], -20.0, 20.0), self.label_scale)


def _meta_fields(est: Estimator, meta: dict) -> None:
    try:
        est.delta_c10 = float(meta["delta_c10_m"])
        est.label_scale = np.asarray(meta["label_scale_m"], dtype=np.float64)
        est.feature_mean = np.asarray(meta["feature_mean"], dtype=np.float64)
        est.feature_std = np.asarray(meta["feature_std"], dtype=np.float64)
        est.features = FeatureConfig.from_dict(meta["features"])
    except KeyError as exc:
        raise ValueError(f"alignment model metadata lacks {exc}; retrain with `beamloop train alignment`") from None


class IntegerEstimator(Estimator):
    """Runs the integer fixed-point form of an alignment network (``<name>.int.npz``): bit-exact
    with PyTorch, QONNX and the hls4ml emulation (what the FPGA computes), and needs no torch."""

    def __init__(self, weights_dir: str | Path | None = None, name: str = "alignment"):
        self.name = name
        self.meta = read_meta(name, weights_dir)
        _meta_fields(self, self.meta)
        sha = self.meta.get("integer_sha256")
        if not sha:  # an unverifiable integer net is refused, never run
            raise WeightFileError(f"{meta_path(name, weights_dir)}: no integer_sha256 for {integer_path(name, weights_dir)}; "
                                  "cannot verify the integer weights (re-export with `beamloop train alignment`)")
        self.mlp = load_npz(integer_path(name, weights_dir), sha)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        return self.mlp(x)


class TorchEstimator(Estimator):
    """Runs the Brevitas alignment network (committed weights unless ``weights_dir`` is given)."""

    def __init__(self, weights_dir: str | Path | None = None, name: str = "alignment"):
        import torch

        from beamloop.models.registry import load

        self._torch = torch
        self.model = load(name, weights_dir=weights_dir)
        _meta_fields(self, self.model.meta)

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
        _meta_fields(self, ref.meta)
        self._to_grid = ref.to_input_grid
        self.graph = load_clean(path)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        from beamloop.models.export import run_qonnx

        return run_qonnx(self.graph, self._to_grid(x).numpy())


class CoarseToFineEstimator(Estimator):
    """Two networks on the same pair features: the coarse one (whole capture range) always, the
    fine one (trained on near-aligned states) when every coarse estimate lies inside the fine
    network's ``apply_box_m``; its estimate and sigma then replace the coarse ones. Per pair, so a
    batch may mix both. ``last_used_fine`` tells which rows used the fine network."""

    def __init__(self, coarse: Estimator, fine: Estimator, apply_box_m):
        if coarse.features != fine.features or coarse.delta_c10 != fine.delta_c10 or coarse.axes != fine.axes:
            raise ValueError("coarse and fine alignment networks disagree on features, delta or axes; retrain both")
        self.coarse, self.fine = coarse, fine
        self.axes, self.delta_c10, self.features = coarse.axes, coarse.delta_c10, coarse.features
        self.label_scale = coarse.label_scale
        self.feature_mean, self.feature_std = coarse.feature_mean, coarse.feature_std
        self.apply_box = np.asarray(apply_box_m, dtype=np.float64)
        self.last_used_fine = np.zeros(0, bool)

    def _raw(self, x):  # pragma: no cover - predict_features is overridden
        raise NotImplementedError

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mc, sc = self.coarse.predict_features(features)
        use = np.all(np.abs(mc) <= self.apply_box, axis=1)
        self.last_used_fine = use
        if use.any():
            mf, sf = self.fine.predict_features(np.asarray(features)[use])
            mc, sc = mc.copy(), sc.copy()
            mc[use], sc[use] = mf, sf
        return mc, sc


ESTIMATOR_BACKENDS = ("integer", "torch")


def default_estimator(weights_dir: str | Path | None = None, backend: str = "integer") -> Estimator:
    """The coarse-to-fine pair of committed networks, or the coarse one alone if no fine weights exist.

    backend: ``"integer"`` (default: the fixed-point numpy form, no torch, bit-exact with the FPGA)
    or ``"torch"`` (the Brevitas modules; needs the ``train`` extra)."""
    if backend not in ESTIMATOR_BACKENDS:
        raise ValueError(f"backend: unknown estimator backend {backend!r}; valid: {', '.join(ESTIMATOR_BACKENDS)}")
    make = IntegerEstimator if backend == "integer" else TorchEstimator
    wdir = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    coarse = make(weights_dir)
    fine_file = integer_path("alignment_fine", wdir) if backend == "integer" else state_path("alignment_fine", wdir)
    if not fine_file.exists():
        return coarse
    fine = make(weights_dir, name="alignment_fine")
    box = read_meta("alignment_fine", weights_dir).get("apply_box_m")
    if box is None:
        raise ValueError(f"{meta_path('alignment_fine', wdir)} lacks apply_box_m; retrain with `beamloop train alignment`")
    return CoarseToFineEstimator(coarse, fine, box)
