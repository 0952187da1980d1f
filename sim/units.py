"""Units people type and read: ``50nm``, ``2um``, ``30mrad``, ``300kV`` in, SI out (and back).

The one parser for every place a length, angle or energy is typed (CLI options, aberration
lists, the notebook API). A bare number is SI (metres, radians, eV) as before. Output helpers
pick nm/um/mm and mrad with sensible digits. Lives in ``sim`` because ``sim`` imports nothing of
ours and everybody else may import ``sim``.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

__all__ = ["UnitError", "parse_length", "parse_angle", "parse_energy", "parse_aberration_name",
           "parse_aberrations", "format_length", "format_angle", "format_aberration"]


class UnitError(ValueError):
    """A value that cannot be read: the message names the text, the quantity and accepted units."""


_LENGTH = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "micron": 1e-6, "nm": 1e-9, "pm": 1e-12,
           "a": 1e-10, "å": 1e-10, "angstrom": 1e-10}
_ANGLE = {"rad": 1.0, "mrad": 1e-3, "urad": 1e-6, "µrad": 1e-6, "deg": math.pi / 180, "°": math.pi / 180}
_ENERGY = {"ev": 1.0, "kev": 1e3, "mev": 1e6, "v": 1.0, "kv": 1e3, "mv": 1e6}
_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")


def _parse(text: str | float, table: dict[str, float], what: str, default_unit: str) -> float:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _NUM.match(str(text))
        if not m:
            raise UnitError(f"{what}: {text!r} is not a number with a unit (e.g. {_example(what)})")
        unit = (m.group(2) or "").strip()
        key = unit if unit in table else unit.lower()
        if unit and key not in table:
            raise UnitError(f"{what}: unknown unit {unit!r} in {text!r}; use {', '.join(sorted(set(table)))} "
                            f"(a bare number is {default_unit})")
        scale = table[key] if unit else 1.0
        # divide by the exact inverse where possible: 50 / 1e9 is 5e-08, 50 * 1e-9 is not
        inv = round(1 / scale) if scale < 1 else None
        value = float(m.group(1)) / inv if inv and abs(1 / inv - scale) < 1e-15 * scale else float(m.group(1)) * scale
    if not math.isfinite(value):
        raise UnitError(f"{what}: {text!r} is not finite")
    return value


def _example(what: str) -> str:
    return {"length": "50nm, 2um", "angle": "30mrad", "energy": "300kV"}.get(what, "50nm")


def parse_length(text: str | float, what: str = "length") -> float:
    """``"50nm"`` -> 5e-8 (m). Units m, mm, um/µm, nm, pm, A; a bare number is metres."""
    return _parse(text, _LENGTH, what if what != "length" else "length", "metres")


def parse_angle(text: str | float, what: str = "angle") -> float:
    """``"30mrad"`` -> 0.03 (rad). Units rad, mrad, urad, deg; a bare number is radians."""
    return _parse(text, _ANGLE, what, "radians")


def parse_energy(text: str | float, what: str = "energy") -> float:
    """``"300kV"`` / ``"300keV"`` -> 3e5 (eV). A bare number is eV."""
    return _parse(text, _ENERGY, what, "eV")


def parse_aberration_name(name: str) -> str:
    """Krivanek cartesian name for any accepted spelling: ``C10``, ``C1``, ``defocus``, ``C12.x``,
    ``A1x``, ``A1.x``, ``B2y``, ``Cs`` ... Raises ``KeyError`` naming the valid names."""
    from beamloop.sim.aberrations import ALIASES, canonical_name

    n = name.strip()
    if len(n) >= 3 and n[-1].lower() in "xyab" and "." not in n and n[:-1] in ALIASES:
        n = f"{n[:-1]}.{n[-1]}"  # A1x -> A1.x
    return canonical_name(n)


def parse_aberrations(items: Iterable[str] | Mapping[str, str | float]) -> dict[str, float]:
    """``["C10=50nm", "A1x=20nm", "B2.y=1um"]`` (or a mapping) -> ``{"C10": 5e-8, ...}`` (m).

    Every coefficient is a length here (beamloop's convention: chi = 2 pi / lambda * C theta^(n+1)
    / (n+1), C in metres). Raises :class:`UnitError` / ``KeyError`` naming the bad item."""
    pairs = list(items.items()) if isinstance(items, Mapping) else []
    if not isinstance(items, Mapping):
        for item in items:
            if "=" not in str(item):
                raise UnitError(f"aberration {item!r} must look like NAME=VALUE, e.g. C10=50nm")
            k, v = str(item).split("=", 1)
            pairs.append((k, v))
    out: dict[str, float] = {}
    for k, v in pairs:
        name = parse_aberration_name(k)
        if name in out:
            raise UnitError(f"aberration {name} given twice")
        out[name] = parse_length(v, what=f"aberration {k.strip()}")
    return out


def format_length(m: float | None, digits: int = 3) -> str:
    """5e-8 -> ``"50.0 nm"``, 2.1e-6 -> ``"2.10 um"``; ``"-"`` for None/NaN."""
    if m is None or not math.isfinite(m):
        return "-"
    a = abs(m)
    for unit, scale in (("mm", 1e-3), ("um", 1e-6), ("nm", 1e-9)):
        if a >= scale or unit == "nm":
            if unit == "nm" and 0 < a < 1e-10:
                return f"{m * 1e12:.{_dec(m * 1e12, digits)}f} pm"
            return f"{m / scale:.{_dec(m / scale, digits)}f} {unit}"
    return f"{m:g} m"


def format_angle(rad: float | None, digits: int = 3) -> str:
    """0.03 -> ``"30.0 mrad"``; ``"-"`` for None/NaN."""
    if rad is None or not math.isfinite(rad):
        return "-"
    v = rad * 1e3
    return f"{v:.{_dec(v, digits)}f} mrad"


def _dec(v: float, digits: int) -> int:
    """Decimals for ``digits`` significant figures (at least 0, at most 3)."""
    if v == 0:
        return 1
    return max(0, min(3, digits - 1 - int(math.floor(math.log10(abs(v))))))


def format_aberration(name: str, m: float) -> str:
    """``"C10 = 50.0 nm"``."""
    return f"{name} = {format_length(m)}"
