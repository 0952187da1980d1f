"""Golden model of ``trigger_net``: the trained PyTorch network on the RTL's byte encoding.

``trigger_net`` takes 32 bytes (input k in bits [8k+7:8k]); features v1/v2: inputs 0..15 unsigned,
16..31 signed; v3: all signed (the wrapper says which: :func:`signed_inputs`; docs/trigger_features.md). Its output word is the network score in
fixed point: ``out_data = score * 2**OUT_FRAC`` exactly (bit-exact, no rounding).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

N_IN = 32
SIGNED = np.arange(N_IN) >= 16


def signed_inputs(wrapper: Path) -> np.ndarray:
    """Which inputs the generated wrapper sign-extends ("inputs LO..HI are two's complement bytes")."""
    m = re.search(r"inputs (\d+)\.\.(\d+) are two's complement", Path(wrapper).read_text())
    lo, hi = (int(m.group(1)), int(m.group(2))) if m else (16, 31)
    return (np.arange(N_IN) >= lo) & (np.arange(N_IN) <= hi)


def random_features(n: int, rng: np.random.Generator, signed: np.ndarray = SIGNED) -> np.ndarray:
    """``n`` feature vectors covering the byte ranges: unsigned inputs 0..255, signed -128..127 (with extremes)."""
    lo = np.where(signed, -128, 0)
    hi = np.where(signed, 127, 255)
    x = rng.integers(lo, hi + 1, size=(n, N_IN))
    if n >= 2:
        x[0], x[1] = lo, hi
    return x


def pack(x: np.ndarray) -> list[int]:
    """Feature vectors -> the ``in_data`` words (two's complement bytes, input 0 least significant)."""
    words = []
    for row in np.asarray(x, dtype=np.int64):
        w = 0
        for k, v in enumerate(row):
            w |= (int(v) & 0xFF) << (8 * k)
        words.append(w)
    return words


def expected_words(module, x: np.ndarray, out_frac: int) -> np.ndarray:
    """PyTorch scores of ``x`` as ``out_data`` integers; raises if a score is off the output grid."""
    import torch

    with torch.no_grad():
        y = module(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy().ravel().astype(np.float64)
    words = y * 2.0**out_frac
    if not np.all(words == np.round(words)):
        raise ValueError(f"PyTorch scores are not on the 2**-{out_frac} grid: the RTL cannot be bit-exact")
    return np.round(words).astype(np.int64)


def wrapper_params(wrapper: Path) -> dict[str, int]:
    """OUT_W, OUT_FRAC and LATENCY parsed from a generated trigger_net.v."""
    text = Path(wrapper).read_text()
    return {k: int(re.search(rf"parameter integer {k} = (\d+)", text).group(1)) for k in ("OUT_W", "OUT_FRAC", "LATENCY")}
