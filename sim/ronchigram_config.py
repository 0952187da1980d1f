"""Settings of the Ronchigram simulator (:class:`RonchigramConfig`), validated on creation.

Units: SI throughout (m, rad, eV). The simulator itself is :mod:`beamloop.sim.ronchigram`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from beamloop.sim.camera import CameraModel
from beamloop.sim.optics import check_energy, electron_wavelength
from beamloop.sim.samples import SAMPLES

__all__ = ["RonchigramConfig", "UndersampledError", "METHODS"]

METHODS = ("auto", "exact", "tiled")


class UndersampledError(ValueError):
    """The probe footprint does not fit the largest allowed internal field of view."""


def _finite(name: str, value, positive: bool = False, nonneg: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if nonneg and v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class RonchigramConfig:
    """Instrument + sample + camera for Ronchigram simulation (SI units).

    size_px: camera pixels per side (after binning). rad_per_px: camera angular pixel
    (None -> the camera spans +-1.4 alpha). binning: physical detector pixels per output
    pixel per axis (scales PSF and readout noise). dose_e: electrons per frame (whole beam).
    source_size_m: FWHM of the (demagnified, Gaussian) source at the sample.
    sample_min_distance_m: hard-core distance of the amorphous-carbon atoms (short-range order,
    default 1.3 A; 0 gives the ideal gas of uniform random atoms used before issue 12).
    focal_spread_m: rms focal spread (chromatic, Cc dE/E). exact_poisson: exact Poisson
    shot noise everywhere (default: normal approximation above 40 e/pixel). oversample: internal angular
    refinement (None -> automatic per frame from the probe footprint, up to max_oversample).
    on_undersampled: "raise" or "warn" when the footprint needs more than max_oversample.
    method: far-field evaluation for oversampled frames: "exact" (one big FFT, binned s x s),
    "tiled" (windowed camera-size tiles of the exit wave, summed intensities: the same
    Ronchigram with a ~1-pixel smoothing kernel, see docs/sim.md "Tiled far field"), or
    "auto" (tiled when the frame needs oversample >= tiled_min_oversample, else exact).
    Frames at oversample 1 are always exact.
    """

    size_px: int = 128
    energy_eV: float = 300e3
    convergence_semiangle_rad: float = 30e-3
    rad_per_px: float | None = None
    binning: int = 1
    sample: str = "amorphous_carbon"
    sample_thickness_m: float = 10e-9
    sample_rotation_rad: float = 0.0
    sample_min_distance_m: float = 1.3e-10
    dose_e: float = 1e6
    detector_gain: float = 8.0
    readout_noise: float = 2.0
    detector_psf_px: float = 0.6
    exact_poisson: bool = False
    source_size_m: float = 0.4e-10
    focal_spread_m: float = 0.0
    focal_spread_samples: int = 3
    oversample: int | None = None
    max_oversample: int = 16
    on_undersampled: str = "raise"
    sample_patch_px: int | None = None
    method: str = "exact"
    tiled_min_oversample: int = 3

    def __post_init__(self):
        if not isinstance(self.size_px, (int, np.integer)) or self.size_px < 16 or self.size_px % 2:
            raise ValueError(f"size_px must be an even integer >= 16, got {self.size_px!r}")
        check_energy(self.energy_eV)
        _finite("convergence_semiangle_rad", self.convergence_semiangle_rad, positive=True)
        if self.convergence_semiangle_rad > 0.2:
            raise ValueError(f"convergence_semiangle_rad must be in radians (< 0.2), got {self.convergence_semiangle_rad!r}")
        if self.rad_per_px is not None:
            _finite("rad_per_px", self.rad_per_px, positive=True)
        if not isinstance(self.binning, (int, np.integer)) or self.binning < 1:
            raise ValueError(f"binning must be an integer >= 1, got {self.binning!r}")
        if self.sample not in SAMPLES:
            raise ValueError(f"sample must be one of {SAMPLES}, got {self.sample!r}")
        _finite("sample_thickness_m", self.sample_thickness_m, positive=True)
        if self.sample_thickness_m > 200e-9:
            raise ValueError(f"sample_thickness_m must be metres (<= 200e-9), got {self.sample_thickness_m!r}")
        _finite("sample_rotation_rad", self.sample_rotation_rad)
        _finite("sample_min_distance_m", self.sample_min_distance_m, nonneg=True)
        _finite("dose_e", self.dose_e, positive=True)
        _finite("detector_gain", self.detector_gain, positive=True)
        _finite("readout_noise", self.readout_noise, nonneg=True)
        _finite("detector_psf_px", self.detector_psf_px, nonneg=True)
        _finite("source_size_m", self.source_size_m, nonneg=True)
        _finite("focal_spread_m", self.focal_spread_m, nonneg=True)
        if self.focal_spread_samples not in (1, 2, 3, 4, 5):
            raise ValueError(f"focal_spread_samples must be 1..5 (Gauss-Hermite points), got {self.focal_spread_samples!r}")
        if self.oversample is not None and (not isinstance(self.oversample, (int, np.integer)) or self.oversample < 1):
            raise ValueError(f"oversample must be None or an integer >= 1, got {self.oversample!r}")
        if not isinstance(self.max_oversample, (int, np.integer)) or self.max_oversample < 1:
            raise ValueError(f"max_oversample must be an integer >= 1, got {self.max_oversample!r}")
        if self.on_undersampled not in ("raise", "warn"):
            raise ValueError(f"on_undersampled must be 'raise' or 'warn', got {self.on_undersampled!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not isinstance(self.tiled_min_oversample, (int, np.integer)) or self.tiled_min_oversample < 2:
            raise ValueError(f"tiled_min_oversample must be an integer >= 2, got {self.tiled_min_oversample!r}")
        if self.camera_half_range_rad <= self.convergence_semiangle_rad:
            raise ValueError(
                f"convergence_semiangle_rad={self.convergence_semiangle_rad!r} is larger than the detector "
                f"half-range {self.camera_half_range_rad!r} rad (size_px * rad_per_px / 2): the aperture "
                "edge would be outside the camera; increase rad_per_px or size_px"
            )

    # --- derived quantities ---------------------------------------------------------
    @property
    def camera_rad_per_px(self) -> float:
        """Angular size of one (binned) camera pixel, rad."""
        if self.rad_per_px is not None:
            return float(self.rad_per_px)
        return 2 * 1.4 * self.convergence_semiangle_rad / self.size_px

    @property
    def camera_half_range_rad(self) -> float:
        return self.size_px / 2 * self.camera_rad_per_px

    @property
    def wavelength_m(self) -> float:
        return electron_wavelength(self.energy_eV)

    @property
    def fov_m(self) -> float:
        """Real-space field of view at oversample 1: lambda / d_theta (m)."""
        return self.wavelength_m / self.camera_rad_per_px

    @property
    def pixel_m(self) -> float:
        """Real-space pixel of the internal grid: lambda / (camera angular range) (m)."""
        return self.wavelength_m / (self.size_px * self.camera_rad_per_px)

    def camera_model(self) -> CameraModel:
        b = self.binning
        return CameraModel(
            gain=self.detector_gain,
            readout_noise=self.readout_noise * b,      # sum of b*b independent readouts
            psf_sigma_px=self.detector_psf_px / b,     # PSF given in physical pixels
            exact_poisson=bool(self.exact_poisson),
        )

    def with_(self, **kwargs) -> "RonchigramConfig":
        """Copy with some fields replaced (validated)."""
        return replace(self, **kwargs)
