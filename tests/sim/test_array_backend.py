"""The twin runs without torch (the operator install) and gives the same physics as with it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ImportError('no torch in the operator install')
sys.meta_path.insert(0, Block())
"""

FRAMES = """
import numpy as np
from beamloop.sim import array_backend
from beamloop.sim.aberrations import Aberrations
from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator
abs_ = [Aberrations(C10=40e-9), Aberrations(C10=-120e-9, C12x=60e-9), Aberrations(C10=300e-9, C21y=1.5e-6)]
cfg = RonchigramConfig(max_oversample=16, on_undersampled="warn")
sim = RonchigramSimulator(cfg, seed=4)
clean = sim.simulate_batch(abs_, rng=np.random.default_rng(1), noise=False)
noisy = sim.simulate_batch(abs_, rng=np.random.default_rng(1), noise=True)
np.savez(OUT, clean=clean, noisy=noisy, torch=array_backend.HAVE_TORCH)
"""


def _frames(tmp_path, block: bool) -> dict:
    out = tmp_path / f"frames_{block}.npz"
    code = (BLOCK_TORCH if block else "") + f"OUT = {str(out)!r}\n" + FRAMES
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(np.load(out))


def test_twin_without_torch_matches_twin_with_torch(tmp_path):
    with_torch, numpy_only = _frames(tmp_path, False), _frames(tmp_path, True)
    assert bool(with_torch["torch"]) and not bool(numpy_only["torch"])
    a, b = with_torch["clean"], numpy_only["clean"]
    assert np.allclose(a, b, rtol=2e-3, atol=1e-3 * a.max()), np.abs(a - b).max()
    # the noise differs only in its random stream: same mean level, same shot-noise spread
    na, nb = with_torch["noisy"], numpy_only["noisy"]
    assert abs(na.mean() / nb.mean() - 1) < 0.01
    assert abs((na - a).std() / (nb - b).std() - 1) < 0.05
