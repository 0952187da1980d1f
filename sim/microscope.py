"""A digital-twin STEM column with knobs, as a real instrument has them.

The twin has Nion-like corrector controls named after the aberration each nominally
drives (``C10`` objective focus, ``C12.x/.y`` objective stigmator, ``C21.x/.y`` coma /
beam-tilt corrector, optionally ``C23.x/.y``), all in metres. A knob does *not* map
one-to-one to its aberration:

* **calibration matrix** ``M`` (aberrations x knobs): scale error on the diagonal and
  cross-talk off it, fixed per ``calibration_seed``;
* **hysteresis**: a play (backlash) operator of half-width ``h`` per knob, so the effect
  depends on the approach direction;
* **settle time**: after a change the effective value approaches its target
  exponentially; ``settle_time_s`` is the time at which 1 % of the step remains;
* **limits** per knob: values outside them (or not finite) are refused with
  :class:`KnobRangeError`, never clipped;
* **drift**: hidden aberration offsets move linearly plus a random walk with the twin
  clock.

True aberrations (m)::

    A = offset + drift + M @ e(t),   e = settle(play(knob values))

The detector streams Ronchigrams of the true aberrations through
:class:`beamloop.sim.ronchigram.RonchigramSimulator` at ``frame_rate_hz`` (the exposure
is one frame period). Time is a simulated clock (s) advanced by every action (settle on
``set_knobs``, exposure on ``acquire``, or ``advance(dt)``), so runs are fast and
deterministic; a server may pace it to wall time.

No I/O here and nothing from ``beamloop.controller``: this is physics plus bookkeeping.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_LIMITS_M: dict[str, tuple[float, float]] = {
    "C10": (-2e-6, 2e-6),
    "C12.x": (-1e-6, 1e-6),
    "C12.y": (-1e-6, 1e-6),
    "C21.x": (-10e-6, 10e-6),
    "C21.y": (-10e-6, 10e-6),
    "C23.x": (-10e-6, 10e-6),
    "C23.y": (-10e-6, 10e-6),
}
# Linear drift speed of the hidden aberrations (m/s) and random-walk strength (m/sqrt(s)).
DEFAULT_DRIFT_RATE: dict[str, float] = {"C10": 0.2e-9, "C12.x": 0.05e-9, "C12.y": 0.05e-9, "C21.x": 0.5e-9, "C21.y": 0.5e-9}
DEFAULT_DRIFT_WALK: dict[str, float] = {"C10": 0.1e-9, "C12.x": 0.02e-9, "C12.y": 0.02e-9, "C21.x": 0.2e-9, "C21.y": 0.2e-9}


class KnobRangeError(ValueError):
    """A knob value outside the knob's limits, or not finite. Nothing was applied."""

    def __init__(self, knob: str, value: float, minimum: float, maximum: float):
        self.knob, self.value, self.minimum, self.maximum = knob, value, minimum, maximum
        super().__init__(
            f"knob {knob!r}: requested {value!r} m is outside its limits [{minimum!r}, {maximum!r}] m "
            "(or not finite); refused, nothing applied"
        )


class UnknownKnobError(KeyError):
    """A knob name the twin does not have. Nothing was applied."""

    def __init__(self, knob: str, known: list[str]):
        self.knob = knob
        super().__init__(knob)
        self.message = f"unknown knob {knob!r}; this microscope has {known}; nothing applied"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class KnobSpec:
    """A control: same fields as ``beamloop.controller.core.backend.KnobInfo``.

    unit: SI unit (``"m"``); minimum/maximum: hard limits (m); aberration: the Krivanek
    coefficient the knob nominally drives.
    """

    name: str
    unit: str
    minimum: float
    maximum: float
    aberration: str | None = None


