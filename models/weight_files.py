"""Where the committed network files live and what they are called (no torch needed).

``<name>.json``: metadata (preprocessing, label scales, SHA-256 of the other files);
``<name>.pt``: the Brevitas state dict (training and export, needs torch);
``<name>.int.npz``: the integer fixed-point form (``beamloop.models.fixed_point_mlp``), what the
operator install and the FPGA compute with.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_DIR", "meta_path", "state_path", "integer_path", "read_meta", "WeightFileError", "file_sha256",
           "verify_sha256"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _dir(weights_dir: str | Path | None) -> Path:
    return Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR


def meta_path(name: str, weights_dir: str | Path | None = None) -> Path:
    return _dir(weights_dir) / f"{name}.json"


def state_path(name: str, weights_dir: str | Path | None = None) -> Path:
    return _dir(weights_dir) / f"{name}.pt"


def integer_path(name: str, weights_dir: str | Path | None = None) -> Path:
    return _dir(weights_dir) / f"{name}.int.npz"


def read_meta(name: str, weights_dir: str | Path | None = None) -> dict[str, Any]:
    """The metadata of network ``name``; a clear error naming the file if missing or not JSON."""
    p = meta_path(name, weights_dir)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no metadata for network {name!r}; run `beamloop train {name.split('_')[0]}`")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None


class WeightFileError(ValueError):
    """A weight file that fails its SHA-256, lacks one in its model card, or does not load (names the file)."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_sha256(path: str | Path, expected: str, card: str | Path) -> None:
    """Raise :class:`WeightFileError` naming ``path`` unless its SHA-256 is ``expected`` (from ``card``)."""
    actual = file_sha256(path)
    if actual != expected:
        raise WeightFileError(f"{path}: SHA-256 {actual} does not match {expected} in {card}: the file was changed "
                              "or damaged; restore it (git) or retrain the network")
