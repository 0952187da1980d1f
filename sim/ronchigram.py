"""Wave-optical Ronchigram simulation.

A probe formed by a round condenser aperture (semi-angle alpha) with aberration phase
``exp(-i chi)`` is focused near a thin sample (phase-object transmission ``t``); the camera
records the far-field intensity ``|FFT(probe * t)|^2`` in angle space, binned to camera
pixels, scaled to a dose and passed through the camera model (shot noise, MTF, gain, readout).

Sampling (the crux, see docs/sim.md): the angular grid of pitch ``d_theta`` implies a
periodic real-space field of view ``FOV = lambda / d_theta``. A defocused or aberrated probe
covers a disc of radius ``max |grad chi| / k`` (the geometric ray footprint), which at
hundreds of nm of C1 is far larger than the ~3 nm FOV of a 128-px camera. So every frame is
computed on an internal angular grid ``oversample`` times finer than the camera (FOV
``oversample`` times larger, chosen per frame from the footprint) and binned back to camera
pixels, which is also what a physical pixel does (it integrates intensity). The footprint is
measured as a bounding box; the grid is centred on it and oversampled per axis (``s_x x s_y``),
so off-centre (coma) and line-shaped (astigmatic) footprints cost only what they cover. A
footprint that would need more than ``max_oversample`` raises (or warns), never silently wraps
around. ``method="tiled"`` computes the far field from windowed camera-size tiles instead of
one big FFT (``sim.tiled_far_field``; validated against the exact path, but slower here).

Partial coherence. Temporal (focal spread, rms ``focal_spread_m``): incoherent sum over
``focal_spread_samples`` Gauss-Hermite focus values (C10 shifted). Spatial (Gaussian source
of FWHM ``source_size_m``): averaging Ronchigrams over source points equals averaging over
sample shifts, which multiplies every sample Fourier component v(q) by
``exp(-2 pi^2 sigma^2 q^2)`` in the terms linear in the sample potential; we apply that
envelope to the projected potential once (exact to first order in the weak-phase regime
of thin carbon, approximate for strong crystal scattering), so it costs nothing per frame.

Units: SI throughout (m, rad, eV); images in camera counts (float32), first axis = x
(theta_x), optical axis at pixel (size_px // 2, size_px // 2).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from beamloop.sim.aberrations import NAMES, Aberrations, coefficient_matrix, canonical_name, chi_gradient_basis, chi_monomials
from beamloop.sim.samples import SampleSpec, transmission
from beamloop.sim.array_backend import fft2, ifft2, matmul, single_thread
from beamloop.sim.ronchigram_config import METHODS, RonchigramConfig, UndersampledError  # noqa: F401
from beamloop.sim.tiled_far_field import tiled_intensity

__all__ = ["RonchigramConfig", "RonchigramSimulator", "UndersampledError"]

_C10 = NAMES.index("C10")
CRYSTAL_SINGLE_SLICE_MAX_M = 5e-9   # projection approximation limit for Si at 200-300 kV (docs/sim.md)


@functools.lru_cache(maxsize=2)
def _cached_transmission(spec: SampleSpec, n_px: int, pixel_m: float, energy_eV: float,
                         blur_sigma_m: float) -> np.ndarray:
    """The sample patch, shared (read-only) by simulators with the same sample, grid and beam
    (e.g. a twin that rebuilds its simulator when only dose or camera settings change)."""
    t = transmission(spec, n_px, pixel_m, energy_eV, blur_sigma_m=blur_sigma_m)
    t.setflags(write=False)
    return t


@dataclass
class _Grid:
    """Precomputed internal angular grid for one pair of oversample factors (x, y)."""

    sx: int
    sy: int
    nx: int                  # grid size (size_px * sx, size_px * sy)
    ny: int
    lox: int                 # the aperture lies in the box [lox, hix) x [loy, hiy) of the grid
    hix: int
    loy: int
    hiy: int
    vx: np.ndarray           # (hix - lox, 7) float32 Vandermonde theta_x^a over the box rows
    vy_t: np.ndarray         # (7, hiy - loy) float32 theta_y^b over the box columns
    amp_re: np.ndarray       # (P,) aperture amplitude (soft edge, 0 outside) * (-1)^(ix+iy): the sign centres probe and far field
    amp_im: np.ndarray       # (P,) -amp_re (imaginary part of amp * exp(-i chi) = -amp sin chi)
    power: float             # sum |amp|^2


_OVERSAMPLE_CAP = 2**31  # "more than any grid": huge or non-finite footprints saturate here, never wrap


def _oversample_needed(extent_m: np.ndarray, fov_m: float) -> np.ndarray:
    """Integer oversample (>= 1) so a footprint of ``extent_m`` (m, x 1.1) fits the FOV (m);
    saturates at ``_OVERSAMPLE_CAP`` (a float -> int cast of a huge value would wrap negative
    and silence the undersampling check)."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(extent_m, float) * 1.1 / fov_m
    v = np.where(np.isfinite(v), v, _OVERSAMPLE_CAP)
    return np.clip(np.ceil(v), 1, _OVERSAMPLE_CAP).astype(np.int64)


