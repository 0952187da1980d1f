"""Golden models of the trigger path (frame_ingest, feature_extract, trigger_core and the
placeholder network), written independently of the RTL from docs/trigger_features.md."""

from __future__ import annotations

import numpy as np


def ingest(beats, w: int, h: int):
    """Model of frame_ingest over (data, tuser, tlast) beats.

    Returns (forwarded [(data, x, y, sof, eof)], frames, errors, last_error)."""
    out, frames, errors, last = [], 0, 0, 0
    in_frame = skipping = False
    x = y = 0
    for data, sof, eol in beats:
        in_px = sof or in_frame
        cx, cy = (0, 0) if sof else (x, y)
        short = in_px and eol and cx != w - 1
        long_ = in_px and not eol and cx == w - 1
        ok = in_px and not short and not long_
        err = 3 if (sof and in_frame) else 1 if short else 2 if long_ else 4 if (not in_px and not skipping) else 0
        if err:
            errors += 2 if (err == 3 and (short or long_)) else 1
            last = err
        if not ok:
            in_frame, skipping = False, True
            continue
        eof = eol and cy == h - 1
        out.append((data, cx, cy, int(sof), int(eof)))
        if eof:
            in_frame, skipping, frames = False, False, frames + 1
        else:
            in_frame, skipping = True, False
            x, y = (0, cy + 1) if eol else (cx + 1, cy)
    return out, frames, errors, last


def features(frame: np.ndarray, region_map: np.ndarray, r: int = 16):
    """(S[0..r-1], T, MX, MY) of one frame, by explicit loops over pixels."""
    h, w = frame.shape
    S = [0] * r
    T = MX = MY = 0
    for yy in range(h):
        for xx in range(w):
            v = int(frame[yy, xx])
            T += v
            MX += (xx - w // 2) * v
            MY += (yy - h // 2) * v
            k = int(region_map[yy, xx])
            if k < r:
                S[k] += v
    return S, T & 0xFFFFFFFF, MX, MY


def net_input(S, prev, shift: int, dshift: int) -> list[int]:
    """The 32 network inputs: a[k] (0..255) then d[k] (-128..127)."""
    a = [min(s >> shift, 255) for s in S]
    d = [max(-128, min(127, (s - p) >> dshift)) for s, p in zip(S, prev)]
    return a + d


def pack_bytes(x: list[int]) -> int:
    """32 inputs -> the 256-bit in_data word (input 0 in the least significant byte)."""
    return sum((v & 0xFF) << (8 * i) for i, v in enumerate(x))


def placeholder_score(x: list[int], out_w: int = 16) -> int:
    """trigger_net_placeholder: sum of the 16 signed d[k] inputs."""
    s = sum(x[16:32])
    m = 1 << out_w
    s &= m - 1
    return s - m if s >= m // 2 else s


def lq(v: int) -> int:
    """8*floor(log2 v) + the 3 bits below the leading one; 0 for v <= 1."""
    if v <= 1:
        return 0
    e = v.bit_length() - 1
    m = (v >> (e - 3)) if e >= 3 else (v << (3 - e))
    return 8 * e + (m & 7)


def energy(frame: np.ndarray, ref, region_map: np.ndarray, r: int = 16) -> list[int]:
    """E[k] = sum |I - I_ref| over region k (pixel loops); zeros when ``ref`` is None."""
    h, w = frame.shape
    E = [0] * r
    if ref is None:
        return E
    for yy in range(h):
        for xx in range(w):
            k = int(region_map[yy, xx])
            if k < r:
                E[k] += abs(int(frame[yy, xx]) - int(ref[yy, xx]))
    return E


class NetInputV2:
    """trigger_core v2 preprocessing: le = lq(E), rb = sat_s8(le - lq(B)), B running baseline."""

    def __init__(self, bshift: int = 3):
        self.base = None
        self.bshift = bshift

    def __call__(self, E: list[int], valid: bool) -> list[int]:
        if not valid:
            return [0] * (2 * len(E))
        b = list(E) if self.base is None else self.base
        le = [lq(e) for e in E]
        rb = [max(-128, min(127, x - lq(bb))) for x, bb in zip(le, b)]
        self.base = [bb + ((e - bb) >> self.bshift) for e, bb in zip(E, b)]
        return le + rb


class NetInputV3:
    """trigger_core v3 preprocessing: [rb of E, rb2 of E2], each with its own running baseline
    (E against the previous frame, E2 against two frames back; docs/trigger_features.md v3)."""

    def __init__(self, bshift: int = 3):
        self.e1 = NetInputV2(bshift)
        self.e2 = NetInputV2(bshift)

    def __call__(self, E: list[int], valid: bool, E2: list[int], valid2: bool) -> list[int]:
        r = len(E)
        return self.e1(E, valid)[r:] + self.e2(E2, valid2)[r:]
