"""Measure how the knobs drive the aberrations (the corrector's response matrix), with the network.

A real column's knobs are not the aberrations: each has a scale error and drives others a little
(a coma / beam-tilt knob of a few um typically moves defocus and two-fold astigmatism by tens of
nm). Correcting with the identity then converges slowly: every coma correction re-misaligns C1
and A1. Autotuners therefore measure the response once per instrument/session and correct with
its inverse. This module does that with the alignment network as the sensor:

for each knob ``k``: set ``u0 + s_k e_k`` and ``u0 - s_k e_k`` (``repeats`` times, alternating
the order so the knobs' play cancels), take a Ronchigram pair (``C10 -/+ delta``) at each, and
take ``G[:, k] = (estimate(+) - estimate(-)) / (2 s_k)``. A constant misalignment cancels in the
difference. The knobs are put back to ``u0`` at the end (also on error). An off-diagonal gain
that is not significant (``|g| < significance x`` its standard error over the repeats) is set
to 0, and so is every gain of a knob into an aberration of *higher* radial order than the one it
drives (a stigmator into coma): physically these are tiny (a 150 nm stigmator step moves B2 by a
few nm, far below the network's B2 noise), while what the network reports there is its own
confusion between terms (measured: an apparent 3 um/um of A1 into B2), which would make every A1
correction swing the coma knobs. The coma knobs' leak into C1 and A1 (tens of nm per um, what
slows an uncalibrated loop) is kept.

Units: knob values and steps in metres; ``G`` is dimensionless (aberration metres per knob
metre). The result is ``{aberration: {knob: gain}}``, the format of
``beamloop.sim.microscope.Microscope.calibration()`` and of ``NNPolicyConfig.calibration``
(by default with the diagonal kept at its nominal 1, see :func:`measure_response`);
JSON-able (``save`` / ``load``).

Reuse: a saved calibration carries what it is valid for - the instrument (profile name), the
knobs it covers with the aberration each drives, the date (UTC) and the method - and
:meth:`ResponseCalibration.check_for` refuses it (:class:`CalibrationMismatchError`, naming the
problem) on another instrument or another set of knobs. An instrument profile names a saved
file (``response_calibration: FILE``) to skip the measurement: 0 frames per session.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from beamloop.controller.core.backend import MicroscopeBackend

# Knob steps (m) per aberration the knob nominally drives: large enough that the network's
# error (~10-25 nm for C1/A1, a few hundred nm for B2) is small against 2 x step, inside its range.
DEFAULT_STEPS: dict[str, float] = {"C10": 150e-9, "C12.x": 150e-9, "C12.y": 150e-9, "C21.x": 2e-6, "C21.y": 2e-6}


UNITS = "gain: aberration metres per knob metre; steps_m, play_m: metres"


class CalibrationMismatchError(ValueError):
    """A saved response calibration does not belong to this instrument or these knobs (the
    message names the file, what it was measured for and what it is offered to)."""


@dataclass
class ResponseCalibration:
    """Measured response: ``gain[aberration][knob]`` (dimensionless), the frames it took, and
    the standard error of each gain from the repeats (NaN with one repeat).

    Provenance (what :meth:`check_for` compares): ``instrument`` (the profile name it was measured
    on), ``knobs`` (``{knob: aberration it drives}``, every calibratable knob of that instrument),
    ``measured_at`` (UTC, ISO 8601), ``method`` (``"full"``, ``"short"``, ``"quick"``) and
    ``approach`` (the from-below waypoint fraction the frames were taken with, None: none)."""

    gain: dict[str, dict[str, float]]
    stderr: dict[str, dict[str, float]] = field(default_factory=dict)
    frames: int = 0
    steps_m: dict[str, float] = field(default_factory=dict)
    measured_diagonal: dict[str, float] = field(default_factory=dict)
    diagonal: str = "measured"
    play_m: dict[str, float] = field(default_factory=dict)  # measured hysteresis play (backlash) per knob, m
    instrument: str | None = None
    knobs: dict[str, str] = field(default_factory=dict)
    measured_at: str | None = None
    method: str = "full"
    approach: float | None = None
    source: str = ""  # the file it was loaded from (for messages), not saved

    def to_json(self) -> str:
        return json.dumps({"instrument": self.instrument, "knobs": self.knobs, "measured_at": self.measured_at,
                           "method": self.method, "approach": self.approach, "frames": self.frames,
                           "units": UNITS, "gain": self.gain, "stderr": self.stderr, "steps_m": self.steps_m,
                           "measured_diagonal": self.measured_diagonal, "diagonal": self.diagonal,
                           "play_m": self.play_m}, indent=2)

    def check_for(self, instrument: str | None, knobs: dict) -> None:
        """Refuse (:class:`CalibrationMismatchError`) to use this calibration on ``instrument``
        (a profile name; None: not known, only the knobs are compared) with ``knobs``
        (``{name: KnobInfo}`` or ``{name: aberration}``): another instrument, a file that names
        none, another set of calibratable knobs, or a knob that drives another aberration."""
        where = f"response calibration {self.source or '(unsaved)'}"
        if instrument is not None and self.instrument is None:
            raise CalibrationMismatchError(f"{where} names no instrument (an old or hand-written file); measure it "
                                           f"again on {instrument!r} (it is saved with the instrument's name)")
        if instrument is not None and self.instrument != instrument:
            raise CalibrationMismatchError(f"{where} was measured on instrument {self.instrument!r} "
                                           f"({self.measured_at or 'date unknown'}), this is {instrument!r}")
        here = calibratable_knobs(knobs)
        if not self.knobs:
            raise CalibrationMismatchError(f"{where} lists no knobs (an old or hand-written file); measure it again")
        missing, extra = sorted(set(here) - set(self.knobs)), sorted(set(self.knobs) - set(here))
        if missing or extra:
            raise CalibrationMismatchError(f"{where} covers knobs {sorted(self.knobs)}, the instrument has "
                                           f"{sorted(here)} (not calibrated: {missing}, not on the instrument: {extra})")
        moved = [f"{k} drives {self.knobs[k]} in the file, {here[k]} here" for k in here if here[k] != self.knobs[k]]
        if moved:
            raise CalibrationMismatchError(f"{where}: " + "; ".join(moved))

    def policy_options(self) -> dict[str, dict[str, float] | dict[str, dict[str, float]]]:
        """The nn policy's options from this calibration, ``{"calibration": gain, "play": play_m}``.

        Stored under an instrument profile's ``alignment: {nn: ...}`` map they make the
        calibration reusable with 0 frames per session (the instrument bench and
        ``policy_options_for`` merge that map into the nn options and skip the measurement)."""
        return {"calibration": {a: dict(r) for a, r in self.gain.items()}, "play": dict(self.play_m)}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ResponseCalibration":
        """Read a saved calibration (``ValueError`` if it is not one; provenance is checked by :meth:`check_for`)."""
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a response calibration (not JSON: {exc})") from None
        if not isinstance(d, dict) or "gain" not in d or not isinstance(d["gain"], dict):
            raise ValueError(f"{path}: not a response calibration (no 'gain' table)")
        gain = {a: {k: float(v) for k, v in row.items()} for a, row in d["gain"].items()}
        for a, row in gain.items():
            if not all(np.isfinite(v) for v in row.values()):
                raise ValueError(f"{path}: gain row {a!r} has non-finite values")
        approach = d.get("approach")
        return cls(gain=gain, stderr=d.get("stderr", {}), frames=int(d.get("frames", 0)), steps_m=d.get("steps_m", {}),
                   measured_diagonal=d.get("measured_diagonal", {}), diagonal=d.get("diagonal", "measured"),
                   play_m={k: float(v) for k, v in d.get("play_m", {}).items()},
                   instrument=d.get("instrument"), knobs={k: str(v) for k, v in (d.get("knobs") or {}).items()},
                   measured_at=d.get("measured_at"), method=str(d.get("method", "full")),
                   approach=None if approach is None else float(approach), source=str(path))


def calibratable_knobs(knobs: dict) -> dict[str, str]:
    """``{knob: aberration}`` of the knobs a response calibration covers (those of an aberration
    with a default step, :data:`DEFAULT_STEPS`); ``knobs``: ``{name: KnobInfo}`` or ``{name: aberration}``."""
    out = {}
    for k, v in knobs.items():
        a = v if isinstance(v, str) or v is None else v.aberration
        a = a or k
        if a in DEFAULT_STEPS:
            out[k] = a
    return out


async def measure_response(backend: MicroscopeBackend, estimator, knobs: list[str] | None = None,
                           steps: dict[str, float] | None = None, repeats: int = 3,
                           significance: float = 3.0, diagonal: str = "nominal",
                           play_repeats: int = 6, play_knobs: list[str] | None = None,
                           play_joint: bool = False, approach: float | None = None,
                           instrument: str | None = None, method: str = "full") -> ResponseCalibration:
    """Measure ``G`` for ``knobs`` around the current setting (see the module docstring).

    ``knobs``: default every knob of the instrument whose aberration has a default step
    (:data:`DEFAULT_STEPS`: focus, stigmators, coma).

    ``estimator``: :class:`beamloop.controller.estimation.inference.Estimator` (``predict``, ``axes``,
    ``delta_c10``); the focus knob (aberration C10) must be among the instrument's knobs.
    Refuses (``ValueError``) steps that would leave a knob's limits; nothing is moved then.
    ``diagonal``: ``"nominal"`` keeps each knob's gain on its own aberration at 1 (the knobs are
    scaled to their aberration by the instrument's own calibration; the network's estimates at
    +-2 um of coma are shrunk by up to 40 % - regression to the mean - which as a gain would make
    every coma correction overshoot) and measures only the cross-talk; ``"measured"`` uses the
    measured diagonal too. The measured diagonal is always reported in ``measured_diagonal``.

    Play (backlash): for the knobs of first-order aberrations (focus, stigmators: the ones whose
    play matters against a 20 nm tolerance), ``play_repeats`` times each, the setting ``u0`` is
    approached once from below (via ``u0 - s``) and once from above (via ``u0 + s``) and a pair
    taken there; a play of half-width ``h`` shifts the aberration by ``2 h`` between the two for a
    stigmator and by ``h`` for the focus knob (its own pair's first move re-engages the play from
    above). ``play_m[k] = max(0, difference / factor)``; the nn policy compensates it
    (:class:`~beamloop.controller.policies.nn.NNPolicyConfig` ``play``). ``play_repeats=0`` skips it.
    ``play_knobs``: the knobs whose play is measured (default: the first-order ones among ``knobs``;
    they need not be among ``knobs``). ``play_joint``: approach with all play knobs at once (one
    pair per side and repeat measures every knob's play: ``4 x play_repeats`` frames in all).

    ``instrument``, ``method``: provenance saved with the result (the profile name; how it was measured).

    ``approach``: if given (a fraction of each knob's full range), every knob that moves down
    (and every knob on its first move) first goes to a waypoint that far below its target, so
    every frame is taken with the play on the same side and a coma step reads ``2 s`` exactly,
    not ``2 s - 2 h`` (the nn policy's ``approach_from_below``). Not with a play measurement,
    which needs both approach sides.

    Knobs of the instrument that are not measured keep their nominal column (1 on their own
    aberration, 0 elsewhere) in ``gain``, so the table always covers every calibratable knob.
    Frames: ``4 x repeats x len(knobs) + 4 x play_repeats x len(play_knobs)`` (``x 1`` instead of
    ``x len(play_knobs)`` with ``play_joint``).
    """
    if diagonal not in ("nominal", "measured"):
        raise ValueError(f"diagonal must be 'nominal' or 'measured', got {diagonal!r}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if approach is not None:
        if not (np.isfinite(approach) and 0 < approach < 0.5):
            raise ValueError(f"approach: a fraction of the knob range in (0, 0.5) or None, got {approach!r}")
        if play_repeats:
            raise ValueError("approach: the play measurement approaches from both sides; give play_repeats=0")
    info = await backend.knobs()
    if knobs is None:
        knobs = [k for k, i in info.items() if (i.aberration or k) in DEFAULT_STEPS]
    unknown = [k for k in knobs if k not in info]
    if unknown:
        raise ValueError(f"unknown knob(s) {unknown}; the instrument has {sorted(info)}")
    focus = [k for k, i in info.items() if i.aberration == "C10"]
    if not focus:
        raise ValueError("the response calibration needs a focus knob (aberration C10) for its defocus pairs")
    focus_knob = focus[0]
    delta = float(estimator.delta_c10)
    axes = list(estimator.axes)
    if play_knobs is None:
        play_knobs = [k for k in knobs if _order(info[k].aberration or k) == 1 and (info[k].aberration or k) in axes]
    bad = [k for k in play_knobs if k not in info or (info[k].aberration or k) not in axes]
    if bad:
        raise ValueError(f"play_knobs: {bad} are not knobs of an aberration the estimator reads ({axes})")
    moved = list(dict.fromkeys(list(knobs) + list(play_knobs)))
    u0 = await backend.get(list(set(moved) | {focus_knob}))
    st = {k: float((steps or {}).get(k, DEFAULT_STEPS.get(info[k].aberration or k, np.nan))) for k in moved}
    bad = [k for k, s in st.items() if not (np.isfinite(s) and s > 0)]
    if bad:
        raise ValueError(f"no calibration step for knob(s) {bad}; give steps={{knob: metres}}")
    for k in moved:  # every setting the procedure will visit must lie inside the limits
        lo, hi = info[k].minimum, info[k].maximum
        extra = delta if k == focus_knob else 0.0
        if not (lo <= u0[k] - st[k] - extra and u0[k] + st[k] + extra <= hi):
            raise ValueError(f"knob {k!r}: {u0[k]:.3g} +- {st[k]:.3g} m (+- the pair) leaves its limits [{lo}, {hi}] m")

    frames = 0
    commanded: dict[str, float] = {}  # last command per knob (empty: every knob's first move approaches)

    async def goto(setting: dict[str, float]) -> None:
        if approach is not None:
            way = {k: max(v - approach * (info[k].maximum - info[k].minimum), info[k].minimum)
                   for k, v in setting.items() if v < commanded.get(k, np.inf)}
            if way:
                await backend.set(way)
        await backend.set(setting)
        commanded.update(setting)

    async def pair_estimate(setting: dict[str, float]) -> np.ndarray:
        nonlocal frames
        imgs = []
        for sign in (-1, 1):
            await goto({**setting, focus_knob: setting[focus_knob] + sign * delta})
            imgs.append(np.asarray((await backend.acquire()).image, dtype=np.float64))
            frames += 1
        mean, _ = estimator.predict(np.stack(imgs)[None])
        return mean[0]

    cols: dict[str, list[np.ndarray]] = {k: [] for k in knobs}
    play_diff: dict[str, list[float]] = {k: [] for k in play_knobs}
    try:
        for r in range(repeats):
            for k in knobs:
                est = {}
                for sign in ((1, -1) if r % 2 == 0 else (-1, 1)):
                    est[sign] = await pair_estimate({**u0, k: u0[k] + sign * st[k]})
                cols[k].append((est[1] - est[-1]) / (2 * st[k]))
        for r in range(play_repeats if play_joint else 0):
            # all play knobs at once: each knob's play state is its own, and the estimator reads
            # every aberration separately, so one pair per side measures them all
            est = {}
            for sign in ((1, -1) if r % 2 == 0 else (-1, 1)):
                await backend.set({k: u0[k] + sign * st[k] for k in play_knobs})
                est[sign] = await pair_estimate(dict(u0))
            for k in play_knobs:
                i = axes.index(info[k].aberration or k)
                play_diff[k].append(float(est[1][i] - est[-1][i]))
        for r in range(0 if play_joint else play_repeats):
            for k in play_knobs:
                i = axes.index(info[k].aberration or k)
                est = {}
                for sign in ((1, -1) if r % 2 == 0 else (-1, 1)):
                    await backend.set({k: u0[k] + sign * st[k]})  # approach u0 from above (+1) / below (-1)
                    est[sign] = await pair_estimate(dict(u0))
                play_diff[k].append(float(est[1][i] - est[-1][i]))
    finally:
        await goto(u0)
    play = {k: max(0.0, float(np.mean(v)) / (1.0 if k == focus_knob else 2.0)) for k, v in play_diff.items() if v}
    # standard errors: the estimator's noise on aberration a is one number for all knobs, so pool
    # it over every column's repeats (sample gain x 2 s_k = a difference of two estimates)
    gain, stderr, measured_diag = {}, {}, {}
    for i, a in enumerate(axes):
        diffs = [(np.array([c[i] for c in cols[k]]) - np.mean([c[i] for c in cols[k]])) * 2 * st[k] for k in knobs]
        if not knobs:
            diffs = []
        dof = len(knobs) * (repeats - 1)
        sd_diff = float(np.sqrt(sum(float((d**2).sum()) for d in diffs) / dof)) if dof > 0 else float("nan")
        gain[a], stderr[a] = {}, {}
        for k in knobs:
            g = float(np.mean([c[i] for c in cols[k]]))
            se = sd_diff / (2 * st[k]) / np.sqrt(repeats)
            drives = info[k].aberration or k
            if drives != a and (_order(a) >= _order(drives) or (dof > 0 and abs(g) < significance * se)):
                g = 0.0  # not physical / not resolved: no cross-talk assumed
            if drives == a:
                measured_diag[k] = g
                if diagonal == "nominal":
                    g = 1.0
            gain[a][k], stderr[a][k] = g, se
        for k, i_k in info.items():  # unmeasured calibratable knobs: nominal column
            if k not in knobs and (i_k.aberration or k) in DEFAULT_STEPS:
                gain[a][k] = 1.0 if (i_k.aberration or k) == a else 0.0
                stderr[a][k] = float("nan")
    return ResponseCalibration(gain=gain, stderr=stderr, frames=frames, steps_m=st, measured_diagonal=measured_diag,
                               diagonal=diagonal, play_m=play, instrument=instrument, knobs=calibratable_knobs(info),
                               measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), method=method,
                               approach=approach)


async def quick_response(backend: MicroscopeBackend, estimator, significance: float = 3.0,
                         instrument: str | None = None) -> ResponseCalibration:
    """The response calibration in 20 frames (5-knob corrector) instead of 132.

    Only what the nn policy uses is measured: the cross-talk of the higher-order knobs (coma)
    into the lower-order terms, one +-step repeat each (2 knobs x 2 pairs = 8 frames: at the
    2 um step the network's ~20 nm error on C1/A1 gives a gain error of ~0.7 %, against gains
    of 1-6 %), and the play of the first-order knobs, all three approached together from above
    and from below, three times (3 x 2 pairs = 12 frames; one pair reads all three aberrations). Not measured, because the full calibration sets them to
    their nominal value anyway: the diagonal (kept at 1, ``diagonal="nominal"``), the
    stigmator/focus cross-talk among themselves (3 % of a 150 nm step is below the network's
    noise, so the significance test zeroed it in every full calibration) and every gain into a
    higher-order term (unphysical, always zeroed). See docs/alignment.md, "Calibration".
    """
    info = await backend.knobs()
    knobs = [k for k, i in info.items() if (i.aberration or k) in DEFAULT_STEPS and _order(i.aberration or k) >= 2]
    play = [k for k, i in info.items() if (i.aberration or k) in DEFAULT_STEPS and _order(i.aberration or k) == 1
            and (i.aberration or k) in list(estimator.axes)]
    return await measure_response(backend, estimator, knobs=knobs, repeats=1, significance=significance,
                                  play_repeats=3, play_knobs=play, play_joint=True, instrument=instrument,
                                  method="quick")


SHORT_APPROACH = 0.01  # the nn policy's default approach_from_below (fraction of each knob's range)


async def short_response(backend: MicroscopeBackend, estimator, repeats: int = 2, significance: float = 3.0,
                         approach: float = SHORT_APPROACH, instrument: str | None = None) -> ResponseCalibration:
    """The response calibration in ``8 x repeats`` frames (16 by default, 5-knob corrector) instead of 132.

    For the nn policy with ``approach_from_below`` (its default): it reaches every frame and its
    result from below, so the knobs' play is a constant offset its pair estimates absorb and
    need not be measured (the full calibration spends 72 of its 132 frames on it). What remains
    is what the policy uses of the matrix: the coma knobs' leak into C1/A1 (gains of a few %,
    ``repeats`` +-2 um pairs per coma knob, each frame approached from below). Not measured
    because the full calibration sets them to their nominal value anyway: the diagonal (kept at
    1), the focus/stigmator cross-talk among themselves (below the network's noise at 150 nm:
    zeroed by the significance test in every full calibration) and gains into higher-order terms
    (unphysical, always zeroed). Unmeasured knobs keep their nominal column. docs/models.md,
    "Calibration".
    """
    info = await backend.knobs()
    knobs = [k for k, i in info.items() if (i.aberration or k) in DEFAULT_STEPS and _order(i.aberration or k) >= 2]
    return await measure_response(backend, estimator, knobs=knobs, repeats=repeats, significance=significance,
                                  play_repeats=0, approach=approach, instrument=instrument, method="short")


def _order(aberration: str) -> int:
    """Radial order n of a Krivanek coefficient name ``Cnm[.x|.y]`` (C10 -> 1, C21.x -> 2)."""
    try:
        return int(aberration[1])
    except (IndexError, ValueError):
        return 99


def response_matrix(calibration: dict[str, dict[str, float]] | None, aberrations: list[str], knobs: list[str]) -> np.ndarray:
    """The square block ``G[aberration_i, knob_j]`` for these aberrations and knobs; identity
    where ``calibration`` is None. Raises ``ValueError`` if the block is missing or singular."""
    n = len(knobs)
    if calibration is None:
        return np.eye(n)
    G = np.zeros((len(aberrations), n))
    for i, a in enumerate(aberrations):
        row = calibration.get(a)
        if row is None:
            raise ValueError(f"calibration has no row for aberration {a!r}; it has {sorted(calibration)}")
        for j, k in enumerate(knobs):
            if k not in row:
                raise ValueError(f"calibration row {a!r} has no gain for knob {k!r}")
            G[i, j] = row[k]
    if not np.all(np.isfinite(G)) or np.linalg.cond(G) > 1e3:
        raise ValueError(f"calibration block for {knobs} is singular or ill-conditioned (cond {np.linalg.cond(G):.3g})")
    return G