@dataclass
class MicroscopeConfig:
    """Configuration of the twin. All lengths in metres, times in seconds.

    knobs: knob names (each named after the aberration it nominally drives).
    limits: per-knob (min, max) in m; defaults from :data:`DEFAULT_LIMITS_M`.
    calibration: explicit matrix as ``{aberration: {knob: gain}}`` (missing entries 0);
      if None it is drawn from ``calibration_seed``: diagonal ``1 + N(0, scale_error)``,
      off-diagonal ``N(0, cross_talk)``.
    hysteresis_fraction: play half-width as a fraction of each knob's full range
      (``hysteresis_m`` overrides per knob).
    settle_time_s: time after a knob change at which 1 % of the step remains
      (exponential, tau = settle_time_s / ln 100); 0 = instant.
    settle_on_set: ``set_knobs`` advances the clock by ``settle_time_s`` (the command
      returns once settled, like a real column's "wait for settle").
    frame_rate_hz: detector frame rate; the exposure is one frame period.
    drift: enable drift; ``drift_rate`` (m/s, random direction per ``seed``) and
      ``drift_walk`` (m/sqrt(s)) per aberration.
    static_aberrations: further aberrations of the column (e.g. ``{"C30": 1e-6}``),
      passed to the simulator unchanged.
    ronchigram: keyword arguments for ``RonchigramConfig`` (size_px, ...); the twin
      defaults ``on_undersampled="warn"`` so that every allowed knob setting gives a frame.
    detector_dtype: ``"uint16"`` (camera counts, clipped at 65535) or ``"float32"``.
    noise: shot noise on (as the simulator implements it) or off.
    """

    knobs: tuple[str, ...] = ("C10", "C12.x", "C12.y", "C21.x", "C21.y")
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    calibration: dict[str, dict[str, float]] | None = None
    calibration_seed: int = 1234
    scale_error: float = 0.05
    cross_talk: float = 0.03
    hysteresis_fraction: float = 0.002
    hysteresis_m: dict[str, float] = field(default_factory=dict)
    settle_time_s: float = 0.05
    settle_on_set: bool = True
    frame_rate_hz: float = 50.0
    drift: bool = True
    drift_rate: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DRIFT_RATE))
    drift_walk: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DRIFT_WALK))
    static_aberrations: dict[str, float] = field(default_factory=dict)
    ronchigram: dict[str, Any] = field(default_factory=dict)
    detector_dtype: str = "uint16"
    noise: bool = True

    @classmethod
    def deterministic(cls, **kw: Any) -> "MicroscopeConfig":
        """No drift, no noise, no hysteresis, instant settle: for exact tests."""
        base = dict(drift=False, noise=False, hysteresis_fraction=0.0, settle_time_s=0.0)
        base.update(kw)
        return cls(**base)


@dataclass
class Exposure:
    """What the detector saw: sequence number, twin time at the start of the exposure
    (s), exposure (s), commanded knob values (m) and the true aberrations (m)."""

    seq: int
    t: float
    exposure_s: float
    knobs: dict[str, float]
    aberrations: dict[str, float]


