"""Bit-exact comparison of hardware emulations against the training framework.

Outputs of every implementation are compared as exact floating-point numbers (all values are
dyadic rationals well inside float32/float64 precision, so equality of floats is equality of the
fixed-point words). A sample matches when every output element agrees in every implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from beamloop.hls.errors import BitExactMismatchError


@dataclass
class BitExactReport:
    """Result of comparing ``reference`` (PyTorch) against other implementations on the same inputs."""

    network: str
    reference: str
    total: int
    matches: int                                  # samples on which ALL implementations agree
    per_impl: dict[str, int] = field(default_factory=dict)   # impl -> samples equal to the reference
    first_mismatches: list[dict[str, Any]] = field(default_factory=list)
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.matches == self.total

    def summary(self) -> str:
        impls = " = ".join([self.reference, *self.per_impl])
        parts = ", ".join(f"{k} {v}/{self.total}" for k, v in self.per_impl.items())
        return f"{self.network}: bit-exact {self.matches}/{self.total} ({impls}; {parts})"

    def details(self) -> str:
        lines = [self.summary()]
        for impl, d in self.max_abs_diff.items():
            lines.append(f"  max |{impl} - {self.reference}| = {d:.6g}")
        for m in self.first_mismatches:
            lines.append(f"  sample {m['index']}: " + ", ".join(f"{k}={v}" for k, v in m["outputs"].items()))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"network": self.network, "reference": self.reference, "total": self.total,
                "matches": self.matches, "per_impl": self.per_impl, "max_abs_diff": self.max_abs_diff,
                "first_mismatches": self.first_mismatches}

    def raise_if_mismatch(self) -> None:
        if not self.ok:
            raise BitExactMismatchError(
                "bit-exact check FAILED: " + self.details() + "\nLikely causes: a non power-of-two scale, "
                "inputs not on the input quantiser's grid, a rounding mode other than FLOOR on an activation, "
                "or a too-narrow default_precision in hls/configs/<model>.yaml (docs/hls.md).",
                self.as_dict(),
            )


def compare(network: str, reference: np.ndarray, others: dict[str, np.ndarray], reference_name: str = "pytorch",
            n_report: int = 5) -> BitExactReport:
    """Compare ``reference`` (N, ...) against each array in ``others`` (same N) element for element."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    n = len(ref)
    all_ok = np.ones(n, dtype=bool)
    per_impl, max_diff, oks = {}, {}, {}
    for name, arr in others.items():
        a = np.asarray(arr, dtype=np.float64).reshape(len(arr), -1)
        if a.shape != ref.shape:
            raise ValueError(f"{name} output shape {a.shape} differs from {reference_name} {ref.shape}")
        ok = np.all(a == ref, axis=1)
        oks[name] = (a, ok)
        per_impl[name] = int(ok.sum())
        max_diff[name] = float(np.max(np.abs(a - ref))) if n else 0.0
        all_ok &= ok
    bad = np.flatnonzero(~all_ok)[:n_report]
    first = []
    for i in bad:
        outs = {reference_name: ref[i][:6].tolist()}
        outs.update({k: v[0][i][:6].tolist() for k, v in oks.items()})
        first.append({"index": int(i), "outputs": outs})
    return BitExactReport(network=network, reference=reference_name, total=n, matches=int(all_ok.sum()),
                          per_impl=per_impl, first_mismatches=first, max_abs_diff=max_diff)


def make_vectors(grid, input_shape: tuple[int, ...], n: int, rng: np.random.Generator,
                 realistic: np.ndarray | None = None) -> np.ndarray:
    """``n`` inputs on the input grid: the grid's corners, ``realistic`` samples, then uniform random.

    Corners (all minimum, all maximum, alternating) exercise saturation and the widest sums.
    """
    corners = [np.full(input_shape, grid.lo * grid.scale), np.full(input_shape, grid.hi * grid.scale)]
    alt = np.where(np.indices(input_shape).sum(axis=0) % 2 == 0, grid.hi, grid.lo) * grid.scale
    corners.append(alt)
    parts = [np.stack(corners).astype(np.float32)[: max(n, 0)]]
    if realistic is not None and len(realistic):
        parts.append(np.asarray(realistic, dtype=np.float32)[: max(n - len(parts[0]), 0)])
    have = sum(len(p) for p in parts)
    if have < n:
        parts.append(grid.random((n - have, *input_shape), rng))
    x = np.concatenate(parts)[:n]
    if not grid.on_grid(x):
        raise ValueError("test vectors are not on the input quantiser's grid")
    return x
