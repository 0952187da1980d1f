"""Axial aberrations of the probe-forming lens in Krivanek notation, and the aberration function chi.

Convention (see docs/conventions.md): coefficients ``Cnm`` in metres, ``n`` the order of the
ray aberration, ``m`` the rotational multiplicity; non-round ones (m > 0) as cartesian
components ``Cnm.x`` / ``Cnm.y`` exactly as Nion Swift names them, with

    chi(theta, phi) = (2 pi / lambda) * sum_nm theta^(n+1) / (n+1)
                      * (Cnm.x cos(m phi) + Cnm.y sin(m phi))        [radians]

(round terms have only ``Cnm``). The probe wave in the aperture plane is
``A(theta) exp(-i chi(theta))``; positive C10 is overfocus (crossover before the sample).

Polar form: ``Cnm = hypot(Cnm.x, Cnm.y)``, ``phinm = atan2(Cnm.y, Cnm.x) / m`` so that
``Cnm.x = Cnm cos(m phinm)``, ``Cnm.y = Cnm sin(m phinm)``. abTEM uses the same polar form in
Angstrom (and calls ``defocus = -C10``); converters below.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "Aberrations",
    "ORDERS",
    "ALIASES",
    "chi",
    "chi_gradient",
    "chi_gradient_basis",
    "chi_basis",
    "chi_torch",
    "to_polar",
    "from_polar",
    "to_abtem",
    "from_abtem",
    "coefficient_matrix",
]

# (n, m) of every Krivanek coefficient through 5th order, in canonical order.
ORDERS: tuple[tuple[int, int], ...] = (
    (1, 0), (1, 2),
    (2, 1), (2, 3),
    (3, 0), (3, 2), (3, 4),
    (4, 1), (4, 3), (4, 5),
    (5, 0), (5, 2), (5, 4), (5, 6),
)


def _names() -> tuple[str, ...]:
    out = []
    for n, m in ORDERS:
        if m == 0:
            out.append(f"C{n}{m}")
        else:
            out += [f"C{n}{m}.x", f"C{n}{m}.y"]
    return tuple(out)


NAMES: tuple[str, ...] = _names()
_INDEX = {name: i for i, name in enumerate(NAMES)}
# (n, m, component) per canonical name; component 0 = cos (.x, or round), 1 = sin (.y).
_NMC = tuple((int(nm[1]), int(nm[2]), 1 if nm.endswith(".y") else 0) for nm in NAMES)

# Common names -> base Krivanek name (without component).
ALIASES: dict[str, str] = {
    "defocus": "C10", "C1": "C10",
    "A1": "C12", "B2": "C21", "A2": "C23",
    "Cs": "C30", "C3": "C30", "S3": "C32", "A3": "C34",
    "B4": "C41", "D4": "C43", "A4": "C45",
    "C5": "C50", "S5": "C52", "R5": "C54", "A5": "C56",
}
_ROUND = {f"C{n}{m}" for n, m in ORDERS if m == 0}
_NONROUND = {f"C{n}{m}" for n, m in ORDERS if m > 0}


def canonical_name(name: str) -> str:
    """Map any accepted spelling to the canonical cartesian name, or raise ``KeyError``.

    Accepted: ``C12.x``, ``C12.y``, ``C12.a``/``C12.b``, ``C12a``/``C12b``, aliases such as
    ``defocus``, ``C1``, ``Cs``, ``A1.x``, ``B2.y`` (case of the ``.x/.y`` suffix ignored).
    """
    if not isinstance(name, str):
        raise KeyError(f"aberration name must be a string, got {name!r}")
    base, comp = name, ""
    if "." in name:
        base, comp = name.split(".", 1)
        comp = comp.lower()
    elif len(name) == 4 and name[:3] in _NONROUND and name[3] in "abxy":
        base, comp = name[:3], name[3]
    base = ALIASES.get(base, base)
    comp = {"a": "x", "b": "y"}.get(comp, comp)
    if base in _ROUND and comp == "":
        return base
    if base in _NONROUND and comp in ("x", "y"):
        return f"{base}.{comp}"
    valid = ", ".join(NAMES)
    raise KeyError(
        f"unknown aberration name {name!r}; use one of {valid} or an alias "
        f"({', '.join(sorted(ALIASES))}; non-round ones need .x/.y)"
    )


def _check_value(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"aberration {name!r} must be a number in metres, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"aberration {name!r} must be finite (metres), got {value!r}")
    return v


class Aberrations:
    """Immutable set of axial aberration coefficients (metres), Krivanek cartesian names.

    ``Aberrations(C10=50e-9, **{"C12.x": 20e-9})``, ``Aberrations(defocus=-30e-9, Cs=1e-6)``,
    ``Aberrations(A1=(10e-9, -5e-9))`` (a 2-tuple sets .x and .y of a non-round term).
    Unknown names raise ``KeyError``; NaN/inf values raise ``ValueError``; both name the
    parameter. Missing coefficients are zero.
    """

    NAMES: tuple[str, ...] = NAMES
    __slots__ = ("_v",)

    def __init__(self, _values: Mapping[str, float] | None = None, **kwargs):
        vec = np.zeros(len(NAMES))
        items = list((_values or {}).items()) + list(kwargs.items())
        seen: dict[int, str] = {}

        def put(index: int, key: str, value) -> None:
            if index in seen:
                raise ValueError(f"aberration {NAMES[index]} given twice (as {seen[index]!r} and {key!r})")
            seen[index] = key
            vec[index] = _check_value(key, value)

        for key, value in items:
            if isinstance(value, (tuple, list, np.ndarray)) and np.ndim(value) == 1 and len(value) == 2 and "." not in key:
                base = ALIASES.get(key, key)
                if base not in _NONROUND:
                    raise KeyError(f"aberration {key!r} is not a non-round (x, y) coefficient; a pair is not allowed")
                put(_INDEX[f"{base}.x"], f"{key}.x", value[0])
                put(_INDEX[f"{base}.y"], f"{key}.y", value[1])
                continue
            put(_INDEX[canonical_name(key)], key, value)
        vec.setflags(write=False)
        object.__setattr__(self, "_v", vec)

    def __setattr__(self, name, value):
        raise AttributeError("Aberrations is immutable; use replace(), scaled(), + or -")

    def __reduce__(self):  # pickle / copy (the immutable __setattr__ would block the default)
        return (Aberrations.from_vector, (self._v.tolist(),))

    # --- construction ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> "Aberrations":
        """From a mapping of names (canonical or aliases) to metres."""
        return cls(dict(d))

    @classmethod
    def from_vector(cls, vec: Sequence[float], names: Sequence[str] | None = None) -> "Aberrations":
        """From values (metres) in the order of ``names`` (default: all :attr:`NAMES`)."""
        names = NAMES if names is None else tuple(names)
        if len(set(names)) != len(names):
            raise ValueError(f"names repeat a coefficient: {names}")
        vec = np.asarray(vec, dtype=float).reshape(-1)
        if vec.shape[0] != len(names):
            raise ValueError(f"vec has {vec.shape[0]} values but names has {len(names)}")
        return cls({n: v for n, v in zip(names, vec)})

    @classmethod
    def zero(cls) -> "Aberrations":
        return cls()

    # --- access ---------------------------------------------------------------------
    def __getitem__(self, name: str) -> float:
        return float(self._v[_INDEX[canonical_name(name)]])

    def get(self, name: str, default: float | None = 0.0) -> float | None:
        """``self[name]``, or ``default`` for a name that is not an aberration."""
        try:
            return self[name]
        except KeyError:
            return default

    def __getattr__(self, name: str):
        # ab.C10, ab.defocus, ab.Cs ... (only round terms / aliases make sense as attributes)
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Aberrations has no attribute {name!r}") from None

    @property
    def vector(self) -> np.ndarray:
        """Read-only float64 array of all coefficients (metres) in :attr:`NAMES` order."""
        return self._v

    def to_vector(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Values (metres) for ``names`` (default all :attr:`NAMES`) as a new float64 array."""
        if names is None:
            return self._v.copy()
        return np.array([self[n] for n in names], dtype=float)

    def to_dict(self, nonzero: bool = False) -> dict[str, float]:
        """``{canonical name: metres}`` (all names, or only non-zero ones)."""
        return {n: float(v) for n, v in zip(NAMES, self._v) if (v != 0 or not nonzero)}

    def replace(self, **kwargs) -> "Aberrations":
        """Copy with some coefficients replaced (names as in the constructor)."""
        new = Aberrations(**kwargs)
        vec = self._v.copy()
        for n in Aberrations._touched_names(kwargs):
            vec[_INDEX[n]] = new[n]
        return Aberrations.from_vector(vec)

    @staticmethod
    def _touched_names(kwargs: Mapping[str, object]) -> list[str]:
        out = []
        for key, value in kwargs.items():
            if isinstance(value, (tuple, list, np.ndarray)) and np.ndim(value) == 1 and len(value) == 2 and "." not in key:
                base = ALIASES.get(key, key)
                out += [f"{base}.x", f"{base}.y"]
            else:
                out.append(canonical_name(key))
        return out

    # --- arithmetic -----------------------------------------------------------------
    def __add__(self, other: "Aberrations") -> "Aberrations":
        if not isinstance(other, Aberrations):
            return NotImplemented
        return Aberrations.from_vector(self._v + other._v)

    def __sub__(self, other: "Aberrations") -> "Aberrations":
        if not isinstance(other, Aberrations):
            return NotImplemented
        return Aberrations.from_vector(self._v - other._v)

    def __neg__(self) -> "Aberrations":
        return Aberrations.from_vector(-self._v)

    def scaled(self, factor: float) -> "Aberrations":
        """All coefficients multiplied by ``factor``."""
        return Aberrations.from_vector(self._v * _check_value("factor", factor))

    def __eq__(self, other) -> bool:
        return isinstance(other, Aberrations) and bool(np.array_equal(self._v, other._v))

    def __hash__(self) -> int:
        return hash(self._v.tobytes())

    def allclose(self, other: "Aberrations", atol: float = 1e-15, rtol: float = 1e-9) -> bool:
        return bool(np.allclose(self._v, other._v, atol=atol, rtol=rtol))

    def __repr__(self) -> str:
        nz = ", ".join(f"{k}={v:.4g}" for k, v in self.to_dict(nonzero=True).items())
        return f"Aberrations({nz})"

    # --- conversions ----------------------------------------------------------------
    def to_polar(self) -> dict[str, float]:
        """Polar form, see :func:`to_polar`."""
        return to_polar(self)

    @classmethod
    def from_polar(cls, polar: Mapping[str, float]) -> "Aberrations":
        return from_polar(polar)

    def to_abtem(self) -> dict[str, float]:
        """abTEM polar coefficients (Angstrom, radians), see :func:`to_abtem`."""
        return to_abtem(self)

    @classmethod
    def from_abtem(cls, coeffs: Mapping[str, float]) -> "Aberrations":
        return from_abtem(coeffs)

    def chi(self, theta_x, theta_y, wavelength_m: float) -> np.ndarray:
        return chi(self, theta_x, theta_y, wavelength_m)


