"""The committed trigger network frame by frame, as the RTL computes it (integer numpy).

:func:`rtl_raster` maps a detector frame onto the 64 x 64 uint16 raster ``RtlBoard.stream_frame``
sends over AXI-Stream; :class:`NumpyTrigger` keeps the stream state (previous frame, running
baseline, v1 shifts) and returns the network's integer score and whether it passes the RTL's
threshold register - bit-exact with the RTL (tested against it in hil_tests/hil/test_hil_loop.py).
Used by the watch loop (``beamloop keep``) when no RTL is in the loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["RTL_SIZE", "rtl_raster", "NumpyTrigger"]

RTL_SIZE = 64


def rtl_raster(image: np.ndarray) -> np.ndarray:
    """A detector frame ``[x, y]`` as the RTL sees it: binned to 64 x 64 (block sums), clipped to
    16 bits, as an ``[y, x]`` raster (uint16) - what ``RtlBoard.stream_frame`` sends over AXI-Stream."""
    img = np.asarray(image, dtype=np.float64)
    if img.shape != (RTL_SIZE, RTL_SIZE):
        if img.shape[0] % RTL_SIZE or img.shape[1] % RTL_SIZE:
            raise ValueError(f"frame shape {img.shape}: the trigger needs a multiple of {RTL_SIZE} pixels per side")
        img = img.reshape(RTL_SIZE, img.shape[0] // RTL_SIZE, RTL_SIZE, img.shape[1] // RTL_SIZE).sum((1, 3))
    return np.clip(np.rint(img.T), 0, 65535).astype(np.uint16)


class NumpyTrigger:
    """The committed trigger network, integer numpy, frame by frame (needs torch once, to read the
    Brevitas weights into their integer form). ``__call__(image) -> (score_int, fired)``.

    v1 inputs ``[a[k], d[k]]`` with SHIFT chosen from the first frame (``choose_shift``, DSHIFT =
    SHIFT - 2, the training rule); v2 (change energy against the previous frame and its running
    baseline, :func:`~beamloop.models.trigger_features.stream_inputs_v2`) and v3 (``rb`` of that and
    of the change energy against two frames back, :func:`~beamloop.models.trigger_features.stream_inputs_v3`)
    frame by frame."""

    def __init__(self, weights_dir: str | Path | None = None, shifts: tuple[int, int] | None = None):
        """shifts: fixed v1 (SHIFT, DSHIFT), e.g. the RTL's registers; None: the training rule."""
        import types

        from beamloop.models.fixed_point_mlp import from_module
        from beamloop.models.registry import load
        from beamloop.models.trigger_data import default_region_map

        m = load("trigger", weights_dir=weights_dir)
        net = m.module
        self.meta = m.meta
        self.version = str(self.meta.get("version", "1"))
        self.mlp = from_module(types.SimpleNamespace(n_features=32, input_quant=net.input_quant, head=net.mlp))
        self.scale = float(self.meta["score_scale"])
        self.threshold = int(self.meta["threshold_register"])
        self.region_map = default_region_map()
        self._prev = None
        self._shift: tuple[int, int] | None = shifts
        self._base: np.ndarray | None = None
        self._prev2: np.ndarray | None = None          # v3: the frame two back
        self._base2: np.ndarray | None = None

    def _codes(self, E: np.ndarray, base: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(le, rb, next baseline) of one valid change-energy vector against its running baseline."""
        from beamloop.models.trigger_features import BSHIFT, lq, sat_s8

        b = E.copy() if base is None else base
        le = lq(E)
        return le, sat_s8(le - lq(b)), b + ((E - b) >> BSHIFT)

    def _inputs_v2v3(self, px: np.ndarray) -> np.ndarray:
        """v2 ``[le, rb]`` or v3 ``[rb, rb2]`` of the raster ``px`` (int64), stream state updated."""
        from beamloop.models.trigger_features import region_sums_batch

        x = np.zeros(32, np.int64)
        if self._prev is not None:
            E = region_sums_batch(np.abs(px - self._prev)[None], self.region_map)[0]
            le, rb, self._base = self._codes(E, self._base)
            x[:16], x[16:] = (le, rb) if self.version == "2" else (rb, 0)
        if self.version != "2" and self._prev2 is not None:
            E2 = region_sums_batch(np.abs(px - self._prev2)[None], self.region_map)[0]
            _, x[16:], self._base2 = self._codes(E2, self._base2)
        self._prev2, self._prev = self._prev, px
        return x

    def __call__(self, image: np.ndarray) -> tuple[int, bool]:
        from beamloop.models.trigger_data import choose_shift
        from beamloop.models.trigger_features import network_input, raw_features

        px = rtl_raster(image)
        if self.version == "1":
            S = raw_features(px, self.region_map).S
            if self._shift is None:
                s = choose_shift(S)
                self._shift = (s, max(s - 2, 0))
            x = network_input(S, self._prev, *self._shift)
            self._prev = S
        else:                     # v2/v3: change energies frame by frame (first frame(s): no reference, zeros)
            x = self._inputs_v2v3(px.astype(np.int64))
        score = float(np.asarray(self.mlp(x[None].astype(np.float64))).ravel()[0])
        q = int(round(score / self.scale))
        return q, q > self.threshold