class Microscope:
    """The twin. See the module docstring for the model; all values SI."""

    def __init__(self, config: MicroscopeConfig | None = None, seed: int = 0):
        self.config = cfg = config or MicroscopeConfig()
        if cfg.detector_dtype not in ("uint16", "float32"):
            raise ValueError(f"detector_dtype must be 'uint16' or 'float32', got {cfg.detector_dtype!r}")
        if not cfg.frame_rate_hz > 0:
            raise ValueError(f"frame_rate_hz must be > 0, got {cfg.frame_rate_hz!r}")
        if cfg.settle_time_s < 0:
            raise ValueError(f"settle_time_s must be >= 0, got {cfg.settle_time_s!r}")
        self.seed = seed
        self._names = list(cfg.knobs)
        if len(set(self._names)) != len(self._names):
            raise ValueError(f"duplicate knob names in {self._names}")
        self._specs: dict[str, KnobSpec] = {}
        for n in self._names:
            lo, hi = cfg.limits.get(n, DEFAULT_LIMITS_M.get(n, (None, None)))
            if lo is None or not lo < hi:
                raise ValueError(f"knob {n!r} needs limits (min < max) in MicroscopeConfig.limits")
            self._specs[n] = KnobSpec(n, "m", float(lo), float(hi), n)
        # the aberrations the knobs drive (same names); only these drift and get offsets
        self._ab_names = list(self._names)
        self.M = self._calibration_matrix()
        k = len(self._names)
        self._h = np.array(
            [cfg.hysteresis_m.get(n, cfg.hysteresis_fraction * (s.maximum - s.minimum)) for n, s in self._specs.items()]
        )
        self._tau = cfg.settle_time_s / math.log(100.0) if cfg.settle_time_s > 0 else 0.0
        rng = np.random.default_rng(seed)
        self._rng_drift = np.random.default_rng(rng.integers(2**63))
        self._rng_noise = np.random.default_rng(rng.integers(2**63))
        direction = self._rng_drift.choice([-1.0, 1.0], size=k)
        self._drift_v = np.array([cfg.drift_rate.get(n, 0.0) for n in self._ab_names]) * direction
        self._drift_w = np.array([cfg.drift_walk.get(n, 0.0) for n in self._ab_names])
        # state
        self.t = 0.0
        self._seq = 0
        self._u = np.zeros(k)            # commanded knob values
        self._play = np.zeros(k)         # play-operator output (settled effective value)
        self._e_from = np.zeros(k)       # effective value when the last change started
        self._t_change = np.zeros(k)     # twin time of the last change per knob
        self._offset = np.zeros(k)       # hidden misalignment
        self._drift = np.zeros(k)        # accumulated drift
        self._sim = None
        self.undersampled_frames = 0     # frames rendered past the simulator's sampling limit

    # --- calibration ------------------------------------------------------------------------
    def _calibration_matrix(self) -> np.ndarray:
        cfg, k = self.config, len(self._names)
        if cfg.calibration is not None:
            M = np.zeros((k, k))
            for i, a in enumerate(self._ab_names):
                for j, n in enumerate(self._names):
                    M[i, j] = float(cfg.calibration.get(a, {}).get(n, 0.0))
        else:
            rng = np.random.default_rng(cfg.calibration_seed)
            M = rng.normal(0.0, cfg.cross_talk, (k, k))
            np.fill_diagonal(M, 1.0 + rng.normal(0.0, cfg.scale_error, k))
        if abs(np.linalg.det(M)) < 1e-6:
            raise ValueError("calibration matrix is singular: the knobs cannot reach every aberration")
        return M

    def calibration(self) -> dict[str, dict[str, float]]:
        """The calibration matrix as ``{aberration: {knob: gain}}`` (twin-only truth)."""
        return {a: {n: float(self.M[i, j]) for j, n in enumerate(self._names)} for i, a in enumerate(self._ab_names)}

    # --- knobs --------------------------------------------------------------------------------
    def knob_specs(self) -> dict[str, KnobSpec]:
        return dict(self._specs)

    def get_knobs(self) -> dict[str, float]:
        """Commanded knob values (m), as a real column reports them."""
        return {n: float(v) for n, v in zip(self._names, self._u)}

    def check_knobs(self, values: dict[str, float]) -> dict[str, float]:
        """Validate a partial setting without applying it; return it as floats.

        Raises :class:`UnknownKnobError` or :class:`KnobRangeError` (a ``ValueError``)."""
        out = {}
        for n, v in values.items():
            spec = self._specs.get(n)
            if spec is None:
                raise UnknownKnobError(n, self._names)
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise KnobRangeError(n, v, spec.minimum, spec.maximum) from None
            if not math.isfinite(x) or not spec.minimum <= x <= spec.maximum:
                raise KnobRangeError(n, v, spec.minimum, spec.maximum)
            out[n] = x
        return out

    def set_knobs(self, values: dict[str, float]) -> dict[str, float]:
        """Set knobs (m), all-or-nothing; returns all commanded values now in effect.

        Advances the clock by ``settle_time_s`` if ``settle_on_set`` and anything changed.
        """
        checked = self.check_knobs(values)
        e_now = self._effective(self.t)
        changed = False
        for n, x in checked.items():
            j = self._names.index(n)
            if x == self._u[j]:
                continue
            changed = True
            self._u[j] = x
            h = self._h[j]
            new_play = min(max(self._play[j], x - h), x + h)  # play (backlash) operator
            self._e_from[j] = e_now[j]
            self._play[j] = new_play
            self._t_change[j] = self.t
        if changed and self.config.settle_on_set and self.config.settle_time_s > 0:
            self.advance(self.config.settle_time_s)
        return self.get_knobs()

    def _effective(self, t: float) -> np.ndarray:
        if self._tau <= 0:
            return self._play.copy()
        w = np.exp(-np.maximum(t - self._t_change, 0.0) / self._tau)
        return self._play + (self._e_from - self._play) * w

    # --- aberrations ---------------------------------------------------------------------------
    def true_aberration_dict(self) -> dict[str, float]:
        """True aberrations (m) now: knob-driven ones plus ``static_aberrations``."""
        a = self._offset + self._drift + self.M @ self._effective(self.t)
        out = dict(self.config.static_aberrations)
        out.update({n: float(v) for n, v in zip(self._ab_names, a)})
        return out

    def true_aberrations(self):
        """True aberrations now as a ``beamloop.sim.aberrations.Aberrations``."""
        from beamloop.sim.aberrations import Aberrations

        return Aberrations.from_dict(self.true_aberration_dict())

    def misalign(self, rng: np.random.Generator | int | None, windows: dict[str, float]) -> dict[str, float]:
        """Draw hidden offsets uniformly in ``[-w, w]`` (m) for each aberration in
        ``windows`` (others 0) and reset the accumulated drift: the start of a trial.
        Returns the offsets."""
        rng = np.random.default_rng(rng)
        unknown = [a for a in windows if a not in self._ab_names]
        if unknown:
            raise ValueError(f"misalign windows name aberrations this twin has no knob for: {unknown}; has {self._ab_names}")
        self._offset[:] = 0.0
        self._drift[:] = 0.0
        for a, w in windows.items():
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(f"misalign window for {a!r} must be a finite half-width >= 0 m, got {w!r}")
            self._offset[self._ab_names.index(a)] = rng.uniform(-w, w)
        return {a: float(v) for a, v in zip(self._ab_names, self._offset)}

    def aligned_knobs(self) -> dict[str, float]:
        """Knob values (m) that zero the knob-driven aberrations *now*, approached from
        the current state (hysteresis accounted for). Twin-only oracle for benchmarks;
        may lie outside the limits if the misalignment exceeds the knobs' range."""
        e = np.linalg.solve(self.M, -(self._offset + self._drift))
        u = np.where(e > self._play, e + self._h, np.where(e < self._play, e - self._h, self._u))
        return {n: float(v) for n, v in zip(self._names, u)}

    # --- clock -------------------------------------------------------------------------------------
    def advance(self, dt_s: float) -> None:
        """Advance the twin clock by ``dt_s`` seconds (drift accumulates, knobs settle)."""
        if not (math.isfinite(dt_s) and dt_s >= 0):
            raise ValueError(f"advance: dt_s must be a finite time >= 0 s, got {dt_s!r}")
        if self.config.drift and dt_s > 0:
            self._drift += self._drift_v * dt_s + self._drift_w * math.sqrt(dt_s) * self._rng_drift.standard_normal(
                len(self._drift)
            )
        self.t += dt_s

    @property
    def exposure_s(self) -> float:
        return 1.0 / self.config.frame_rate_hz

    # --- detector ------------------------------------------------------------------------------
    def expose(self) -> Exposure:
        """Book one exposure: record state at its start, advance the clock by one frame
        period. Cheap; :meth:`render` makes the image (so a server can render outside its lock)."""
        ex = Exposure(self._seq, self.t, self.exposure_s, self.get_knobs(), self.true_aberration_dict())
        self._seq += 1
        self.advance(self.exposure_s)
        return ex

    def _simulator(self):
        if self._sim is None:
            from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

            # a detector always delivers a frame: past the sampling limit the simulator warns
            # (aliased image) instead of raising, unless the config asks otherwise
            kw = {"on_undersampled": "warn", **self.config.ronchigram}
            self._sim = RonchigramSimulator(RonchigramConfig(**kw), seed=self.seed)
        return self._sim

    def prepare(self) -> None:
        """Build the Ronchigram simulator now (sample patch, grids) so the first frame is fast."""
        self._simulator()

    def render(self, exposure: Exposure) -> np.ndarray:
        """The detector image (counts) of an exposure: ``uint16`` or ``float32``."""
        from beamloop.sim.aberrations import Aberrations

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = self._simulator().simulate(
                Aberrations.from_dict(exposure.aberrations), rng=self._rng_noise, noise=self.config.noise
            )
        if caught:  # past the sampling limit: count it, warn once per twin (not once per frame)
            self.undersampled_frames += 1
            if self.undersampled_frames == 1:
                warnings.warn(f"{caught[0].message} (further such frames are counted in Microscope.undersampled_frames)",
                              stacklevel=2)
        img = np.asarray(img)
        if self.config.detector_dtype == "uint16":
            return np.clip(np.rint(img), 0, 65535).astype(np.uint16)
        return img.astype(np.float32, copy=False)

    def acquire(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Take one frame at the current state. Returns ``(image, info)`` with info keys
        ``seq``, ``t`` (twin clock at exposure start, s), ``exposure_s``, ``knobs`` (m) and
        ``aberrations`` (the true ones, m; the twin knows them)."""
        ex = self.expose()
        img = self.render(ex)
        return img, {"seq": ex.seq, "t": ex.t, "exposure_s": ex.exposure_s, "knobs": ex.knobs, "aberrations": ex.aberrations}

    def stream(self, n_frames: int):
        """Yield ``n_frames`` consecutive ``(image, info)`` at the frame rate (twin clock)."""
        for _ in range(int(n_frames)):
            yield self.acquire()