# ---------------------------------------------------------------------------------------
# Polar and abTEM conversions
# ---------------------------------------------------------------------------------------
def to_polar(ab: Aberrations) -> dict[str, float]:
    """Polar coefficients: ``{"C10": m, "C12": m, "phi12": rad, ...}`` in metres and radians.

    Round terms keep their sign; for non-round ones ``Cnm >= 0`` and
    ``phinm = atan2(Cnm.y, Cnm.x) / m`` in (-pi/m, pi/m].
    """
    out: dict[str, float] = {}
    for n, m in ORDERS:
        base = f"C{n}{m}"
        if m == 0:
            out[base] = ab[base]
        else:
            x, y = ab[base + ".x"], ab[base + ".y"]
            out[base] = float(math.hypot(x, y))
            out[f"phi{n}{m}"] = float(math.atan2(y, x) / m)
    return out


def from_polar(polar: Mapping[str, float]) -> Aberrations:
    """Inverse of :func:`to_polar`: ``Cnm.x = Cnm cos(m phinm)``, ``Cnm.y = Cnm sin(m phinm)``.

    Keys are ``Cnm`` (metres) and ``phinm`` (radians); missing ones are zero, unknown ones
    raise ``KeyError``.
    """
    valid = {f"C{n}{m}" for n, m in ORDERS} | {f"phi{n}{m}" for n, m in ORDERS if m > 0}
    for key in polar:
        if key not in valid:
            raise KeyError(f"unknown polar aberration key {key!r}; valid: {sorted(valid)}")
    d: dict[str, float] = {}
    for n, m in ORDERS:
        base = f"C{n}{m}"
        mag = _check_value(base, polar.get(base, 0.0))
        if m == 0:
            d[base] = mag
        else:
            phi = _check_value(f"phi{n}{m}", polar.get(f"phi{n}{m}", 0.0))
            d[base + ".x"] = mag * math.cos(m * phi)
            d[base + ".y"] = mag * math.sin(m * phi)
    return Aberrations(d)


