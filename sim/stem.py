"""STEM imaging: scan the probe over the sample, record the diffraction pattern at every
position (a 4D-STEM dataset) and integrate it with any detector layout.

The diffraction pattern at one probe position is exactly a Ronchigram (same wave optics as
:mod:`beamloop.sim.ronchigram`) with a camera that reaches high angles (default +-200 mrad),
so STEM reuses :class:`RonchigramSimulator`. Keep detectors within 2/3 of the simulated range
(the sample is band-limited there against aliasing). Detectors (:mod:`beamloop.sim.detectors`) are
rings x segments region maps; BF, ABF, ADF, HAADF, DPC quadrants and centre of mass (iDPC/CoM)
images follow.

Physics limits: phase-object (single slice) sample and purely elastic scattering (no thermal
diffuse scattering), so HAADF intensities are lower than in experiment and Z-contrast is only
qualitative; see docs/sim.md. Units: SI (m, rad); images in electrons (noiseless) or counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beamloop.sim.aberrations import Aberrations
from beamloop.sim.detectors import DetectorLayout, centre_of_mass, region_map, region_sums
from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

__all__ = ["STEMSimulator", "stem_config", "scan_positions", "dpc_signal"]


def stem_config(max_angle_rad: float = 0.3, size_px: int = 128, **kwargs) -> RonchigramConfig:
    """A diffraction-plane camera reaching ``max_angle_rad`` at the edge (default 300 mrad, so
    that a 200 mrad HAADF stays inside the 2/3 band limit of the sample), no detector PSF,
    readout noise or gain (ideal counting detector)."""
    defaults = dict(size_px=size_px, rad_per_px=2 * max_angle_rad / size_px, detector_psf_px=0.0,
                    readout_noise=0.0, detector_gain=1.0, dose_e=1e5, sample="si110",
                    sample_thickness_m=5e-9)
    defaults.update(kwargs)
    return RonchigramConfig(**defaults)


def scan_positions(nx: int, ny: int, step_m: float, origin_m: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Probe positions (nx, ny, 2) in metres: a raster of ``step_m`` starting at ``origin_m``."""
    if nx < 1 or ny < 1:
        raise ValueError(f"scan size must be >= 1 x 1, got {nx} x {ny}")
    if not (np.isfinite(step_m) and step_m > 0):
        raise ValueError(f"step_m must be positive (metres), got {step_m!r}")
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    return np.stack([origin_m[0] + ix * step_m, origin_m[1] + iy * step_m], axis=-1)


def dpc_signal(quadrant_sums: np.ndarray) -> np.ndarray:
    """DPC from 4 quadrant sums (..., 4) (counter-clockwise from +x): (S0+S3-S1-S2, S0+S1-S2-S3)
    normalised by the total, i.e. ~ the beam deflection along x and y (dimensionless)."""
    s = np.asarray(quadrant_sums, dtype=float)
    tot = s.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = (s[..., 0] + s[..., 3] - s[..., 1] - s[..., 2]) / tot
        dy = (s[..., 0] + s[..., 1] - s[..., 2] - s[..., 3]) / tot
    return np.stack([dx, dy], axis=-1)


@dataclass
class STEMSimulator:
    """4D-STEM and detector images for one instrument/sample configuration."""

    cfg: RonchigramConfig
    seed: int = 0

    def __post_init__(self):
        self.sim = RonchigramSimulator(self.cfg, seed=self.seed)

    @classmethod
    def default(cls, seed: int = 0, **kwargs) -> "STEMSimulator":
        return cls(stem_config(**kwargs), seed)

    def dataset_4d(self, ab: Aberrations, positions_m: np.ndarray, noise: bool = False,
                   rng: np.random.Generator | None = None) -> np.ndarray:
        """Diffraction patterns at every position: (nx, ny, size, size), electrons (noise=False)
        or camera counts (noise=True, dose_e electrons per position)."""
        pos = np.asarray(positions_m, dtype=float)
        if pos.ndim != 3 or pos.shape[-1] != 2:
            raise ValueError(f"positions_m must have shape (nx, ny, 2), got {pos.shape}")
        nx, ny = pos.shape[:2]
        flat = pos.reshape(-1, 2)
        abs_ = [ab] * len(flat)
        if noise:
            out = self.sim.simulate_batch(abs_, rng=rng, scan_shift_m=flat)
        else:
            out = self.sim.expected(abs_, scan_shift_m=flat)
        return out.reshape(nx, ny, *out.shape[1:])

    def region_map(self, layout: DetectorLayout) -> np.ndarray:
        n = self.cfg.size_px
        return region_map(layout, (n, n), self.cfg.camera_rad_per_px)

    def detector_images(self, data4d: np.ndarray, layout: DetectorLayout) -> np.ndarray:
        """(nx, ny, n_regions) region sums of a 4D dataset for one detector layout."""
        if layout.ring_edges_rad[-1] > self.cfg.camera_half_range_rad * np.sqrt(2):
            raise ValueError(f"detector {layout.name} reaches {layout.ring_edges_rad[-1]} rad, beyond the "
                             f"simulated diffraction plane ({self.cfg.camera_half_range_rad} rad)")
        return region_sums(data4d, self.region_map(layout), layout.n_regions)

    def com_image(self, data4d: np.ndarray) -> np.ndarray:
        """Centre of mass (nx, ny, 2) of each diffraction pattern, radians."""
        return centre_of_mass(data4d, rad_per_px=self.cfg.camera_rad_per_px)

    def image(self, ab: Aberrations, layout: DetectorLayout, nx: int, ny: int, step_m: float,
              origin_m=(0.0, 0.0), noise: bool = False) -> np.ndarray:
        """Convenience: scan, then (nx, ny, n_regions) detector image."""
        data = self.dataset_4d(ab, scan_positions(nx, ny, step_m, origin_m), noise=noise)
        return self.detector_images(data, layout)
