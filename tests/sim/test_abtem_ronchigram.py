"""Independent check of the whole Ronchigram pipeline against abTEM's multislice.

Same projected potential (ours, handed to abTEM as a one-slice PotentialArray), same grid,
energy, aperture and aberrations (through ``to_abtem``): abTEM's diffraction pattern of the
probe at the cell centre must match our noiseless Ronchigram pixel for pixel (orientation,
signs of every coefficient, centring).
"""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.sim.aberrations import Aberrations
from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator
from beamloop.sim.samples import SampleSpec, projected_potential


@pytest.mark.parametrize("ab", [
    Aberrations(C10=20e-9),
    Aberrations(C10=-15e-9, A1=(10e-9, 5e-9), B2=(100e-9, -60e-9)),
    Aberrations(C10=10e-9, A2=(-150e-9, 200e-9), Cs=5e-6),
])
def test_ronchigram_matches_abtem(ab):
    abtem = pytest.importorskip("abtem")
    old = abtem.config.get("precision")
    abtem.config.set({"precision": "float64", "diagnostics.progress_bar": False})
    try:
        cfg = RonchigramConfig(sample_patch_px=512, oversample=1, source_size_m=0.0, focal_spread_m=0.0,
                               detector_psf_px=0.0)
        sim = RonchigramSimulator(cfg, seed=0)
        assert sim.required_oversample(ab)[0] == 1
        n = cfg.size_px
        vz = projected_potential(SampleSpec(cfg.sample, cfg.sample_thickness_m, 0.0, 0), sim.patch_px, cfg.pixel_m)
        lo = sim.patch_px // 2 - n // 2
        dx = cfg.pixel_m * 1e10
        pot = abtem.PotentialArray(vz[lo:lo + n, lo:lo + n][None] * 1e10,
                                   slice_thickness=cfg.sample_thickness_m * 1e10, sampling=dx)
        probe = abtem.Probe(energy=cfg.energy_eV, semiangle_cutoff=cfg.convergence_semiangle_rad * 1e3,
                            **ab.to_abtem())
        ref = np.asarray(probe.multislice(pot, scan=(n * dx / 2, n * dx / 2))
                         .diffraction_patterns(max_angle=None, fftshift=True).compute().array)
    finally:
        abtem.config.set({"precision": old})
    ours = sim.expected(ab)
    assert ref.shape == ours.shape
    t = (np.arange(n) - n // 2) * cfg.camera_rad_per_px
    tx, ty = np.meshgrid(t, t, indexing="ij")
    m = np.hypot(tx, ty) < 0.9 * cfg.convergence_semiangle_rad
    assert np.corrcoef(ours[m], ref[m])[0, 1] > 0.995
    # and a mirrored (wrong-convention) image would not match
    assert np.corrcoef(ours[::-1][m], ref[m])[0, 1] < 0.9