# abTEM's own aliases (abtem.transfer.polar_aliases); "defocus" is special: defocus = -C10.
ABTEM_ALIASES: dict[str, str] = {
    "Cs": "C30", "C5": "C50",
    "astigmatism": "C12", "astigmatism_angle": "phi12",
    "astigmatism3": "C32", "astigmatism3_angle": "phi32",
    "astigmatism5": "C52", "astigmatism5_angle": "phi52",
    "coma": "C21", "coma_angle": "phi21",
    "coma4": "C41", "coma4_angle": "phi41",
    "trefoil": "C23", "trefoil_angle": "phi23",
    "trefoil4": "C43", "trefoil4_angle": "phi43",
    "quadrafoil": "C34", "quadrafoil_angle": "phi34",
    "quadrafoil5": "C54", "quadrafoil5_angle": "phi54",
    "pentafoil": "C45", "pentafoil_angle": "phi45",
    "hexafoil": "C56", "hexafoil_angle": "phi56",
}
_ANGSTROM = 1e-10


def to_abtem(ab: Aberrations) -> dict[str, float]:
    """abTEM's polar symbols (``C10``, ``C12``, ``phi12`` ... as ``abtem.transfer.Aberrations``
    takes them): magnitudes in Angstrom, angles in radians. Same sign of C10 as ours; note
    that abTEM's ``defocus`` is ``-C10``.
    """
    pol = to_polar(ab)
    return {k: (v / _ANGSTROM if k.startswith("C") else v) for k, v in pol.items()}


