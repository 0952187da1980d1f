"""Symmetry maps of aberrations agree with chi(theta) transformed on the grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.models.preprocess import AXES
from beamloop.models.symmetry import dihedral, rotate_coefficients
from beamloop.sim.aberrations import Aberrations, chi

LAM = 1.97e-12


def _ab(vec):
    return Aberrations(**dict(zip(AXES, vec)))


def _grid(n=16, d=2e-3):
    th = (np.arange(n) - n // 2) * d
    return np.meshgrid(th, th, indexing="ij")


@pytest.mark.parametrize("k", range(8))
def test_dihedral_matches_chi_on_grid(k):
    rng = np.random.default_rng(k)
    vec = rng.uniform(-1, 1, 5) * np.array([300e-9, 200e-9, 200e-9, 3e-6, 3e-6])
    TX, TY = _grid()
    img = chi(_ab(vec), TX, TY, LAM)
    img2, vec2 = dihedral(img, vec, k)
    ref = chi(_ab(vec2), TX, TY, LAM)
    # compare away from the wrapped first row/column of the periodic grid
    np.testing.assert_allclose(img2[1:, 1:], ref[1:, 1:], rtol=1e-9, atol=1e-6)
    if k:
        assert not np.allclose(vec2, vec)


def test_rotation_of_coefficients_matches_rotated_chi():
    vals = {"C10": 100e-9, "C12.x": 50e-9, "C12.y": -20e-9, "C21.x": 1e-6, "C21.y": 2e-6}
    psi = math.radians(17)
    rot = rotate_coefficients(vals, psi)
    tx, ty = np.array([3e-3, -5e-3, 7e-3]), np.array([1e-3, 4e-3, -6e-3])
    # chi'(theta) = chi(R^-1 theta)
    c, s = math.cos(psi), math.sin(psi)
    np.testing.assert_allclose(chi(Aberrations(**rot), tx, ty, LAM),
                               chi(Aberrations(**vals), c * tx + s * ty, -s * tx + c * ty, LAM), rtol=1e-9)
