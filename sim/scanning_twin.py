"""The twin as a scanning microscope: a nanobeam probe on a mesoscale sample, a 4D camera,
ring x segment detectors, a survey image.

Optics (wave optics, projection approximation): the probe is an aperture of semi-angle
``alpha_rad`` with aberration phase chi (``sim.aberrations``); at a probe position the exit
wave is ``probe * exp(i sigma v_z)`` on a window of the sample's fine grid (``camera_px``
pixels of ``step_m / px_per_step``), and the camera records ``|FFT|^2`` (angular pixel
``lambda / (camera_px * pixel)``). With the defaults (300 kV, 1 mrad, 1 nm steps, 12 fine
pixels per step, 96 px camera) the camera covers +-11.8 mrad at 0.246 mrad per pixel, the
probe is ~2.4 nm wide and the matrix {10} disks (4.9 mrad) and the half-order superlattice
disks (2.5 mrad) do not overlap the central disk, so the CoM carries the mesoscale field,
not the atomic one.

High angles: the incoherent (thermal diffuse) scattering is not wave-optical here. At each
position a fraction ``Y`` (the probe-weighted ``diffuse_yield`` of the sample) leaves the
coherent beam and is spread over angle as a screened-Rutherford profile with a Debye-Waller
cut at low angle; a detector ring collects ``Y x`` its share of that profile (the HAADF
signal, Z-contrast qualitative), and the camera frames include the part that falls on them.
Detectors may lie partly or wholly outside the camera (HAADF): their coherent part is taken
from the frame where the frame reaches, the diffuse part from the profile everywhere.

Probe positions are rounded to the fine grid (``step_m / px_per_step``, 83 pm by default).
Noise: Poisson counts at ``dose_e`` electrons per 4D measurement, ``survey_dose_e`` per
survey pixel. Units SI (m, rad, eV); frames axis 0 = theta_x, optical axis at
``(camera_px // 2, camera_px // 2)`` as in ``sim.detectors``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from beamloop.sim.aberrations import Aberrations
from beamloop.sim.detectors import DetectorLayout, bf, centre_of_mass, dpc_quadrants, haadf, region_map, region_sums, segmented
from beamloop.sim.optics import electron_wavelength, interaction_constant
from beamloop.sim.scanning_sample import PrecipitateFilm, SampleFields

__all__ = ["ScanConfig", "ScanningTwin", "OutOfFieldError", "default_detectors", "detector_profile"]


class OutOfFieldError(ValueError):
    """A probe position outside the scan field (refused, never clipped)."""


@dataclass(frozen=True)
class ScanConfig:
    """Scan geometry, probe and doses (SI). The scan field is ``nx x ny`` positions of
    ``step_m`` starting at (0, 0); any position inside ``[0, (n-1) step]`` is reachable."""

    nx: int = 64
    ny: int = 64
    step_m: float = 1e-9
    px_per_step: int = 12
    camera_px: int = 96
    energy_eV: float = 300e3
    alpha_rad: float = 1.0e-3
    dose_e: float = 2e4            # electrons per 4D measurement
    survey_dose_e: float = 2e4     # electrons per survey pixel
    diffuse_theta0_rad: float = 25e-3   # screening angle of the diffuse profile
    diffuse_theta_dw_rad: float = 40e-3  # Debye-Waller (thermal) cut-in angle

    def __post_init__(self):
        for name in ("nx", "ny", "px_per_step", "camera_px"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("step_m", "energy_eV", "alpha_rad", "dose_e", "survey_dose_e"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive and finite, got {v!r}")

    @property
    def pixel_m(self) -> float:
        return self.step_m / self.px_per_step

    @property
    def wavelength_m(self) -> float:
        return electron_wavelength(self.energy_eV)

    @property
    def camera_rad_per_px(self) -> float:
        return self.wavelength_m / (self.camera_px * self.pixel_m)

    @property
    def camera_half_range_rad(self) -> float:
        return 0.5 * self.camera_px * self.camera_rad_per_px

    @property
    def field_m(self) -> tuple[float, float]:
        return ((self.nx - 1) * self.step_m, (self.ny - 1) * self.step_m)


def default_detectors(alpha_rad: float = 1.0e-3) -> dict[str, DetectorLayout]:
    """BF (0..alpha/2), ABF, DPC quadrants (0..alpha), 'disk' rings for the disk ratio
    (central 0..1.2 alpha, superlattice ring 1.8..3.2 alpha, matrix ring 4..6 alpha at
    1 mrad, i.e. 2.5 and 4.9 mrad disks), ADF (7..11 mrad) and HAADF (70..200 mrad)."""
    a = alpha_rad
    return {
        "BF": bf(a), "DPC": dpc_quadrants(a),
        "ABF": DetectorLayout("ABF", (0.5 * a, a)),
        "central": DetectorLayout("central", (0.0, 1.2 * a)),
        "superlattice": DetectorLayout("superlattice", (1.8 * a, 3.2 * a)),
        "bragg": DetectorLayout("bragg", (4.0 * a, 6.0 * a)),
        "ADF": DetectorLayout("ADF", (7e-3, 11e-3)),
        "HAADF": haadf(),
    }


def detector_profile(spec: dict) -> dict[str, DetectorLayout]:
    """Detectors from a profile mapping ``name -> {inner_rad, outer_rad, segments=1,
    rotation_rad=0}`` (or ``{ring_edges_rad: [...], segments}``), angles in radians."""
    out = {}
    for name, d in spec.items():
        if not isinstance(d, dict):
            raise ValueError(f"detector {name!r}: expected a mapping, got {d!r}")
        edges = d.get("ring_edges_rad") or (d.get("inner_rad", 0.0), d.get("outer_rad"))
        if edges[-1] is None:
            raise ValueError(f"detector {name!r} needs outer_rad or ring_edges_rad (radians)")
        out[name] = segmented(edges, int(d.get("segments", 1)), float(d.get("rotation_rad", 0.0)), name=name)
    return out


@dataclass
class ScanningTwin:
    """A scanning microscope on one sample. ``measure`` is one 4D-STEM acquisition at one
    probe position; ``survey`` a raster image with one detector; ``truth_*`` the noiseless
    values everywhere (for benchmarks and tests only, an instrument has none)."""

    sample: PrecipitateFilm
    cfg: ScanConfig = field(default_factory=ScanConfig)
    aberrations: Aberrations | None = None
    seed: int = 0

    def __post_init__(self):
        c = self.cfg
        self.rng = np.random.default_rng(self.seed)
        self.margin_px = c.camera_px // 2 + 1
        n0 = (c.nx - 1) * c.px_per_step + 2 * self.margin_px + 1
        n1 = (c.ny - 1) * c.px_per_step + 2 * self.margin_px + 1
        origin = (-self.margin_px * c.pixel_m, -self.margin_px * c.pixel_m)
        self.fields: SampleFields = self.sample.fields(c.pixel_m, (n0, n1), origin)
        sigma = interaction_constant(c.energy_eV)
        self.transmission = np.exp(1j * sigma * self.fields.projected_potential()).astype(np.complex64)
        # probe on the camera window (real space, centred at window pixel camera_px // 2)
        n = c.camera_px
        th = (np.arange(n) - n // 2) * c.camera_rad_per_px
        tx, ty = np.meshgrid(th, th, indexing="ij")
        r = np.hypot(tx, ty)
        aperture = np.clip((c.alpha_rad - r) / c.camera_rad_per_px + 0.5, 0.0, 1.0)
        chi = self.aberrations.chi(tx, ty, c.wavelength_m) if self.aberrations is not None else 0.0
        pk = aperture * np.exp(-1j * chi)
        probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(pk)))
        self.probe = (probe / np.sqrt((np.abs(probe) ** 2).sum())).astype(np.complex64)
        # diffuse profile per camera pixel (fraction of the diffuse electrons)
        self._theta = r
        self._diffuse_img = self._diffuse_density(r) * c.camera_rad_per_px ** 2
        # probe-weighted diffuse yield at every fine pixel (incoherent imaging: |probe|^2 (x) Y)
        self._yield_at = self._convolve_probe(self.fields.diffuse_yield)
        self._rmaps: dict[str, np.ndarray] = {}

    # --- geometry ---------------------------------------------------------------------------
    def positions_m(self) -> np.ndarray:
        """(nx, ny, 2) grid positions (m)."""
        c = self.cfg
        ix, iy = np.meshgrid(np.arange(c.nx), np.arange(c.ny), indexing="ij")
        return np.stack([ix * c.step_m, iy * c.step_m], axis=-1)

    def _fine_index(self, x_m: float, y_m: float) -> tuple[int, int]:
        c = self.cfg
        fx, fy = c.field_m
        tol = 1e-6 * c.step_m
        if not (np.isfinite(x_m) and np.isfinite(y_m)) or not (-tol <= x_m <= fx + tol and -tol <= y_m <= fy + tol):
            raise OutOfFieldError(f"probe position ({x_m!r}, {y_m!r}) m is outside the scan field "
                                  f"[0, {fx}] x [0, {fy}] m; refused")
        return (self.margin_px + int(round(x_m / c.pixel_m)), self.margin_px + int(round(y_m / c.pixel_m)))

    # --- diffuse (incoherent high-angle) scattering -----------------------------------------
    def _diffuse_density(self, theta: np.ndarray) -> np.ndarray:
        """Angular density (per sr) of the diffuse profile, normalised over 0..0.5 rad."""
        c = self.cfg
        f = lambda t: (1 - np.exp(-(t / c.diffuse_theta_dw_rad) ** 2)) / (t ** 2 + c.diffuse_theta0_rad ** 2) ** 2
        tt = np.linspace(0, 0.5, 20001)
        norm = np.trapezoid(f(tt) * 2 * np.pi * tt, tt)
        return f(theta) / norm

    def _diffuse_fraction(self, inner: float, outer: float, seg_frac: float) -> float:
        tt = np.linspace(inner, outer, 4001)
        return float(np.trapezoid(self._diffuse_density(tt) * 2 * np.pi * tt, tt)) * seg_frac

    def _convolve_probe(self, a: np.ndarray) -> np.ndarray:
        n = self.cfg.camera_px
        k = np.zeros(a.shape)
        p = np.abs(self.probe) ** 2
        k[:n, :n] = p
        k = np.roll(k, (-(n // 2), -(n // 2)), axis=(0, 1))
        return np.real(np.fft.ifft2(np.fft.fft2(a) * np.fft.fft2(k)))

    # --- measurements -------------------------------------------------------------------------
    def expected_frames(self, positions_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noiseless frames (N, camera_px, camera_px) in electrons at ``dose_e`` and the
        diffuse yield (N,) at each of ``positions_m`` (N, 2)."""
        c = self.cfg
        pos = np.asarray(positions_m, dtype=float).reshape(-1, 2)
        n, h = c.camera_px, c.camera_px // 2
        idx = [self._fine_index(x, y) for x, y in pos]
        win = np.stack([self.transmission[i - h:i - h + n, j - h:j - h + n] for i, j in idx])
        far = sfft.fftshift(sfft.fft2(win * self.probe[None]), axes=(-2, -1))
        coh = np.abs(far) ** 2
        coh /= coh.sum(axis=(-2, -1), keepdims=True)
        y = np.array([self._yield_at[i, j] for i, j in idx])
        frames = c.dose_e * ((1 - y)[:, None, None] * coh + y[:, None, None] * self._diffuse_img[None])
        return frames.astype(np.float32), y

    def _rmap(self, layout: DetectorLayout) -> np.ndarray:
        if layout.name not in self._rmaps or self._rmaps[layout.name][0] != layout:
            self._rmaps[layout.name] = (layout, region_map(layout, (self.cfg.camera_px,) * 2, self.cfg.camera_rad_per_px))
        return self._rmaps[layout.name][1]

    def detector_sums(self, frames: np.ndarray, yields: np.ndarray, layout: DetectorLayout, dose_e: float) -> np.ndarray:
        """(N, n_regions) electrons on a detector: the frame where the camera reaches, plus
        the diffuse share beyond the camera's inscribed circle."""
        c = self.cfg
        cam = region_sums(frames, self._rmap(layout), layout.n_regions) if layout.ring_edges_rad[0] < c.camera_half_range_rad else \
            np.zeros((len(frames), layout.n_regions))
        extra = np.zeros(layout.n_regions)
        for ring in range(layout.n_rings):
            lo, hi = layout.ring_edges_rad[ring], layout.ring_edges_rad[ring + 1]
            lo = max(lo, c.camera_half_range_rad)
            if hi > lo:
                extra[ring * layout.segments:(ring + 1) * layout.segments] = self._diffuse_fraction(lo, hi, 1.0 / layout.segments)
        return cam + dose_e * np.asarray(yields)[:, None] * extra[None, :]

    def measure(self, x_m: float, y_m: float, detectors: dict[str, DetectorLayout] | None = None,
                noise: bool = True) -> dict:
        """One 4D-STEM acquisition at (x_m, y_m): ``frame`` (camera counts, float32),
        ``sums`` {detector: (n_regions,) counts}, ``com_rad`` (2,) centre of mass."""
        frames, y = self.expected_frames(np.array([[x_m, y_m]]))
        if noise:
            frames = self.rng.poisson(frames).astype(np.float32)
        dets = detectors if detectors is not None else default_detectors(self.cfg.alpha_rad)
        sums = {k: self._sums_noisy(frames, y, d, noise)[0] for k, d in dets.items()}
        com = centre_of_mass(frames, rad_per_px=self.cfg.camera_rad_per_px)[0]
        return {"frame": frames[0], "sums": sums, "com_rad": com, "position_m": (float(x_m), float(y_m))}

    def _sums_noisy(self, frames, y, layout, noise):
        s = self.detector_sums(frames, y, layout, self.cfg.dose_e)
        if noise:   # the beyond-camera (diffuse) part is a fresh Poisson draw; the frame part is already noisy
            cam = self.detector_sums(frames, np.zeros_like(y), layout, self.cfg.dose_e)
            s = cam + self.rng.poisson(np.clip(s - cam, 0, None))
        return s

    def survey(self, detector: DetectorLayout | str = "HAADF", noise: bool = True, dose_e: float | None = None) -> np.ndarray:
        """(nx, ny) raster image with one detector (sum over its regions), counts."""
        c = self.cfg
        layout = default_detectors(c.alpha_rad)[detector] if isinstance(detector, str) else detector
        dose = c.survey_dose_e if dose_e is None else dose_e
        if layout.ring_edges_rad[0] >= c.camera_half_range_rad:     # purely diffuse: incoherent image
            f = self._diffuse_fraction(layout.ring_edges_rad[0], layout.ring_edges_rad[-1], 1.0)
            ix = self.margin_px + np.arange(c.nx) * c.px_per_step
            iy = self.margin_px + np.arange(c.ny) * c.px_per_step
            img = dose * f * self._yield_at[np.ix_(ix, iy)]
        else:
            img = self.truth_detector(layout).sum(axis=-1) * dose / c.dose_e
        return (self.rng.poisson(img).astype(np.float64) if noise else img)

    # --- ground truth (benchmarks, tests) -------------------------------------------------------
    def truth(self, detectors: dict[str, DetectorLayout] | None = None, chunk: int = 256) -> dict:
        """Noiseless maps over the whole grid: ``com_rad`` (nx, ny, 2) and, per detector,
        (nx, ny, n_regions) electrons at ``dose_e``."""
        c = self.cfg
        dets = detectors if detectors is not None else default_detectors(c.alpha_rad)
        pos = self.positions_m().reshape(-1, 2)
        com = np.empty((len(pos), 2))
        sums = {k: np.empty((len(pos), d.n_regions)) for k, d in dets.items()}
        for s in range(0, len(pos), chunk):
            fr, y = self.expected_frames(pos[s:s + chunk])
            com[s:s + chunk] = centre_of_mass(fr, rad_per_px=c.camera_rad_per_px)
            for k, d in dets.items():
                sums[k][s:s + chunk] = self.detector_sums(fr, y, d, c.dose_e)
        out = {k: v.reshape(c.nx, c.ny, -1) for k, v in sums.items()}
        return {"com_rad": com.reshape(c.nx, c.ny, 2), "sums": out}

    def truth_detector(self, layout: DetectorLayout) -> np.ndarray:
        return self.truth({layout.name: layout})["sums"][layout.name]
