"""The alignment networks in integer numpy: exactly what the FPGA computes, without torch.

The alignment MLPs are three fixed-point layers with power-of-two scales (``models/quant.py``):

    x_q  = clip(floor(x * 2**f_in), lo, hi)                      input grid (integers)
    a_k  = x_q @ W_k.T + b_k          (int64; fraction bits f_in + f_w)   accumulator
    x_q  = clip(floor(max(a_k, 0) * 2**(f_act - f_acc)), 0, 2**bits - 1)  FLOOR ReLU, a shift
    out  = a_last * 2**-f_acc          last layer: the exact accumulator, no output quantiser

so a shift-and-add integer implementation equals Brevitas, QONNX and the hls4ml C++ emulation
bit for bit (tested in tests/models/test_fixed_point_mlp.py against PyTorch and in
tests/hls/test_compile_flow.py against hls4ml). It is both the light inference path of the
operator install (no torch, no brevitas: ``pip install beamloop``) and the "FPGA arithmetic"
estimator.

Files: ``<name>.int.npz`` beside the ``.pt`` weights: ``w0, b0, w1, b1, ...`` (int8 weights, int32 biases) and a JSON
``spec`` (fraction bits, bit widths). Written by :func:`export_npz` (needs torch; called when a
network is saved) and read by :func:`load_npz` with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beamloop.models.weight_files import WeightFileError

__all__ = ["FixedPointLayer", "FixedPointMLP", "load_npz", "export_npz", "from_module", "sha256"]


class FixedPointFormatError(WeightFileError):
    """A ``.int.npz`` file that is not a fixed-point MLP of this format (names the file)."""


@dataclass(frozen=True)
class FixedPointLayer:
    """One dense layer. ``w``: (out, in) integers, ``b``: (out,) integers at the accumulator's
    scale, ``frac_w``: weight fraction bits (scale ``2**-frac_w``); ``act_frac``/``act_bits``: the
    unsigned FLOOR ReLU grid after it, or None for the last layer (no activation)."""

    w: np.ndarray
    b: np.ndarray
    frac_w: int
    act_frac: int | None = None
    act_bits: int | None = None


@dataclass(frozen=True)
class FixedPointMLP:
    """Integer MLP: signed ``in_bits`` input with ``in_frac`` fraction bits, then ``layers``."""

    in_frac: int
    in_bits: int
    layers: tuple[FixedPointLayer, ...]

    @property
    def n_inputs(self) -> int:
        return int(self.layers[0].w.shape[1])

    @property
    def out_frac(self) -> int:
        """Fraction bits of the output accumulator."""
        frac = self.in_frac
        for layer in self.layers[:-1]:
            frac = int(layer.act_frac)
        return frac + self.layers[-1].frac_w

    def to_input_grid(self, x: np.ndarray) -> np.ndarray:
        """Float inputs (N, n_inputs) -> input integers (FLOOR, clamped to the signed grid)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"x: expected (N, {self.n_inputs}) inputs, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x: inputs contain NaN or infinity")
        lo, hi = -(1 << (self.in_bits - 1)), (1 << (self.in_bits - 1)) - 1
        return np.clip(np.floor(np.ldexp(x, self.in_frac)), lo, hi).astype(np.int64)

    def forward_int(self, q: np.ndarray) -> np.ndarray:
        """Input integers (N, n_inputs) -> output accumulator integers (scale ``2**-out_frac``)."""
        q = np.asarray(q, dtype=np.int64)
        frac = self.in_frac
        for layer in self.layers:
            acc = q @ layer.w.T + layer.b
            acc_frac = frac + layer.frac_w
            if layer.act_frac is None:
                return acc
            shift = acc_frac - int(layer.act_frac)
            a = np.maximum(acc, 0)
            a = a >> shift if shift >= 0 else a << -shift  # floor for non-negative values
            q = np.minimum(a, (1 << int(layer.act_bits)) - 1)
            frac = int(layer.act_frac)
        raise FixedPointFormatError("the last layer must have no activation")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Float inputs -> float64 outputs, bit-exact with the FPGA (and Brevitas)."""
        return np.ldexp(self.forward_int(self.to_input_grid(x)).astype(np.float64), -self.out_frac)


def _frac_bits(scale: float, what: str) -> int:
    e = -math.log2(float(scale))
    if abs(e - round(e)) > 1e-9:
        raise FixedPointFormatError(f"{what}: scale {scale} is not a power of two")
    return int(round(e))


def from_module(module) -> FixedPointMLP:
    """The integer form of a Brevitas ``AlignmentNet`` (``input_quant`` + ``head``) (needs torch)."""
    import torch

    with torch.no_grad():
        probe = torch.zeros(1, module.n_features)
        q = module.input_quant(probe)
        in_frac, in_bits = _frac_bits(q.scale, "input quantiser"), int(q.bit_width)
        mods = list(module.head)
        layers: list[FixedPointLayer] = []
        frac = in_frac
        h = q
        for i, lin in enumerate(mods):
            if not hasattr(lin, "quant_weight"):
                continue
            qw = lin.quant_weight()
            frac_w = _frac_bits(qw.scale, f"layer {i} weights")
            w = qw.int().to(torch.int64).numpy()
            acc_scale = 2.0 ** -(frac + frac_w)
            b = np.round(lin.bias.detach().double().numpy() / acc_scale)
            b = np.clip(b, -(1 << 15), (1 << 15) - 1).astype(np.int64)  # Int16Bias at the accumulator scale
            h = lin(h)
            act = mods[i + 1] if i + 1 < len(mods) else None
            if act is None:
                layers.append(FixedPointLayer(w=w, b=b, frac_w=frac_w))
                break
            h = act(h)
            a_frac, a_bits = _frac_bits(h.scale, f"activation {i + 1}"), int(h.bit_width)
            layers.append(FixedPointLayer(w=w, b=b, frac_w=frac_w, act_frac=a_frac, act_bits=a_bits))
            frac = a_frac
    return FixedPointMLP(in_frac=in_frac, in_bits=in_bits, layers=tuple(layers))


def export_npz(module, path: str | Path) -> Path:
    """Write the integer form of ``module`` to ``path`` (``.int.npz``)."""
    mlp = from_module(module)
    spec = {"format": "beamloop-fixed-point-mlp/1", "in_frac": mlp.in_frac, "in_bits": mlp.in_bits,
            "layers": [{"frac_w": lay.frac_w, "act_frac": lay.act_frac, "act_bits": lay.act_bits} for lay in mlp.layers]}
    arrays = {}
    for k, lay in enumerate(mlp.layers):
        if np.abs(lay.w).max(initial=0) > 127:
            raise FixedPointFormatError(f"layer {k}: weights exceed 8 bits")
        arrays[f"w{k}"], arrays[f"b{k}"] = lay.w.astype(np.int8), lay.b.astype(np.int32)
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez(fh, spec=np.frombuffer(json.dumps(spec).encode(), dtype=np.uint8), **arrays)
    return path


def load_npz(path: str | Path, expected_sha256: str | None = None) -> FixedPointMLP:
    """Read a ``.int.npz`` file; with ``expected_sha256`` the file's hash must match."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no integer weights (retrain or re-export with `beamloop train alignment`)")
    if expected_sha256 is not None and sha256(path) != expected_sha256:
        raise FixedPointFormatError(f"{path}: SHA-256 {sha256(path)} does not match the model card's {expected_sha256}")
    try:
        with np.load(path, allow_pickle=False) as z:
            spec = json.loads(bytes(z["spec"]).decode())
            layers = tuple(
                FixedPointLayer(w=z[f"w{k}"].astype(np.int64), b=z[f"b{k}"].astype(np.int64), frac_w=int(ls["frac_w"]),
                                act_frac=ls["act_frac"], act_bits=ls["act_bits"])
                for k, ls in enumerate(spec["layers"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise FixedPointFormatError(f"{path}: not a beamloop fixed-point MLP ({type(exc).__name__}: {exc})") from None
    if spec.get("format") != "beamloop-fixed-point-mlp/1" or not layers:
        raise FixedPointFormatError(f"{path}: unknown format {spec.get('format')!r}")
    return FixedPointMLP(in_frac=int(spec["in_frac"]), in_bits=int(spec["in_bits"]), layers=layers)


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
