"""Electron-optical constants of the beam: relativistic wavelength and interaction constant.

All inputs and outputs in SI units (eV for the beam energy, metres, radians, volts).
"""

from __future__ import annotations

import math

from scipy import constants as _c

__all__ = ["electron_wavelength", "interaction_constant", "relativistic_mass", "check_energy"]


def check_energy(energy_eV: float) -> float:
    """Return ``energy_eV`` as a float, or raise ``ValueError`` naming the parameter."""
    try:
        value = float(energy_eV)
    except (TypeError, ValueError):
        raise ValueError(f"energy_eV must be a number (eV), got {energy_eV!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"energy_eV must be a positive finite beam energy in eV, got {energy_eV!r}")
    return value


def electron_wavelength(energy_eV: float) -> float:
    """Relativistic de Broglie wavelength (m) of an electron accelerated through ``energy_eV`` volts.

    lambda = h / sqrt(2 m0 e E (1 + e E / (2 m0 c^2))); 300 keV -> 1.9687e-12 m.
    """
    e_v = check_energy(energy_eV)
    m0, e, c, h = _c.m_e, _c.e, _c.c, _c.h
    return h / math.sqrt(2 * m0 * e * e_v * (1 + e * e_v / (2 * m0 * c**2)))


def relativistic_mass(energy_eV: float) -> float:
    """Relativistic electron mass (kg) at beam energy ``energy_eV`` (eV)."""
    e_v = check_energy(energy_eV)
    return _c.m_e * (1 + _c.e * e_v / (_c.m_e * _c.c**2))


def interaction_constant(energy_eV: float) -> float:
    """Interaction constant sigma (rad / (V m)): phase shift per projected potential.

    sigma = 2 pi m e lambda / h^2 with the relativistic mass; a projected potential
    ``v_z`` (V m) shifts the phase by ``sigma * v_z`` radians. 300 keV -> 6.526e6 rad/(V m)
    (= 6.526e-4 rad/(V A)).
    """
    lam = electron_wavelength(energy_eV)
    return 2 * math.pi * relativistic_mass(energy_eV) * _c.e * lam / _c.h**2
