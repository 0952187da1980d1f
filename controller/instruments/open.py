"""Open the instrument a profile describes: ``open_instrument("usim")`` -> backend (+ bench oracle).

One place maps a profile's ``kind`` and ``connection`` to an adapter:

* ``twin``: the in-process twin (:class:`~.local_twin.LocalTwinBackend`) with the profile's
  knob limits, settle time and camera (size, pitch, gain);
* ``nion``: :class:`~.nion.NionInstrument` - ``connection.mode: usim`` starts headless
  nionswift-usim in this process; ``registry`` uses Swift's registered STEM controller and
  Ronchigram camera (inside Swift), falling back to usim when ``fallback_usim`` and none is
  registered;
* ``pyjem``: :class:`~.pyjem.PyJEMInstrument` on ``PyJEM.TEM3`` and ``PyJEM.detector``, or on
  the *stand-in* modules when ``connection.standin`` (CI; see :mod:`.pyjem_standin`);
* ``composite``: :class:`~.composite.CompositeInstrument` - detector from ``connection.detector``
  (another profile), lens/stigmator DACs from the serial board (:mod:`.board`) on the board's
  Python model.

The returned :class:`OpenedInstrument` carries an ``oracle`` when the instrument is a simulator
(the twin, usim, the PyJEM stand-in): ``true_aberrations()`` and ``misalign(offsets)`` for
benchmarks and tests only - no policy or adapter ever reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from beamloop.controller.core.backend import MicroscopeBackend
from beamloop.controller.instruments.profile import InstrumentProfile, load_profile


@dataclass
class OpenedInstrument:
    """An adapter ready to ``connect()``, its profile, an optional simulator oracle, and ``close``
    (releases what opening started: usim's threads, the board model ...)."""

    backend: MicroscopeBackend
    profile: InstrumentProfile
    oracle: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    note: str = ""

    def close(self) -> None:
        while self.closers:
            try:
                self.closers.pop()()
            except Exception:  # noqa: BLE001 - close everything we can
                pass


class TwinOracle:
    """The twin's truth for benches: aberrations and hidden offsets (m)."""

    def __init__(self, microscope):
        self.microscope = microscope

    def true_aberrations(self) -> dict[str, float]:
        return self.microscope.true_aberration_dict()

    def misalign(self, offsets: dict[str, float]) -> None:
        self.microscope.misalign(None, {})            # offsets and accumulated drift to 0
        for k, v in offsets.items():
            self.microscope._offset[self.microscope._ab_names.index(k)] = float(v)


def twin_from_profile(profile: InstrumentProfile, seed: int = 0, noise: bool = True, drift: bool = True):
    """A :class:`~beamloop.sim.microscope.Microscope` with the profile's knobs, limits and camera."""
    from beamloop.sim.microscope import Microscope, MicroscopeConfig

    cam = profile.camera
    if cam.size_px[0] != cam.size_px[1] or cam.axes != "xy" or cam.rotation_rad or cam.flip or cam.centre_px:
        raise ValueError(f"profile {profile.name!r}: the twin renders square, unrotated 'xy' cameras centred on the "
                         "axis; rotate/crop its frames outside (see tests) for other geometries")
    ronch = {"size_px": cam.size_px[0], "rad_per_px": cam.rad_per_px, "detector_gain": cam.counts_per_electron,
             "energy_eV": profile.beam_energy_eV, "convergence_semiangle_rad": profile.convergence_semiangle_rad,
             "max_oversample": 16, "on_undersampled": "warn", **profile.connection.get("ronchigram", {})}
    cfg = MicroscopeConfig(knobs=tuple(k.name for k in profile.knobs),
                           limits={k.name: (k.minimum, k.maximum) for k in profile.knobs},
                           settle_time_s=profile.settle_s, ronchigram=ronch, noise=noise, drift=drift)
    return Microscope(cfg, seed=seed)


def open_instrument(spec: str | Path | InstrumentProfile, *, seed: int = 0, noise: bool | None = None,
                    drift: bool = True) -> OpenedInstrument:
    """Build the adapter for ``spec`` (profile file, shipped name, or a profile). Validates the
    profile first (:class:`~.profile.ProfileError` naming the field), so nothing moves on a bad file.
    noise: override the simulator's noise (twin, usim, stand-in); None keeps the profile's."""
    profile = spec if isinstance(spec, InstrumentProfile) else load_profile(spec)
    conn = profile.connection
    if profile.kind == "twin":
        from beamloop.controller.instruments.local_twin import LocalTwinBackend

        m = twin_from_profile(profile, seed=seed, noise=True if noise is None else noise, drift=drift)
        return OpenedInstrument(LocalTwinBackend(m), profile, TwinOracle(m), note="in-process twin")
    if profile.kind == "nion":
        from beamloop.controller.instruments import nion

        mode = conn.get("mode", "usim")
        if mode == "registry":
            try:
                return OpenedInstrument(nion.from_registry(profile), profile, note="Nion Swift (registry)")
            except Exception as exc:  # noqa: BLE001 - nothing registered: maybe fall back
                if not conn.get("fallback_usim", False):
                    raise
                why = f"no Nion Swift instrument in this process ({exc}); using headless nionswift-usim"
        elif mode == "usim":
            why = "headless nionswift-usim"
        else:
            raise ValueError(f"profile {profile.name!r}: connection.mode must be 'usim' or 'registry', got {mode!r}")
        session = nion.UsimSession(noise=bool(conn.get("noise", True)) if noise is None else noise,
                                   sample_index=int(conn.get("sample_index", 0)))
        return OpenedInstrument(session.instrument(profile), profile, session, [session.close], note=why)
    if profile.kind == "pyjem":
        from beamloop.controller.instruments import pyjem

        return pyjem.open_pyjem(profile, seed=seed, noise=noise)
    if profile.kind == "composite":
        from beamloop.controller.instruments import composite

        return composite.open_composite(profile, seed=seed, noise=noise)
    raise ValueError(f"profile {profile.name!r}: unknown kind {profile.kind!r}")
