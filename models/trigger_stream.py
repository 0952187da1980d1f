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
    baseline, :func:`~beamloop.models.trigger_features.stream_inputs_v2`) frame by frame."""

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
        else:                     # v2: stream_inputs_v2 frame by frame (first frame: no reference, zeros)
            from beamloop.models.trigger_features import BSHIFT, lq, region_sums_batch, sat_s8

            x = np.zeros(32, np.int64)
            if self._prev is not None:
                E = region_sums_batch(np.abs(px.astype(np.int64) - self._prev)[None], self.region_map)[0]
                b = E.copy() if self._base is None else self._base
                le = lq(E)
                x = np.concatenate([le, sat_s8(le - lq(b))])
                self._base = b + ((E - b) >> BSHIFT)
            self._prev = px.astype(np.int64)
        score = float(np.asarray(self.mlp(x[None].astype(np.float64))).ravel()[0])
        q = int(round(score / self.scale))
        return q, q > self.threshold
