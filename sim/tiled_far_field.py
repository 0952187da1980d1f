"""Binned far-field intensity from windowed, camera-sized tiles of the exit wave.

The camera pixel integrates intensity over its angle ``d_theta``, so the binned Ronchigram
only depends on exit-wave correlations over lags shorter than the camera's real-space field of
view ``FOV = lambda / d_theta`` (``L = size_px`` internal pixels). With windows ``w_j`` on a
regular lattice such that ``sum_j w_j(r) w_j(r + l) = G(l)`` (independent of r), the
spectrogram identity gives

    sum_j |FFT_L(w_j psi)|^2 (theta) = (|Psi|^2 * K)(theta),   K = FT(G),

i.e. the exact far-field intensity smoothed by a known kernel about one camera pixel wide,
sampled at the camera pixel centres - the same information the exact path gets by one big FFT
of ``psi`` (N = s * L pixels per side) binned s x s, whose kernel is the pixel box.

Window: ``w(i) = sin(pi (i + 1/2) / L)`` per axis (i = 0..L-1), on a lattice of hop L/2, so
``sum_j w_j^2 = 1`` exactly (sin^2 + cos^2; dose is conserved) and G is stationary to within
the truncation of the sine at the tile edges (tested: no tiling artefacts). Tiles are cut
periodically from the N x N grid (the exact path's FFT is periodic too), tiles holding a
negligible share of the exit-wave power (the probe's far tails, ``drop_fraction`` in total)
are skipped, and the rest are FFT'd in batches of camera size, which is much cheaper per
point than one N^2 FFT (cache-resident) and skips the empty corners of the big grid.

Units: none (pixels); the caller owns the physics (angles, dose).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["tile_window", "kernel_lag_profile", "tiled_intensity"]


@functools.lru_cache(maxsize=8)
def tile_window(L: int, off_cycles_per_px: float = 0.0):
    """(L, L) complex64 torch window: sine taper per axis times a phase ramp.

    The ramp ``exp(-2 pi i off r)`` (``off`` in cycles per pixel, per axis) moves the tile's
    FFT bins so that they sample the far field at the camera pixel centres of the caller's
    (possibly half-fine-pixel offset) angular grid.
    """
    import torch

    i = np.arange(L)
    w = np.sin(np.pi * (i + 0.5) / L) * np.exp(-2j * np.pi * off_cycles_per_px * i)
    return torch.from_numpy(np.outer(w, w).astype(np.complex64))


def kernel_lag_profile(L: int) -> np.ndarray:
    """G(l) per axis for lags l = 0..L-1, averaged over r: the lag transfer of the tiled
    estimate (the exact binned path's is the pixel box's, ~ sinc(l / L))."""
    i = np.arange(L)
    w = np.sin(np.pi * (i + 0.5) / L)
    H = L // 2
    g = np.zeros(L)
    # average over one hop of positions r of sum_j w_j(r) w_j(r + l); windows at multiples of H
    for r in range(H):
        for l in range(L):
            tot = 0.0
            for start in (-L, -H, 0, H, L):
                a, b = r - start, r + l - start
                if 0 <= a < L and 0 <= b < L:
                    tot += w[a] * w[b]
            g[l] += tot
    return g / H


def tiled_intensity(psi: np.ndarray, L: int, off_px: float = 0.0, drop_fraction: float = 1e-5,
                    chunk: int = 64, fold: int = 1) -> tuple[np.ndarray, int]:
    """Spectrogram far-field intensity of exit waves.

    psi: (B, N, N) complex64 exit waves on a periodic grid, N a multiple of L (L even).
    off_px: the far-field bin offset in fine pixels (the caller's angular grid puts theta = 0
    at fine index N/2 + off_px); corrected so the output samples theta = (k - L/2) d_theta.
    Returns (B, L, L) float32 intensities scaled like the exact path before binning-sum, i.e.
    ``sum = N^2 sum |psi|^2`` when nothing is dropped, and the number of tiles transformed.
    """
    import torch
    from numpy.lib.stride_tricks import sliding_window_view

    B, N, N2 = psi.shape
    if N != N2 or N % L or L % 2:
        raise ValueError(f"psi must be (B, N, N) with N a multiple of the even tile size {L}, got {psi.shape}")
    S = L * fold                 # window support (pixels per side)
    H = S // 2                   # hop: half the support
    if N % H:
        raise ValueError(f"grid {N} is not a multiple of the hop {H}")
    nb = N // H
    W = tile_window(S, float(off_px) / N).numpy()
    scale = np.float32((N / L) ** 2)
    out = np.empty((B, L, L), np.float32)
    pad = np.empty((N + H, N + H), np.complex64)
    if N < S:
        raise ValueError(f"grid {N} smaller than the tile support {S}")
    n_tiles = 0
    for b in range(B):
        p = psi[b]
        v = p.view(np.float32)
        blocks = np.square(v).reshape(nb, H, nb, 2 * H).sum(axis=(1, 3), dtype=np.float64)
        # tile (a, c) starts at (a H, c H) and covers blocks a, a+1 (mod nb) x c, c+1
        e = blocks + np.roll(blocks, -1, 0)
        e = e + np.roll(e, -1, 1)
        flat = e.ravel()
        order = np.argsort(flat)
        cum = np.cumsum(flat[order])
        # drop the weakest tiles while their (over-estimated) power stays below the budget
        n_drop = int(np.searchsorted(cum, drop_fraction * cum[-1] / 4, side="right"))
        keep = np.sort(order[n_drop:])
        ia, ic = keep // nb, keep % nb
        n_tiles += len(keep)
        # periodic extension by H so that every tile is a plain slice
        pad[:N, :N] = p
        pad[N:, :N] = p[:H]
        pad[:N, N:] = p[:, :H]
        pad[N:, N:] = p[:H, :H]
        view = sliding_window_view(pad, (S, S))[::H, ::H]        # (nb, nb, S, S), no copy
        acc = np.zeros((L, 2 * L), np.float32)
        for k in range(0, len(keep), chunk):
            tiles = view[ia[k:k + chunk], ic[k:k + chunk]]        # (K, L, L) copy
            tiles *= W
            if fold > 1:   # the L-point DFT of an S-long signal = that of its folded sum
                tiles = tiles.reshape(-1, fold, L, fold, L).sum(axis=(1, 3))
            F = torch.fft.fft2(torch.from_numpy(tiles)).numpy()
            f = F.view(np.float32)
            np.square(f, out=f)
            acc += f.sum(axis=0)
        out[b] = acc.reshape(L, L, 2).sum(axis=-1)
    out *= scale
    return out, n_tiles

