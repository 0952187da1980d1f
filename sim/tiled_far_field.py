"""Binned far-field intensity from windowed tiles of the exit wave (spectrogram identity).

The camera pixel integrates intensity over its angle ``d_theta``, so the binned Ronchigram
depends mostly on exit-wave correlations over lags up to about the camera's real-space field
of view ``FOV = lambda / d_theta`` (``L = size_px`` internal pixels). With windows ``w_j`` on a
regular lattice such that ``sum_j w_j(r) w_j(r + l) = G(l)`` (independent of r),

    sum_j |DTFT(w_j psi)|^2 (theta) = (|Psi|^2 * K)(theta),   K = FT(G),

i.e. the exact far-field intensity smoothed by a known kernel, here sampled at the camera
pixel centres (the exact path instead integrates |Psi|^2 over the pixel box: one big FFT of
``psi``, N = s * L pixels per side, binned s x s).

Window (default ``fold=2, power=2``): a Hann window ``sin^2(pi (i + 1/2) / S)`` of support
``S = 2 L`` per axis on a lattice of hop ``S / 4 = L / 2``, for which ``sum_j w_j(r) w_j(r + l)``
varies with r by < 3 % of G(0) (``kernel_lag_profile``; the plain sine window at hop S/2 varies
by 45 % and leaves a visible speckle ripple). Each 2L-tile is folded to L x L before its FFT
(the L-point DFT of a 2L-long signal samples its DTFT at the camera pixel centres). The lag
transfer G falls from 1 to 0.17 at one FOV and to 0 at two: the effective pixel response is a
little wider than the box in its main lobe and has no box side lobes, so features coarser than
~1.5 camera pixels match the exact path, while fringes finer than a pixel (aliased by the box
into moire) do not (docs/sim.md, "Tiled far field"). Tiles are cut periodically from the N x N
grid (the exact path's FFT is periodic too); tiles holding a negligible share of the
exit-wave power (``drop_fraction`` in total) are skipped; the total is set to the exit-wave
power (Parseval), which the folding conserves only on average.

Units: none (pixels); the caller owns the physics (angles, dose).
"""

from __future__ import annotations

import functools

import numpy as np

from beamloop.sim.array_backend import fft2

__all__ = ["tile_window", "kernel_lag_profile", "tiled_intensity"]


@functools.lru_cache(maxsize=8)
def tile_window(L: int, off_cycles_per_px: float = 0.0, power: int = 1):
    """(L, L) complex64 window: sine taper per axis times a phase ramp.

    The ramp ``exp(-2 pi i off r)`` (``off`` in cycles per pixel, per axis) moves the tile's
    FFT bins so that they sample the far field at the camera pixel centres of the caller's
    (possibly half-fine-pixel offset) angular grid.
    """
    i = np.arange(L)
    w = np.sin(np.pi * (i + 0.5) / L) ** power * np.exp(-2j * np.pi * off_cycles_per_px * i)
    return np.outer(w, w).astype(np.complex64)


def kernel_lag_profile(L: int, fold: int = 2, power: int = 2) -> tuple[np.ndarray, float]:
    """Per-axis lag transfer of the tiled estimate and its non-stationarity.

    Returns ``(G, dev)``: ``G[l]`` (l = 0..S-1, S = fold * L the window support) is
    ``sum_j w_j(r) w_j(r + l)`` averaged over r and normalised to G[0] = 1; ``dev`` is the
    largest variation of that sum over r relative to G[0] (0 for a perfectly stationary
    lattice; tiling artefacts scale with it). The exact binned path's lag transfer is the
    pixel box's, ~ sinc(l / L).
    """
    S = L * fold
    H = S // (2 * power)
    i = np.arange(S)
    w = np.sin(np.pi * (i + 0.5) / S) ** power
    P = 4 * S                                   # positions r over whole periods of the lattice
    ext = np.zeros(P + 2 * S)
    tot = np.zeros((P, S))
    for start in range(-S, P + S, H):
        ext[:] = 0.0
        lo, hi = max(start, 0), min(start + S, P + 2 * S)
        if hi <= lo:
            continue
        ext[lo:hi] = w[lo - start:hi - start]
        for l in range(S):
            tot[:, l] += ext[:P] * ext[l:l + P]
    mid = tot[S:P - S]                           # away from the ends of the finite lattice
    g0 = mid[:, 0].mean()
    return mid.mean(axis=0) / g0, float((mid.max(axis=0) - mid.min(axis=0)).max() / g0)


