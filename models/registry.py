"""Load beamloop's default networks with their committed weights: ``load("alignment" | "alignment_fine" | "trigger")``.

``alignment`` reads the whole capture range; ``alignment_fine`` (same architecture and input) is
trained on near-aligned states only and is what the ``nn`` policy uses once the coarse estimate
says it is close (coarse-to-fine, docs/models.md).

The returned :class:`LoadedModel` is what the HLS flow and the controller use:

- ``.module``: the Brevitas ``nn.Module`` in eval mode with the committed weights loaded;
- ``.input_shape``: input shape without batch, channels-first as PyTorch sees it;
- ``.sample_inputs(n, rng)``: realistic inputs (from the twin) already on the input grid;
- ``.export_qonnx(path)``: QONNX export (``export_qonnx(..., dynamo=False)``);
- ``.meta``: the model's metadata (preprocessing, label scales, trigger shifts/threshold ...).

Weights live in ``models/weights/<name>.pt`` (state dict) and ``<name>.json`` (metadata).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from beamloop.models.weight_files import WEIGHTS_DIR, WeightFileError, file_sha256, integer_path, verify_sha256
NAMES = ("alignment", "alignment_fine", "trigger")


@dataclass
class LoadedModel:
    name: str
    module: torch.nn.Module
    input_shape: tuple[int, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    _sampler: Callable[[int, np.random.Generator, dict], np.ndarray] | None = None

    def to_input_grid(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Raw inputs -> values on the input quantiser's grid (float tensor)."""
        return self.module.to_input_grid(torch.as_tensor(np.asarray(x), dtype=torch.float32))

    def sample_inputs(self, n: int, rng: np.random.Generator | int | None = None) -> torch.Tensor:
        """``n`` realistic inputs ``(n, *input_shape)`` on the input grid, made with the twin."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng(rng)
        raw = self._sampler(n, rng, self.meta)
        return self.to_input_grid(raw)

    def export_qonnx(self, path: str | Path) -> Path:
        from beamloop.models.export import export_qonnx

        return export_qonnx(self.module, self.input_shape, path)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def build(name: str, meta: dict[str, Any] | None = None) -> torch.nn.Module:
    """A fresh (untrained) module for ``name`` with the architecture recorded in ``meta``."""
    meta = meta or {}
    if name in ("alignment", "alignment_fine"):  # same architecture; fine: near-aligned regime
        from beamloop.models.alignment_net import AlignmentNet

        arch = meta.get("arch", {})
        return AlignmentNet(hidden=tuple(arch.get("hidden", (128, 64))), n_features=int(arch.get("n_features", 216)))
    if name == "trigger":
        from beamloop.models.trigger_net import TriggerNet

        arch = meta.get("arch", {})
        return TriggerNet(hidden=tuple(arch.get("hidden", (16, 8))))
    raise ValueError(f"name must be one of {NAMES}, got {name!r}")


def _sampler(name: str):
    if name.startswith("alignment"):
        from beamloop.models.alignment_data import sample_network_inputs

        return sample_network_inputs
    from beamloop.models.trigger_data import sample_network_inputs

    return sample_network_inputs


def load(name: str, weights_dir: str | Path | None = None, pretrained: bool = True) -> LoadedModel:
    """Load network ``name`` (one of :data:`NAMES`) with its committed weights (eval mode).

    ``weights_dir`` overrides the committed weights directory (e.g. a fresh training run).
    With ``pretrained=False`` the module is untrained (for tests of the plumbing).
    """
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    wdir = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    meta_path = wdir / f"{name}.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    module = build(name, meta)
    if pretrained:
        wpath = wdir / f"{name}.pt"
        if not wpath.exists():
            raise FileNotFoundError(f"no weights for {name!r} at {wpath}; run `beamloop train {name}`")
        if meta.get("state_sha256"):   # the model card's hash of the state dict (written by save())
            verify_sha256(wpath, meta["state_sha256"], meta_path)
        try:   # weights_only: tensors and plain containers, never arbitrary pickled code
            state = torch.load(wpath, map_location="cpu", weights_only=True)
            module.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - torch raises many types; name the file, drop its hints
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise WeightFileError(f"{wpath}: not a loadable {name!r} state dict ({type(exc).__name__}: {first[:200]}); "
                                  "restore the file (git) or retrain the network") from None
    module.eval()
    return LoadedModel(name=name, module=module, input_shape=tuple(module_input_shape(name)),
                       meta=meta, _sampler=_sampler(name))


def module_input_shape(name: str) -> tuple[int, ...]:
    if name.startswith("alignment"):
        from beamloop.models.alignment_net import INPUT_SHAPE
    else:
        from beamloop.models.trigger_net import INPUT_SHAPE
    return INPUT_SHAPE


def save(name: str, module: torch.nn.Module, meta: dict[str, Any], weights_dir: str | Path | None = None) -> Path:
    """Write ``<name>.pt`` (state dict), ``<name>.json`` (metadata) and, for the alignment networks,
    ``<name>.int.npz`` (integer form, :mod:`beamloop.models.fixed_point_mlp`) to ``weights_dir``."""
    wdir = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    wdir.mkdir(parents=True, exist_ok=True)
    torch.save(module.state_dict(), wdir / f"{name}.pt")
    meta = {**meta, "state_sha256": file_sha256(wdir / f"{name}.pt")}   # verified by load()
    if name.startswith("alignment"):  # the integer form the operator install and the FPGA use
        from beamloop.models.fixed_point_mlp import export_npz, sha256

        meta = {**meta, "integer_sha256": sha256(export_npz(module, integer_path(name, wdir)))}
    (wdir / f"{name}.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return wdir / f"{name}.pt"
