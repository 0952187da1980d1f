"""Per-frame trigger features, exactly as docs/trigger_features.md defines them.

Pure integer logic (numpy int64), the Python reference the RTL (``feature_extract.v``,
``trigger_core.v``) and its cocotb golden model must match bit for bit:

- ``S[k]``: sum of counts of region k (region map value ``k``; ``NONE`` pixels are not summed)
- ``T``: total counts of the frame;  ``MX = sum((x - cx) * I)``, ``MY = sum((y - cy) * I)``
- ``a[k] = sat_u8(S[k] >> SHIFT)``, ``d[k] = sat_s8((S[k] - S_prev[k]) >> DSHIFT)``
  (arithmetic shift = floor), ``S_prev = 0`` for the first frame.
- Network input ``x = [a[0..15], d[0..15]]`` (32 integers).

Frame centre: ``cx = W // 2``, ``cy = H // 2`` (integer, so MX/MY stay integers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_REGIONS = 16


@dataclass(frozen=True)
class RawFeatures:
    """Integer per-frame features: ``S`` (R,), ``T``, ``MX``, ``MY`` (counts, counts*pixels)."""

    S: np.ndarray
    T: int
    MX: int
    MY: int


def _check_frame(frame: np.ndarray, region_map: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 2:
        raise ValueError(f"frame must be 2-D (H, W), got shape {frame.shape}")
    if np.asarray(region_map).shape != frame.shape:
        raise ValueError(f"region_map shape {np.asarray(region_map).shape} != frame shape {frame.shape}")
    if not np.issubdtype(frame.dtype, np.integer):
        if not np.all(np.isfinite(frame)):
            raise ValueError("frame contains NaN or inf; detector frames must be integer counts")
        if np.any(frame != np.round(frame)):
            raise ValueError("frame must hold integer counts (unsigned 16-bit)")
    if frame.min(initial=0) < 0 or frame.max(initial=0) > 0xFFFF:
        raise ValueError("frame counts must be in 0..65535 (unsigned 16-bit)")
    return frame.astype(np.int64)


def raw_features(frame: np.ndarray, region_map: np.ndarray, n_regions: int = N_REGIONS) -> RawFeatures:
    """Region sums, total and first moments of one detector ``frame`` (H, W) of uint16 counts.

    ``region_map`` (H, W) holds region ids ``0..n_regions-1``; any other value (NONE) is skipped.
    """
    f = _check_frame(frame, region_map)
    rm = np.asarray(region_map).astype(np.int64)
    valid = (rm >= 0) & (rm < n_regions)
    S = np.zeros(n_regions, dtype=np.int64)
    np.add.at(S, rm[valid], f[valid])
    h, w = f.shape
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = w // 2, h // 2
    return RawFeatures(S=S, T=int(f.sum()), MX=int(((xx - cx) * f).sum()), MY=int(((yy - cy) * f).sum()))


def sat_u8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, 0, 255)


def sat_s8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -128, 127)


def network_input(S: np.ndarray, S_prev: np.ndarray | None, shift: int, dshift: int) -> np.ndarray:
    """The 32 network inputs ``[a[0..15], d[0..15]]`` (int64) from region sums ``S``.

    ``S_prev`` is the previous frame's sums (``None`` or zeros for the first frame).
    """
    if shift < 0 or dshift < 0:
        raise ValueError(f"shift and dshift must be >= 0, got shift={shift}, dshift={dshift}")
    S = np.asarray(S, dtype=np.int64)
    prev = np.zeros_like(S) if S_prev is None else np.asarray(S_prev, dtype=np.int64)
    a = sat_u8(S >> shift)
    d = sat_s8((S - prev) >> dshift)  # numpy >> on int64 is an arithmetic (floor) shift
    return np.concatenate([a, d])


def stream_inputs(frames: np.ndarray, region_map: np.ndarray, shift: int, dshift: int,
                  n_regions: int = N_REGIONS) -> np.ndarray:
    """Network inputs for a stream of frames ``(N, H, W)`` -> ``(N, 2*n_regions)`` int64."""
    out = []
    prev = None
    for fr in frames:
        S = raw_features(fr, region_map, n_regions).S
        out.append(network_input(S, prev, shift, dshift))
        prev = S
    return np.stack(out)


def region_sums_batch(frames: np.ndarray, region_map: np.ndarray, n_regions: int = N_REGIONS) -> np.ndarray:
    """Vectorised ``S[k]`` for frames ``(N, H, W)`` -> ``(N, n_regions)`` int64 (same as raw_features)."""
    frames = np.asarray(frames).astype(np.int64)
    rm = np.asarray(region_map).astype(np.int64)
    onehot = np.stack([(rm == k) for k in range(n_regions)], axis=0).astype(np.int64)  # (R, H, W)
    return np.einsum("nhw,rhw->nr", frames, onehot)


# ---- v2 features (docs/trigger_features.md "v2"): log-domain change energy against a running baseline
BSHIFT = 3


def lq(v: np.ndarray) -> np.ndarray:
    """8-bit log2 code of non-negative integers: ``8*floor(log2 v)`` + the 3 bits below the leading
    one; 0 for ``v <= 1`` (exact integer arithmetic, as ``trigger_core.v``'s ``lq``)."""
    v = np.asarray(v, dtype=np.int64)
    if np.any(v < 0) or np.any(v >= 2**32):
        raise ValueError("lq takes 32-bit unsigned values")
    _, ex = np.frexp(v.astype(np.float64))           # v = m * 2**ex, m in [0.5, 1): exact below 2**53
    e = np.where(v > 0, ex - 1, 0).astype(np.int64)
    t = np.where(e >= 3, v >> np.maximum(e - 3, 0), v << np.maximum(3 - e, 0)) & 7
    return np.where(v > 1, 8 * e + t, 0).astype(np.int64)


def change_energy_batch(frames: np.ndarray, region_map: np.ndarray, n_regions: int = N_REGIONS,
                        lag: int = 1) -> np.ndarray:
    """``E[k] = sum_{p in k} |I_t(p) - I_(t-lag)(p)|`` for frames ``(N, H, W)`` -> ``(N, R)`` int64
    (rows ``0..lag-1`` = 0: no reference). ``lag`` 1 = v2's ``E``, 2 = v3's ``E2`` (two frames back)."""
    if lag < 1:
        raise ValueError(f"lag must be >= 1 frame, got {lag}")
    f = np.asarray(frames).astype(np.int64)
    D = np.zeros_like(f)
    D[lag:] = np.abs(f[lag:] - f[:-lag])
    return region_sums_batch(D, region_map, n_regions)


def baseline_codes(E: np.ndarray, e_valid: np.ndarray, bshift: int = BSHIFT) -> tuple[np.ndarray, np.ndarray]:
    """``le = lq(E)`` and ``rb = sat_s8(le - lq(B))`` (N, R) int64 of a stream's change energies ``E``
    (N, R) with the running baseline ``B`` (``B := E`` at the first valid frame, then
    ``B += (E - B) >> bshift`` after every valid frame); frames with ``e_valid`` False give zeros
    and leave ``B`` unchanged."""
    E = np.asarray(E, dtype=np.int64)
    le_out, rb_out = np.zeros_like(E), np.zeros_like(E)
    base = None
    for t in range(len(E)):
        if not e_valid[t]:
            continue
        b = E[t].copy() if base is None else base
        le = lq(E[t])
        le_out[t], rb_out[t] = le, sat_s8(le - lq(b))
        base = b + ((E[t] - b) >> bshift)
    return le_out, rb_out


def stream_inputs_v2(E: np.ndarray, e_valid: np.ndarray | None = None, bshift: int = BSHIFT) -> np.ndarray:
    """Network inputs ``[le[0..15], rb[0..15]]`` (N, 32) int64 of a stream's change energies ``E``
    (N, R); ``e_valid`` (N,) bool (default: all frames but the first); :func:`baseline_codes`."""
    E = np.asarray(E, dtype=np.int64)
    valid = np.arange(len(E)) > 0 if e_valid is None else np.asarray(e_valid, bool)
    le, rb = baseline_codes(E, valid, bshift)
    return np.concatenate([le, rb], axis=1)


def stream_inputs_v3(E: np.ndarray, E2: np.ndarray, e_valid: np.ndarray | None = None,
                     e2_valid: np.ndarray | None = None, bshift: int = BSHIFT) -> np.ndarray:
    """v3 network inputs ``[rb[0..15], rb2[0..15]]`` (N, 32) int64, all signed: ``rb`` of the change
    energy against the previous frame ``E`` and ``rb2`` of the one against two frames back ``E2``
    (each with its own running baseline, :func:`baseline_codes`). Defaults: ``E`` valid from frame
    1, ``E2`` from frame 2 (docs/trigger_features.md v3)."""
    E, E2 = np.asarray(E, dtype=np.int64), np.asarray(E2, dtype=np.int64)
    n = np.arange(len(E))
    v1 = n > 0 if e_valid is None else np.asarray(e_valid, bool)
    v2 = n > 1 if e2_valid is None else np.asarray(e2_valid, bool)
    return np.concatenate([baseline_codes(E, v1, bshift)[1], baseline_codes(E2, v2, bshift)[1]], axis=1)


def stream_inputs_frames(frames: np.ndarray, region_map: np.ndarray, version: int = 2,
                         n_regions: int = N_REGIONS) -> np.ndarray:
    """Network inputs (N, 32) of one complete stream of frames ``(N, H, W)`` for features ``version``
    2 (``[le, rb]``) or 3 (``[rb, rb2]``)."""
    E = change_energy_batch(frames, region_map, n_regions)
    if version == 2:
        return stream_inputs_v2(E)
    if version == 3:
        return stream_inputs_v3(E, change_energy_batch(frames, region_map, n_regions, lag=2))
    raise ValueError(f"features version {version}: stream_inputs_frames knows 2 and 3")