def from_abtem(coeffs: Mapping[str, float]) -> Aberrations:
    """From abTEM polar symbols or aliases (Angstrom, radians); ``defocus`` means ``-C10``."""
    if "defocus" in coeffs and "C10" in coeffs:
        raise ValueError("give either abTEM 'defocus' or 'C10' (defocus = -C10), not both")
    polar: dict[str, float] = {}
    for key, value in coeffs.items():
        if key == "defocus":
            polar["C10"] = polar.get("C10", 0.0) - _check_value(key, value) * _ANGSTROM
            continue
        sym = ABTEM_ALIASES.get(key, key)
        v = _check_value(key, value)
        if sym.startswith("C"):
            if sym == "C10":
                polar["C10"] = polar.get("C10", 0.0) + v * _ANGSTROM
            else:
                polar[sym] = v * _ANGSTROM
        else:
            polar[sym] = v
    return from_polar(polar)


# ---------------------------------------------------------------------------------------
# The aberration function
# ---------------------------------------------------------------------------------------
def chi_basis(theta_x, theta_y) -> np.ndarray:
    """Basis functions B_j(theta) (rad^(n+1)) so that chi = (2 pi / lambda) sum_j C_j B_j.

    Returns an array of shape ``(len(NAMES),) + broadcast(theta_x, theta_y).shape``;
    ``B = theta^(n+1)/(n+1) * cos(m phi)`` for ``.x`` / round, ``sin(m phi)`` for ``.y``.
    Computed from ``w = theta_x + i theta_y`` as ``w^m |w|^(n+1-m) / (n+1)`` (no atan2).
    """
    tx = np.asarray(theta_x, dtype=float)
    ty = np.asarray(theta_y, dtype=float)
    tx, ty = np.broadcast_arrays(tx, ty)
    w = tx + 1j * ty
    r2 = tx * tx + ty * ty
    out = np.empty((len(NAMES),) + tx.shape, dtype=float)
    for j, (n, m, comp) in enumerate(_NMC):
        val = w**m * r2 ** ((n + 1 - m) // 2) / (n + 1)
        out[j] = val.imag if comp else val.real
    return out


def chi_monomials() -> np.ndarray:
    """(len(NAMES), 7, 7) float64 M with ``chi_basis(tx, ty)[j] = sum_ab M[j, a, b] tx^a ty^b``.

    The basis functions are polynomials of degree n + 1 <= 6 in (theta_x, theta_y); on a
    tensor-product grid chi then factorises as ``Vx @ (sum_j c_j M[j]) @ Vy.T`` with the
    Vandermonde matrices ``Vx[i, a] = tx_i^a``, which is how the Ronchigram simulator
    evaluates it (7 multiply-adds per grid point instead of 25, no stored basis).
    """
    from math import comb

    out = np.zeros((len(NAMES), 7, 7))
    for j, (n, m, comp) in enumerate(_NMC):
        p = (n + 1 - m) // 2
        poly = np.zeros((7, 7), complex)
        for k in range(m + 1):                      # w^m = sum_k C(m,k) tx^(m-k) (i ty)^k
            for l in range(p + 1):                  # r2^p = sum_l C(p,l) tx^(2(p-l)) ty^(2l)
                poly[m - k + 2 * (p - l), k + 2 * l] += comb(m, k) * (1j**k) * comb(p, l)
        poly /= n + 1
        out[j] = poly.imag if comp else poly.real
    return out


def coefficient_matrix(ab) -> tuple[np.ndarray, bool]:
    """(N, len(NAMES)) float64 coefficients from an Aberrations, a list of them or an array."""
    if isinstance(ab, Aberrations):
        return ab.vector[None, :], True
    if isinstance(ab, (list, tuple)) and ab and isinstance(ab[0], Aberrations):
        return np.stack([a.vector for a in ab]), False
    arr = np.asarray(ab, dtype=float)
    if arr.ndim == 1:
        arr, single = arr[None, :], True
    else:
        single = False
    if arr.ndim != 2 or arr.shape[1] != len(NAMES):
        raise ValueError(f"aberrations array must have shape (N, {len(NAMES)}) in NAMES order, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("aberrations array contains NaN or inf")
    return arr, single


def chi(ab, theta_x, theta_y, wavelength_m: float) -> np.ndarray:
    """Aberration function chi (radians) at angles ``theta_x, theta_y`` (radians).

    ``ab``: an :class:`Aberrations`, a list of them, or an ``(N, len(NAMES))`` array in metres.
    A single set gives ``shape(theta)``; a batch gives ``(N,) + shape(theta)``. float64.
    """
    lam = float(wavelength_m)
    if not math.isfinite(lam) or lam <= 0:
        raise ValueError(f"wavelength_m must be positive (metres), got {wavelength_m!r}")
    coeffs, single = coefficient_matrix(ab)
    basis = chi_basis(theta_x, theta_y)
    shape = basis.shape[1:]
    out = (2 * math.pi / lam) * (coeffs @ basis.reshape(len(NAMES), -1))
    out = out.reshape((coeffs.shape[0],) + shape)
    return out[0] if single else out


def chi_torch(coeffs, theta_x, theta_y, wavelength_m: float):
    """Batched chi with torch: ``coeffs`` a tensor (..., len(NAMES)) in metres (NAMES order);
    returns (...,) + shape(theta) radians, same dtype/device, differentiable in ``coeffs``.
    """
    import torch

    lam = float(wavelength_m)
    if not math.isfinite(lam) or lam <= 0:
        raise ValueError(f"wavelength_m must be positive (metres), got {wavelength_m!r}")
    if coeffs.shape[-1] != len(NAMES):
        raise ValueError(f"coeffs must have last dimension {len(NAMES)} (NAMES order), got {tuple(coeffs.shape)}")
    basis = chi_basis(theta_x, theta_y)
    shape = basis.shape[1:]
    b = torch.as_tensor(basis.reshape(len(NAMES), -1), dtype=coeffs.dtype, device=coeffs.device)
    out = (2 * math.pi / lam) * (coeffs @ b)
    return out.reshape(tuple(coeffs.shape[:-1]) + tuple(shape))


def chi_gradient_basis(theta_x, theta_y) -> tuple[np.ndarray, np.ndarray]:
    """d/dtheta_x and d/dtheta_y of :func:`chi_basis`: two arrays ``(len(NAMES),) + shape``."""
    tx = np.asarray(theta_x, dtype=float)
    ty = np.asarray(theta_y, dtype=float)
    tx, ty = np.broadcast_arrays(tx, ty)
    w = tx + 1j * ty
    r2 = tx * tx + ty * ty
    gx = np.empty((len(NAMES),) + tx.shape)
    gy = np.empty_like(gx)
    for j, (n, m, comp) in enumerate(_NMC):
        p = (n + 1 - m) // 2
        # f = w^m r2^p / (n+1); df/dx = (m w^(m-1) r2^p + w^m p r2^(p-1) 2x)/(n+1); d/dy with i m w^(m-1)
        wm1 = w ** (m - 1) if m > 0 else np.zeros_like(w)
        r2p = r2**p
        r2p1 = r2 ** (p - 1) if p > 0 else np.zeros_like(r2)
        dfx = (m * wm1 * r2p + (w**m) * p * r2p1 * 2 * tx) / (n + 1)
        dfy = (1j * m * wm1 * r2p + (w**m) * p * r2p1 * 2 * ty) / (n + 1)
        gx[j] = dfx.imag if comp else dfx.real
        gy[j] = dfy.imag if comp else dfy.real
    return gx, gy


def chi_gradient(ab, theta_x, theta_y, wavelength_m: float, basis=None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of chi with respect to (theta_x, theta_y), radians per radian.

    ``grad chi * wavelength / (2 pi)`` is the geometric ray position (metres) at the sample
    plane; used for the probe-footprint (sampling) check. Shapes as for :func:`chi`.
    ``basis``: optional precomputed :func:`chi_gradient_basis` for these angles.
    """
    lam = float(wavelength_m)
    coeffs, single = coefficient_matrix(ab)
    gx, gy = chi_gradient_basis(theta_x, theta_y) if basis is None else basis
    shape = gx.shape[1:]
    k = 2 * math.pi / lam
    n_names = len(NAMES)
    ox = k * (coeffs @ gx.reshape(n_names, -1))
    oy = k * (coeffs @ gy.reshape(n_names, -1))
    shp = (coeffs.shape[0],) + shape
    ox, oy = ox.reshape(shp), oy.reshape(shp)
    return (ox[0], oy[0]) if single else (ox, oy)


def as_matrix(abs_: Iterable[Aberrations] | np.ndarray) -> np.ndarray:
    """Stack aberrations (or validate an array) into an ``(N, len(NAMES))`` float64 matrix."""
    return coefficient_matrix(list(abs_) if not isinstance(abs_, np.ndarray) else abs_)[0]
