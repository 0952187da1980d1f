"""Instrument profiles: one validated file per instrument (pydantic), SI units throughout.

A profile says what beamloop needs to drive an instrument it did not build:

* ``knobs``: beamloop knob name -> the instrument's control, the aberration it drives, the
  conversion ``instrument_value = offset + scale * si_value`` (Nion: 1 and 0, SI already;
  PyJEM: DAC counts per metre and the count at zero, from :mod:`.calibration`), SI limits,
  the largest single step, the settle time after a change, and the measured cross-talk;
* ``camera``: the Ronchigram camera's geometry - pixels, angular pitch (rad per binned
  pixel), binning, rotation, centre, array axis order, flip - and gain (counts per electron);
* the optics: beam energy (eV) and convergence semi-angle (rad);
* ``connection``: adapter-specific settings (which camera, exposure, the stand-in ...);
* ``response_calibration``: a saved knob-response calibration of the nn policy (JSON from
  :mod:`~beamloop.controller.estimation.knob_calibration`, a path relative to the profile's
  file), reused with 0 frames per session and refused if measured on another instrument or
  for other knobs (:func:`~.calibration.profile_response`).

``load_profile(path_or_name)`` reads YAML/JSON; a bad profile raises :class:`ProfileError`
naming the file and the field (``knobs[2].maximum: ...``) before any adapter is built, so
nothing can move on a bad file. Shipped profiles (``profiles/*.yaml``): ``twin`` (the
default), ``usim`` (nionswift-usim headless), ``nion`` (a running Nion Swift),
``pyjem-standin`` and ``pyjem`` (JEOL, DAC counts), ``board-twin`` (the serial board in the
command path, the twin's camera).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROFILE_DIR = Path(__file__).with_name("profiles")


class ProfileError(ValueError):
    """An instrument profile is invalid; the message names the file and the field."""


def _finite(v: float, what: str) -> float:
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return v


class KnobProfile(BaseModel):
    """One knob (SI at beamloop's side; instrument units on the other side of ``scale``/``offset``).

    name: beamloop's knob name (``C10``, ``C12.x`` ...); control: the instrument's control
    (Nion ``"C10"``, ``"C12.x"``; PyJEM ``"OLf"``, ``"OLc"``, ``"OLSx"``...); aberration: the Krivanek
    coefficient it drives (None for a non-aberration knob); unit: ``"m"`` or ``"rad"``;
    scale: instrument units per SI unit (non-zero); offset: instrument value at SI zero;
    minimum/maximum: SI limits (requests outside are refused, never clipped); max_step: the
    largest change in one command (SI, None: any); settle_s: wait after a change (s);
    cross_talk: measured side effects ``{aberration: SI per SI}`` (from calibration).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    control: str = Field(min_length=1)
    aberration: str | None = None
    unit: Literal["m", "rad"] = "m"
    scale: float = 1.0
    offset: float = 0.0
    minimum: float
    maximum: float
    max_step: float | None = None
    settle_s: float | None = None
    cross_talk: dict[str, float] = Field(default_factory=dict)

    @field_validator("aberration")
    @classmethod
    def _aberration(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from beamloop.sim.aberrations import canonical_name

        try:
            return canonical_name(v)
        except KeyError as exc:
            raise ValueError(f"unknown aberration {v!r} ({exc})") from None

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: float) -> float:
        _finite(v, "scale")
        if v == 0:
            raise ValueError("scale must be non-zero (instrument units per SI unit)")
        return v

    @field_validator("offset", "minimum", "maximum")
    @classmethod
    def _fin(cls, v: float) -> float:
        return _finite(v, "value")

    @field_validator("max_step", "settle_s")
    @classmethod
    def _pos(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"must be a finite number >= 0, got {v!r}")
        return v

    @model_validator(mode="after")
    def _limits(self) -> "KnobProfile":
        if not self.minimum < self.maximum:
            raise ValueError(f"minimum ({self.minimum!r}) must be < maximum ({self.maximum!r})")
        if self.unit == "m" and max(abs(self.minimum), abs(self.maximum)) > 1e-3:
            raise ValueError(f"limits of a metre knob beyond 1 mm ({self.minimum!r}, {self.maximum!r}): "
                             "give limits in metres (SI), not nm")
        if self.unit == "rad" and max(abs(self.minimum), abs(self.maximum)) > 0.5:
            raise ValueError("limits of a radian knob beyond 0.5 rad: give them in radians, not mrad")
        return self

    def to_instrument(self, si: float) -> float:
        """SI value -> instrument units (``offset + scale * si``)."""
        return self.offset + self.scale * si

    def to_si(self, value: float) -> float:
        """Instrument units -> SI value."""
        return (value - self.offset) / self.scale


class CameraProfile(BaseModel):
    """The Ronchigram camera as delivered to beamloop (after binning and readout area).

    size_px: (rows, columns) of a frame, i.e. ``image.shape``; rad_per_px: angular pitch of one
    delivered pixel (rad); binning: physical pixels per delivered pixel (recorded; the pitch
    already includes it); axes: ``"xy"`` when array axis 0 runs along the camera's x (beamloop's
    twin) or ``"yx"`` when axis 0 is the row (y) index (numpy images, Nion); rotation_rad: the
    angle (counter-clockwise, rad) by which the beam's (theta_x, theta_y) frame appears rotated
    on the camera; flip: the camera x axis is mirrored; centre_px: (axis 0, axis 1) pixel of the
    optical axis (None: ``size // 2``); counts_per_electron: camera gain; exposure_s: exposure.
    """

    model_config = ConfigDict(extra="forbid")

    size_px: tuple[int, int]
    rad_per_px: float
    binning: int = 1
    axes: Literal["xy", "yx"] = "xy"
    rotation_rad: float = 0.0
    flip: bool = False
    centre_px: tuple[float, float] | None = None
    counts_per_electron: float = 1.0
    exposure_s: float = 0.02

    @field_validator("size_px")
    @classmethod
    def _size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 16 or max(v) > 16384:
            raise ValueError(f"frame size must be 16..16384 px per side, got {v!r}")
        return v

    @field_validator("rad_per_px")
    @classmethod
    def _pitch(cls, v: float) -> float:
        if not (math.isfinite(v) and 0 < v < 0.05):
            raise ValueError(f"angular pitch must be in (0, 0.05) rad per pixel (SI, not mrad), got {v!r}")
        return v

    @field_validator("binning")
    @classmethod
    def _binning(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"binning must be >= 1, got {v!r}")
        return v

    @field_validator("rotation_rad")
    @classmethod
    def _rot(cls, v: float) -> float:
        _finite(v, "rotation_rad")
        if abs(v) > 2 * math.pi + 1e-9:
            raise ValueError(f"rotation must be radians in [-2 pi, 2 pi], got {v!r} (degrees?)")
        return v

    @field_validator("counts_per_electron", "exposure_s")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"must be > 0, got {v!r}")
        return v

    @model_validator(mode="after")
    def _centre(self) -> "CameraProfile":
        if self.centre_px is not None:
            for c, n in zip(self.centre_px, self.size_px):
                if not (math.isfinite(c) and 0 <= c <= n - 1):
                    raise ValueError(f"centre_px {self.centre_px!r} lies outside the {self.size_px!r} frame")
        return self

    @property
    def centre(self) -> tuple[float, float]:
        return self.centre_px if self.centre_px is not None else (float(self.size_px[0] // 2), float(self.size_px[1] // 2))

    def geometry(self):
        """The :class:`~beamloop.controller.estimation.canonical_grid.CameraGeometry` of this camera."""
        from beamloop.controller.estimation.canonical_grid import CameraGeometry

        return CameraGeometry(tuple(self.size_px), self.rad_per_px, self.axes, self.rotation_rad, self.flip,
                              self.centre_px)


class InstrumentProfile(BaseModel):
    """A whole instrument; see the module docstring. All values SI (eV for the beam energy)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["twin", "nion", "pyjem", "composite"]
    description: str = ""
    beam_energy_eV: float
    convergence_semiangle_rad: float
    settle_s: float = 0.0
    knobs: list[KnobProfile] = Field(min_length=1)
    camera: CameraProfile
    connection: dict[str, Any] = Field(default_factory=dict)
    alignment: dict[str, Any] = Field(default_factory=dict)
    calibrated: str | None = None
    response_calibration: str | None = None  # saved nn knob-response JSON; relative: to the profile's file

    @field_validator("beam_energy_eV")
    @classmethod
    def _energy(cls, v: float) -> float:
        if not (math.isfinite(v) and 1e3 <= v <= 3e6):
            raise ValueError(f"beam energy must be in eV (1e3 .. 3e6), got {v!r}")
        return v

    @field_validator("convergence_semiangle_rad")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not (math.isfinite(v) and 0 < v < 0.2):
            raise ValueError(f"convergence semi-angle must be in radians (0 .. 0.2), got {v!r}")
        return v

    @field_validator("settle_s")
    @classmethod
    def _settle(cls, v: float) -> float:
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"must be >= 0 s, got {v!r}")
        return v

    @model_validator(mode="after")
    def _unique(self) -> "InstrumentProfile":
        names = [k.name for k in self.knobs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"knobs: duplicate knob name(s) {dup}")
        ctl = [k.control for k in self.knobs]
        dup = sorted({n for n in ctl if ctl.count(n) > 1})
        if dup:
            raise ValueError(f"knobs: two knobs drive the same control {dup}")
        return self

    # -- helpers ----------------------------------------------------------------------------
    def knob(self, name: str) -> KnobProfile:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(f"profile {self.name!r} has no knob {name!r}; knobs: {[k.name for k in self.knobs]}")

    def knob_infos(self) -> dict:
        """``{name: KnobInfo}`` (SI limits) for the backend interface."""
        from beamloop.controller.core.backend import KnobInfo

        return {k.name: KnobInfo(k.name, k.unit, k.minimum, k.maximum, k.aberration) for k in self.knobs}

    def settle_for(self, name: str) -> float:
        k = self.knob(name)
        return self.settle_s if k.settle_s is None else k.settle_s

    def dump(self, path: str | Path) -> Path:
        """Write the profile as YAML (e.g. after a calibration)."""
        import yaml

        path = Path(path)
        path.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return path


def _format(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ""
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc or '(profile)'}: {msg}")
    return f"instrument profile {source}: " + "; ".join(lines)


def parse_profile(data: Any, source: str = "<dict>") -> InstrumentProfile:
    """Validate a profile given as a mapping; :class:`ProfileError` names the field."""
    if not isinstance(data, dict):
        raise ProfileError(f"instrument profile {source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return InstrumentProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format(exc, source)) from None


def shipped_profiles() -> list[str]:
    """Names of the profiles that ship with beamloop (``profiles/*.yaml``)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(spec: str | Path) -> InstrumentProfile:
    """A profile from a file path (YAML or JSON) or the name of a shipped profile (``usim``)."""
    import yaml

    path = Path(spec)
    if not path.exists():
        if isinstance(spec, str) and (PROFILE_DIR / f"{spec}.yaml").exists():
            path = PROFILE_DIR / f"{spec}.yaml"
        else:
            raise ProfileError(f"instrument profile {spec!r}: no such file and not a shipped profile "
                               f"({', '.join(shipped_profiles())})")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"instrument profile {path}: cannot read it ({exc})") from None
    profile = parse_profile(data, str(path))
    rc = profile.response_calibration
    if rc is not None and not Path(rc).is_absolute():  # a file the profile names: next to the profile
        profile = profile.model_copy(update={"response_calibration": str((path.parent / rc).resolve())})
    return profile
