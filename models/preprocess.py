"""Ronchigram pair -> alignment-network input, and network output -> aberrations in metres.

Pure numpy, no torch, no training code: the controller's inference wrapper uses it too.

- ``pair_to_input(img_minus, img_plus, mean, std)``: the local-magnification features of the
  pair (:mod:`beamloop.models.ronchigram_features`; frames at ``C10 - delta`` then
  ``C10 + delta``, any non-negative intensity: counts or electrons) standardised with the
  training set's per-feature ``mean`` and ``std`` (stored in the model metadata as
  ``feature_mean`` / ``feature_std``). NaN/inf, negative or empty frames are refused by name.
- Labels: the network predicts ``coefficient / label_scale`` (dimensionless) for
  ``AXES = (C10, C12.x, C12.y, C21.x, C21.y)``; ``label_scale`` is in metres.
"""

from __future__ import annotations

import numpy as np

from beamloop.models.ronchigram_features import FeatureConfig, pair_features, pairs_features

AXES = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")


def standardise(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(features - mean) / std`` as float32; shapes must agree on the last axis."""
    f = np.asarray(features, dtype=np.float64)
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    if f.shape[-1] != mean.shape[-1] or mean.shape != std.shape:
        raise ValueError(f"features have {f.shape[-1]} values, the model expects {mean.shape[-1]}")
    if np.any(~(std > 0)):
        raise ValueError("feature_std must be positive")
    return ((f - mean) / std).astype(np.float32)


def pair_to_input(img_minus: np.ndarray, img_plus: np.ndarray, mean: np.ndarray, std: np.ndarray,
                  cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Two Ronchigrams (at ``C10 - delta`` and ``C10 + delta``) -> float32 ``(n_features,)``."""
    return standardise(pair_features(img_minus, img_plus, cfg), mean, std)


def pairs_to_input(pairs: np.ndarray, mean: np.ndarray, std: np.ndarray,
                   cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """A batch of pairs ``(N, 2, H, W)`` -> ``(N, n_features)`` float32."""
    return standardise(pairs_features(pairs, cfg), mean, std)


def labels_to_target(values_m: np.ndarray, scale_m: np.ndarray) -> np.ndarray:
    """Aberrations in metres ``(N, 5)`` -> dimensionless network targets."""
    return (np.asarray(values_m, dtype=np.float64) / np.asarray(scale_m, dtype=np.float64)).astype(np.float32)


def output_to_metres(mean: np.ndarray, log_sigma: np.ndarray, scale_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network output (normalised mean, log sigma) -> (mean, sigma) in metres."""
    scale = np.asarray(scale_m, dtype=np.float64)
    return np.asarray(mean, dtype=np.float64) * scale, np.exp(np.asarray(log_sigma, dtype=np.float64)) * scale