class RonchigramSimulator:
    """Simulates Ronchigrams for one :class:`RonchigramConfig` (grids and sample precomputed).

    ``simulate(ab)`` -> float32 (size, size) counts with fresh noise every call;
    ``simulate_batch(abs)`` -> (N, size, size); ``expected(ab)`` -> noiseless electrons.
    """

    def __init__(self, cfg: RonchigramConfig | None = None, seed: int = 0, **overrides):
        cfg = cfg or RonchigramConfig()
        if overrides:
            cfg = replace(cfg, **overrides)
        self.cfg = cfg
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)
        self.wavelength_m = cfg.wavelength_m
        self.k = 2 * math.pi / self.wavelength_m
        self.camera = cfg.camera_model()
        self._grids: dict[tuple[int, int], _Grid] = {}
        smax = cfg.oversample or cfg.max_oversample
        auto_patch = min(max(2048, int(math.ceil((cfg.size_px * smax + 512) / 256)) * 256), 4096)
        n_patch = cfg.sample_patch_px or auto_patch
        self.patch_px = n_patch
        if cfg.sample != "amorphous_carbon" and cfg.sample_thickness_m > CRYSTAL_SINGLE_SLICE_MAX_M:
            warnings.warn(
                f"sample_thickness_m={cfg.sample_thickness_m:g} m of {cfg.sample}: the single-slice (projection) "
                f"model ignores dynamical scattering beyond ~{CRYSTAL_SINGLE_SLICE_MAX_M:g} m of crystal; "
                "Ronchigram contrast will be qualitative", stacklevel=2)
        spec = SampleSpec(cfg.sample, cfg.sample_thickness_m, cfg.sample_rotation_rad, seed,
                          cfg.sample_min_distance_m)
        self._t = _cached_transmission(spec, n_patch, cfg.pixel_m, cfg.energy_eV,
                                       cfg.source_size_m / (2 * math.sqrt(2 * math.log(2))))
        self._coh = self._coherence_states()
        self._mono = chi_monomials().reshape(len(NAMES), 49)      # chi basis as monomials tx^a ty^b
        self._foot = self._footprint_points()

    # --- set-up -----------------------------------------------------------------------
    def _coherence_states(self) -> tuple[np.ndarray, np.ndarray]:
        """(focal offsets in m, weights) of the incoherent focus states (Gauss-Hermite)."""
        cfg = self.cfg
        K = cfg.focal_spread_samples
        if K == 1 or cfg.focal_spread_m == 0:
            return np.zeros(1), np.ones(1)
        x, w = np.polynomial.hermite_e.hermegauss(K)     # probabilists' Hermite: N(0, 1)
        return x * cfg.focal_spread_m, w / w.sum()

    def _footprint_points(self):
        """Angles on the aperture (edge-heavy polar set) where the ray footprint is evaluated."""
        a = self.cfg.convergence_semiangle_rad
        r = a * np.sqrt(np.linspace(0.05, 1.0, 12))
        ph = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        R, P = np.meshgrid(r, ph, indexing="ij")
        tx, ty = (R * np.cos(P)).ravel(), (R * np.sin(P)).ravel()
        gx, gy = chi_gradient_basis(tx, ty)
        return tx, ty, (np.ascontiguousarray(gx), np.ascontiguousarray(gy))

    def grid(self, sx: int, sy: int | None = None) -> _Grid:
        """The internal angular grid oversampled sx times along theta_x and sy along theta_y."""
        sy = sx if sy is None else sy
        key = (int(sx), int(sy))
        g = self._grids.get(key)
        if g is not None:
            return g
        cfg = self.cfg
        sx, sy = key
        nx, ny = cfg.size_px * sx, cfg.size_px * sy
        dx, dy = cfg.camera_rad_per_px / sx, cfg.camera_rad_per_px / sy
        i, j = np.arange(nx), np.arange(ny)
        thx = (i - nx / 2 - (sx - 1) / 2) * dx
        thy = (j - ny / 2 - (sy - 1) / 2) * dy
        TX, TY = np.meshgrid(thx, thy, indexing="ij")
        R = np.hypot(TX, TY)
        # one-(coarser)-fine-pixel soft edge (anti-aliased aperture)
        amp = np.clip((cfg.convergence_semiangle_rad - R) / max(dx, dy) + 0.5, 0.0, 1.0)
        inx = np.flatnonzero(amp.any(axis=1))
        iny = np.flatnonzero(amp.any(axis=0))
        lox, hix, loy, hiy = int(inx[0]), int(inx[-1]) + 1, int(iny[0]), int(iny[-1]) + 1
        box = (slice(lox, hix), slice(loy, hiy))
        I, J = np.meshgrid(i, j, indexing="ij")
        sign = np.where((I + J) % 2 == 0, 1.0, -1.0)[box].ravel()
        pw = np.arange(7)
        vx = np.ascontiguousarray((thx[lox:hix, None] ** pw).astype(np.float32))
        vy_t = np.ascontiguousarray((thy[loy:hiy, None] ** pw).T.astype(np.float32))
        a = amp[box].ravel()
        g = _Grid(
            sx=sx, sy=sy, nx=nx, ny=ny, lox=lox, hix=hix, loy=loy, hiy=hiy,
            vx=vx, vy_t=vy_t,
            amp_re=(a * sign).astype(np.float32), amp_im=(-a * sign).astype(np.float32),
            power=float(np.sum(amp**2)),
        )
        self._grids[key] = g
        return g

    # --- sampling check -----------------------------------------------------------------
    def footprint_m(self, abs_) -> np.ndarray:
        """Diameter (m) of the region the probe covers at the sample, per aberration set.

        2 * (max over the aperture of |grad chi| / k + largest focal-spread offset * alpha
        + 2 lambda / alpha (diffraction tail)). (The source size acts as an envelope on the
        sample, not on the footprint.)
        """
        C, _ = coefficient_matrix(abs_)
        _, _, (bx, by) = self._foot
        # torch matmul where installed (threads pinned to 1 inside simulate calls; numpy's
        # OpenBLAS threads spin badly on a busy machine): sim/array_backend.py
        Ct = np.array(C, dtype=np.float64)     # a writable copy (C may be read-only)
        gx = matmul(Ct, bx)
        gy = matmul(Ct, by)
        r = np.sqrt(gx**2 + gy**2).max(axis=1)           # = max |grad chi| / k (ray radius, m)
        cfg = self.cfg
        a = cfg.convergence_semiangle_rad
        df_max = float(np.abs(self._coh[0]).max())
        extra = df_max * a + 2 * self.wavelength_m / a
        return 2 * (r + extra)

    def footprint_box_m(self, abs_) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box of the probe footprint per aberration set: (extent (B, 2), centre (B, 2)), m.

        Extent along x and y of the geometric ray positions ``grad chi / k`` over the aperture
        plus, on each side, the focal-spread spread and the diffraction margin 2 lambda / alpha;
        centre relative to the probe position (coma and 3-fold terms move the footprint off it).
        The simulator centres its internal grid on this box, so only the extent has to fit.
        """
        C, _ = coefficient_matrix(abs_)
        _, _, (bx, by) = self._foot
        Ct = np.array(C, dtype=np.float64)
        gx = matmul(Ct, bx)
        gy = matmul(Ct, by)
        a = self.cfg.convergence_semiangle_rad
        extra = float(np.abs(self._coh[0]).max()) * a + 2 * self.wavelength_m / a
        lo = np.stack([gx.min(axis=1), gy.min(axis=1)], axis=1)
        hi = np.stack([gx.max(axis=1), gy.max(axis=1)], axis=1)
        return hi - lo + 2 * extra, (hi + lo) / 2

    def required_oversample(self, abs_) -> np.ndarray:
        """Smallest internal oversample per aberration set so the footprint's bounding box
        (larger side, x 1.1) fits the FOV (the grid is centred on the box)."""
        ext, _ = self.footprint_box_m(abs_)
        return _oversample_needed(ext.max(axis=1), self.cfg.fov_m)

    def _choose_oversample(self, C: np.ndarray) -> np.ndarray:
        """(B, 2) oversample factors (x, y) per frame: each axis from the footprint box's
        extent along it (a line focus needs a fine grid along the line only), or the forced
        ``oversample`` on both; square (the larger) where the tiled far field is used."""
        cfg = self.cfg
        ext, _ = self.footprint_box_m(C)
        need_xy = _oversample_needed(ext, cfg.fov_m)
        need = need_xy.max(axis=1)
        if cfg.oversample is not None:
            bad = need > cfg.oversample
            s = np.full((len(C), 2), cfg.oversample)
        else:
            bad = need > cfg.max_oversample
            s = np.minimum(need_xy, cfg.max_oversample)
            sq = np.array([self._use_tiled(int(v)) for v in s.max(axis=1)], bool)
            s[sq] = s[sq].max(axis=1, keepdims=True)
        if np.any(bad):
            j = int(np.argmax(bad))
            limit = cfg.oversample or cfg.max_oversample
            msg = (
                f"aberrations too large for this camera sampling: the probe footprint "
                f"{self.footprint_box_m(C[j:j+1])[0].max()*1e9:.1f} nm needs oversample {int(need[j])} > {limit} "
                f"(FOV {cfg.fov_m*1e9:.2f} nm per oversample step; frame {j}: "
                f"{Aberrations.from_vector(C[j])!r}). Raise max_oversample, rad_per_px or reduce the aberrations."
            )
            if cfg.on_undersampled == "raise":
                raise UndersampledError(msg)
            warnings.warn(msg + " Simulated anyway: expect wrap-around artefacts.", stacklevel=3)
        return s

    # --- core -------------------------------------------------------------------------------
    def _positions_px(self, shifts: np.ndarray) -> np.ndarray:
        """Probe positions in patch pixels (float) from scan shifts (m)."""
        return self.patch_px / 2 + shifts / self.cfg.pixel_m

    def _use_tiled(self, s: int) -> bool:
        """Whether frames at oversample ``s`` use the tiled far field (config ``method``)."""
        m = self.cfg.method
        if s < 2 or m == "exact":
            return False
        return m == "tiled" or s >= self.cfg.tiled_min_oversample

    def _intensity(self, C: np.ndarray, pos_px: np.ndarray, sx: int, sy: int | None = None) -> np.ndarray:
        """Noiseless far-field intensity, binned to camera pixels, sum ~ 1. (B, size, size)."""
        sy = sx if sy is None else sy
        tiled = sx == sy and self._use_tiled(sx)
        s = max(sx, sy)

        g = self.grid(sx, sy)
        nx, ny = g.nx, g.ny
        B = len(C)
        half = np.array([nx // 2, ny // 2])
        # centre the grid on the footprint box: the crop moves by the box centre c and the
        # probe by -c within the grid (a phase ramp), so the probe stays at pos_px on the sample
        _, cen = self.footprint_box_m(C)
        q = pos_px + cen / self.cfg.pixel_m
        ip = np.floor(q).astype(np.int64)
        fp = (q - ip) * self.cfg.pixel_m - cen                    # probe shift in the grid, m
        lo = ip - half
        if np.any(lo < 0) or np.any(lo + np.array([nx, ny]) > self.patch_px):
            raise UndersampledError(
                f"scan_shift_m (or the oversampled field of view) out of the simulated sample patch (+-{(self.patch_px - max(nx, ny)) / 2 * self.cfg.pixel_m * 1e9:.1f} nm "
                f"at oversample {sx} x {sy})"
            )
        if np.all(lo == lo[0]):
            crop = self._t[lo[0, 0]:lo[0, 0] + nx, lo[0, 1]:lo[0, 1] + ny][None]
        else:
            crop = np.empty((B, nx, ny), np.complex64)
            for b in range(B):
                crop[b] = self._t[lo[b, 0]:lo[b, 0] + nx, lo[b, 1]:lo[b, 1] + ny]
        # chi (+ the probe shift's phase ramp) as a polynomial in (theta_x, theta_y) on the
        # tensor-product grid: Vx @ c @ Vy^T, float32 (|chi| up to ~1e3 rad -> ~1e-4 rad error)
        coef = (self.k * C) @ self._mono                          # (B, 49) float64
        coef[:, 7] += self.k * fp[:, 0]                           # tx^1 ty^0
        coef[:, 1] += self.k * fp[:, 1]                           # tx^0 ty^1

        def phase(c: np.ndarray) -> np.ndarray:
            ct = c.reshape(-1, 7, 7).astype(np.float32)
            return matmul(g.vx, matmul(ct, g.vy_t)).reshape(len(c), -1)

        base = phase(coef)                                        # (B, P)
        wx, wy = g.hix - g.lox, g.hiy - g.loy
        wave = np.zeros((B, nx, ny), np.complex64)
        box = wave[:, g.lox:g.hix, g.loy:g.hiy]
        out = None
        for df, w in zip(*self._coh):
            ph = phase(coef + self.k * df * self._mono[_C10]) if df else base
            c = np.cos(ph)
            c *= g.amp_re
            box.real = c.reshape(B, wx, wy)
            c = np.sin(ph, out=c)
            c *= g.amp_im
            box.imag = c.reshape(B, wx, wy)
            psi = ifft2(wave)
            np.multiply(psi, crop, out=psi)
            if tiled:      # already camera-sized (see sim/tiled_far_field.py)
                inten, _ = tiled_intensity(psi, self.cfg.size_px, off_px=(s - 1) / 2)
            else:
                far = fft2(psi)
                inten = np.square(far.real)
                inten += np.square(far.imag)
            if out is None:
                out = inten if w == 1 else inten * np.float32(w)
            else:
                out += inten * np.float32(w)
        I = out
        if s > 1 and not tiled:
            m = self.cfg.size_px
            I = I.reshape(B, m, sx, m, sy).sum(axis=(2, 4))
        return I / np.float32(g.power)

    # --- public API ---------------------------------------------------------------------
    def _prepare(self, abs_, names, scan_shifts, random_positions, rng) -> tuple[np.ndarray, np.ndarray]:
        if names is not None and not isinstance(abs_, Aberrations) and not (
            isinstance(abs_, (list, tuple)) and abs_ and isinstance(abs_[0], Aberrations)
        ):
            arr = np.atleast_2d(np.asarray(abs_, dtype=float))
            names = list(names)
            if arr.ndim != 2 or arr.shape[1] != len(names):
                raise ValueError(f"aberrations array must have shape (N, {len(names)}) for names {names}, got {arr.shape}")
            idx = [NAMES.index(canonical_name(nm)) for nm in names]
            if len(set(idx)) != len(idx):
                raise ValueError(f"names repeat a coefficient: {names}")
            full = np.zeros((arr.shape[0], len(NAMES)))
            full[:, idx] = arr
            abs_ = full
        C, _ = coefficient_matrix(abs_)
        B = len(C)
        if scan_shifts is None:
            shifts = np.zeros((B, 2))
        else:
            shifts = np.asarray(scan_shifts, dtype=float)
            if shifts.shape == (2,):
                shifts = np.broadcast_to(shifts, (B, 2)).copy()
            if shifts.shape != (B, 2) or not np.all(np.isfinite(shifts)):
                raise ValueError(f"scan_shift_m must be finite, shape (2,) or ({B}, 2) metres, got shape {shifts.shape}")
        pos = self._positions_px(shifts)
        if random_positions:
            s_all = self._choose_oversample(C)
            _, cen = self.footprint_box_m(C)
            margin = self.cfg.size_px * s_all.max(axis=1) / 2 + np.abs(cen).max(axis=1) / self.cfg.pixel_m + 2
            span = self.patch_px / 2 - margin
            if np.any(span <= 0):
                raise ValueError("sample patch too small for random positions at this oversample; "
                                 "raise sample_patch_px")
            pos = pos + rng.uniform(-1, 1, size=(B, 2)) * span[:, None]
        return C, pos

    def _expected_core(self, C: np.ndarray, pos: np.ndarray) -> np.ndarray:
        s_all = self._choose_oversample(C)
        out = np.empty((len(C), self.cfg.size_px, self.cfg.size_px), np.float32)
        for sx, sy in np.unique(s_all, axis=0):
            sel = np.flatnonzero((s_all[:, 0] == sx) & (s_all[:, 1] == sy))
            chunk = max(1, (1 << 21) // (self.cfg.size_px**2 * int(sx) * int(sy)))
            for k in range(0, len(sel), chunk):
                part = sel[k:k + chunk]
                out[part] = self._intensity(C[part], pos[part], int(sx), int(sy))
        out *= np.float32(self.cfg.dose_e)
        return out

    def expected(self, abs_, scan_shift_m=None, names: Sequence[str] | None = None,
                 random_positions: bool = False, rng=None) -> np.ndarray:
        """Noiseless expected electrons per camera pixel (float32), before the camera model.

        Accepts one :class:`Aberrations` (-> (size, size)) or a batch (list or (N, len(names))
        array in metres) (-> (N, size, size)). Sum over the image ~ dose_e (minus what falls
        outside the camera).
        """
        single = isinstance(abs_, Aberrations)
        rng = self.rng if rng is None else rng
        C, pos = self._prepare([abs_] if single else abs_, names, scan_shift_m, random_positions, rng)
        with single_thread():
            out = self._expected_core(C, pos)
        return out[0] if single else out

    def simulate(self, ab: Aberrations, rng: np.random.Generator | None = None,
                 scan_shift_m: tuple[float, float] = (0.0, 0.0), noise: bool = True) -> np.ndarray:
        """One Ronchigram: float32 (size_px, size_px) camera counts, fresh noise each call."""
        if not isinstance(ab, Aberrations):
            raise TypeError(f"ab must be an Aberrations, got {type(ab).__name__}; use simulate_batch for arrays")
        return self.simulate_batch([ab], rng=rng, scan_shift_m=scan_shift_m, noise=noise)[0]

    def simulate_batch(self, abs_, rng: np.random.Generator | None = None, scan_shift_m=None,
                       names: Sequence[str] | None = None, random_positions: bool = False,
                       noise: bool = True) -> np.ndarray:
        """Batch of Ronchigrams (N, size_px, size_px) float32 counts.

        ``abs_``: list of :class:`Aberrations` or an (N, len(names)) array in metres
        (``names`` default :data:`Aberrations.NAMES`). ``scan_shift_m``: (2,) or (N, 2) probe
        positions (m) relative to the sample origin; ``random_positions``: add a random
        position per frame (a fresh sample region, for training sets). Batches of 16 or
        more run in two threads (numpy and torch release the GIL), each with its own
        child RNG drawn from ``rng``, so results are reproducible for a given seed.
        """
        rng = self.rng if rng is None else rng
        if isinstance(abs_, Aberrations):
            abs_ = [abs_]
        C, pos = self._prepare(abs_, names, scan_shift_m, random_positions, rng)
        B = len(C)

        def work(sel: np.ndarray, child: np.random.Generator) -> np.ndarray:
            e = self._expected_core(C[sel], pos[sel])
            return self.camera.expose(e, child, noise=noise)

        with single_thread():
            if B < 16:
                return work(np.arange(B), rng)
            parts = np.array_split(np.arange(B), 2)
            children = rng.spawn(len(parts))
            results = list(_pool().map(work, parts, children))
        return np.concatenate(results, axis=0)


_POOL = None




def _pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ronchigram")
    return _POOL
