"""Exact symmetry operations on (Ronchigram, aberrations): rotations of the camera frame and
the 8 dihedral operations of the pixel grid, used for data augmentation and nuisance rotation.

Convention (sim/ronchigram.py): image axis 0 is theta_x, axis 1 is theta_y, optical axis at
pixel ``n // 2``; Krivanek cartesian ``Cnm.x`` (cos m phi), ``Cnm.y`` (sin m phi).

If the image is transformed as ``I'(theta) = I(T^-1 theta)`` the aberration function is
``chi'(theta) = chi(T^-1 theta)``, which maps each ``(Cnm.x, Cnm.y)`` linearly:

- rotation by ``psi``:      ``(x + i y)' = (x + i y) exp(i m psi)``
- mirror ``theta_x -> -theta_x``: ``x' = (-1)^m x``, ``y' = -(-1)^m y``
- transpose (swap x and y): ``x' = cos(m pi/2) x + sin(m pi/2) y``, ``y' = sin(m pi/2) x - cos(m pi/2) y``

Tested against ``beamloop.sim.aberrations.chi`` in tests/models/test_symmetry.py.
"""

from __future__ import annotations

import math

import numpy as np

from beamloop.models.preprocess import AXES

def rotate_coefficients(values: dict[str, float], psi_rad: float) -> dict[str, float]:
    """Aberrations (m, Krivanek cartesian names) of an image rotated by ``psi_rad``."""
    out = dict(values)
    bases = {n.split(".")[0] for n in values if "." in n}
    for b in bases:
        m = int(b[2])
        x, y = values.get(f"{b}.x", 0.0), values.get(f"{b}.y", 0.0)
        c = complex(x, y) * complex(math.cos(m * psi_rad), math.sin(m * psi_rad))
        out[f"{b}.x"], out[f"{b}.y"] = c.real, c.imag
    return out


def _label_matrix(op: str, axes=AXES) -> np.ndarray:
    """Linear map of the label vector (axes order) under a basic op ("mirror_x" or "transpose")."""
    k = len(axes)
    M = np.zeros((k, k))
    idx = {a: i for i, a in enumerate(axes)}
    for a in axes:
        i = idx[a]
        if "." not in a:
            M[i, i] = 1.0
            continue
        b, comp = a.split(".")
        m = int(b[2])
        ix, iy = idx[f"{b}.x"], idx[f"{b}.y"]
        if op == "mirror_x":
            M[i, i] = (-1) ** m if comp == "x" else -((-1) ** m)
        elif op == "transpose":
            c, s = round(math.cos(m * math.pi / 2)), round(math.sin(m * math.pi / 2))
            if comp == "x":
                M[i, ix], M[i, iy] = c, s
            else:
                M[i, ix], M[i, iy] = s, -c
    return M


def mirror_x_image(img: np.ndarray) -> np.ndarray:
    """``I'[i] = I[(n - i) mod n]`` along axis -2 (theta_x): exact theta -> -theta on the grid."""
    return np.roll(np.flip(img, axis=-2), 1, axis=-2)


def transpose_image(img: np.ndarray) -> np.ndarray:
    return np.swapaxes(img, -1, -2)


def dihedral(images: np.ndarray, labels: np.ndarray, k: int, axes=AXES) -> tuple[np.ndarray, np.ndarray]:
    """Apply dihedral op ``k`` (0..7: bit0 mirror theta_x, bit1 transpose, bit2 mirror theta_y)
    to images ``(..., n, n)`` and labels ``(..., 5)``; returns transformed copies."""
    if not 0 <= k < 8:
        raise ValueError(f"k must be in 0..7, got {k}")
    img, lab = images, labels
    Mx, Mt = _label_matrix("mirror_x", axes), _label_matrix("transpose", axes)
    if k & 1:
        img, lab = mirror_x_image(img), lab @ Mx.T
    if k & 2:
        img, lab = transpose_image(img), lab @ Mt.T
    if k & 4:
        My = Mt @ Mx @ Mt
        img, lab = np.roll(np.flip(img, axis=-1), 1, axis=-1), lab @ My.T
    return np.ascontiguousarray(img), np.ascontiguousarray(lab)