def tiled_intensity(psi: np.ndarray, L: int, off_px: float = 0.0, drop_fraction: float = 1e-5,
                    chunk: int = 32, fold: int = 2, power: int = 2) -> tuple[np.ndarray, int]:
    """Spectrogram far-field intensity of exit waves (see the module docstring).

    psi: (B, N, N) complex64 exit waves on a periodic grid, N a multiple of L (L even),
    N >= fold * L. fold, power: window support fold * L, window sin^power, hop support / (2 power).
    off_px: the far-field bin offset in fine pixels (the caller's angular grid puts theta = 0
    at fine index N/2 + off_px); corrected so the output samples theta = (k - L/2) d_theta.
    Returns (B, L, L) float32 intensities with ``sum = N^2 sum |psi|^2`` (as the exact path's
    binned |FFT_N psi|^2) and the number of tiles transformed.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    B, N, N2 = psi.shape
    if N != N2 or N % L or L % 2:
        raise ValueError(f"psi must be (B, N, N) with N a multiple of the even tile size {L}, got {psi.shape}")
    if fold not in (1, 2) or power not in (1, 2):
        raise ValueError(f"fold and power must be 1 or 2, got fold={fold!r}, power={power!r}")
    S = L * fold                          # window support
    if N < S:
        raise ValueError(f"grid {N} px is smaller than the tile support {S} px (fold * L)")
    H = S // (2 * power)                  # hop
    ov = S // H                           # windows per point per axis
    nb = N // H
    W = tile_window(S, float(off_px) / N, power)
    out = np.empty((B, L, L), np.float32)
    pad = np.empty((N + S - H, N + S - H), np.complex64)
    n_tiles = 0
    for b in range(B):
        p = psi[b]
        v = p.view(np.float32)
        blocks = np.square(v).reshape(nb, H, nb, 2 * H).sum(axis=(1, 3), dtype=np.float64)
        # tile (a, c) starts at (a H, c H) and covers blocks a..a+ov-1 (mod nb) x c..c+ov-1
        e = sum(np.roll(blocks, -k, 0) for k in range(ov))
        e = sum(np.roll(e, -k, 1) for k in range(ov))
        flat = e.ravel()
        order = np.argsort(flat)
        cum = np.cumsum(flat[order])
        # drop the weakest tiles while their (over-estimated) power stays below the budget
        n_drop = int(np.searchsorted(cum, drop_fraction * cum[-1] / ov**2, side="right"))
        keep = np.sort(order[n_drop:])
        ia, ic = keep // nb, keep % nb
        n_tiles += len(keep)
        # periodic extension by S - H so that every tile is a plain slice
        E = S - H
        pad[:N, :N] = p
        pad[N:, :N] = p[:E]
        pad[:N, N:] = p[:, :E]
        pad[N:, N:] = p[:E, :E]
        view = sliding_window_view(pad, (S, S))[::H, ::H]        # (nb, nb, S, S), no copy
        acc = np.zeros((L, 2 * L), np.float32)
        for k in range(0, len(keep), chunk):
            tiles = view[ia[k:k + chunk], ic[k:k + chunk]]        # (K, S, S) copy
            tiles *= W
            if fold > 1:   # the L-point DFT of an S-long tile = that of its folded sum
                tiles = tiles.reshape(-1, fold, L, fold, L).sum(axis=(1, 3))
            F = fft2(tiles)
            f = F.view(np.float32)
            np.square(f, out=f)
            acc += f.sum(axis=0)
        img = acc.reshape(L, L, 2).sum(axis=-1)
        # a phase object loses no electrons: the folded tiles conserve the power only on
        # average (cross terms between the folded halves, ~1e-3), so fix the total exactly
        # to N^2 sum |psi|^2 (Parseval, what the exact path's sum is)
        img *= np.float32(N * N * blocks.sum() / max(float(img.sum(dtype=np.float64)), 1e-300))
        out[b] = img
    return out, n_tiles

