"""STAND-IN for JEOL's PyJEM - NOT PyJEM, NOT a JEOL product, NOT a model of any JEOL column.

PyJEM is not on PyPI, so CI cannot import it. This module mimics the *published API* of the
parts beamloop's adapter uses (PyJEM manual 1.3.5, "PyJEM.TEM3 module" and
"PyJEM.detector.function"), with the same class names, method names and argument shapes:

* ``TEM3.connect() -> bool``, ``TEM3.isconnect() -> bool``;
* ``TEM3.Lens3().GetOLf() -> int`` / ``SetOLf(int)``, ``GetOLc()`` / ``SetOLc(int)`` (objective
  fine / coarse, DAC counts 0-65535);
* ``TEM3.Def3().GetOLs() -> [x, y]`` / ``SetOLs(x, y)`` (objective stigmator),
  ``GetCLA2()`` / ``SetCLA2(x, y)`` (beam tilt), ``GetCLs()`` / ``SetCLs(x, y)`` (condenser stigmator);
* ``detector.get_attached_detector() -> list``, ``detector.Detector(name)`` with
  ``livestart()``, ``livestop()``, ``get_detectorsetting() -> dict`` and ``snapshot_rawdata() -> bytes``.

Behind it is beamloop's twin, driven through a *hidden* DAC model (:class:`StandinColumn`): each
DAC moves aberrations by an unknown number of metres per count with cross-talk, as a real
column's does - which is what :mod:`.calibration` must measure. The adapter
(:mod:`.pyjem`) imports these modules exactly as it would import ``PyJEM.TEM3`` and
``PyJEM.detector`` (``connection.standin: true`` in the profile); on a JEOL PC it imports the real
ones and nothing else changes. The raw frame format of ``snapshot_rawdata`` (little-endian
uint16, shape from the profile) is this stand-in's choice; check it on the instrument.
"""

from __future__ import annotations

import types

import numpy as np

NEUTRAL = 32768

# Hidden truth of the stand-in column: aberration metres per DAC count from neutral.
# (nominal-looking but deliberately not round: the profile's starting guess is 1 nm/count)
DEFAULT_RESPONSE: dict[str, dict[str, float]] = {
    "OLf": {"C10": 1.18e-9},
    "OLc": {"C10": 3.1e-7},
    "OLs.x": {"C12.x": 0.93e-9, "C12.y": 0.12e-9},      # stigmator axes ~7 deg from the camera's
    "OLs.y": {"C12.x": -0.12e-9, "C12.y": 0.93e-9},
    "CLA2.x": {"C21.x": 21e-9, "C10": 0.15e-9},          # beam tilt -> coma, a little defocus
    "CLA2.y": {"C21.y": 21e-9, "C12.x": 0.1e-9},
}


class StandinColumn:
    """The hidden column: DAC registers -> twin aberrations (SI) -> Ronchigram frames."""

    def __init__(self, seed: int = 0, noise: bool = True, response: dict | None = None, size_px: int = 128):
        from beamloop.sim.microscope import Microscope, MicroscopeConfig

        self.response = response or DEFAULT_RESPONSE
        self.dac = {"OLf": NEUTRAL, "OLc": NEUTRAL, "OLs": [NEUTRAL, NEUTRAL], "CLA2": [NEUTRAL, NEUTRAL],
                    "CLs": [NEUTRAL, NEUTRAL]}
        wide = {"C10": (-1e-4, 1e-4), "C12.x": (-1e-4, 1e-4), "C12.y": (-1e-4, 1e-4),
                "C21.x": (-1e-3, 1e-3), "C21.y": (-1e-3, 1e-3)}
        ident = {a: {a: 1.0} for a in wide}
        self.microscope = Microscope(MicroscopeConfig(limits=wide, calibration=ident, hysteresis_fraction=0.0,
                                                      drift=False, noise=noise, settle_time_s=0.0,
                                                      ronchigram={"size_px": size_px, "max_oversample": 16,
                                                                  "on_undersampled": "warn"}), seed=seed)
        self.connected = True
        self._apply()

    def _counts(self) -> dict[str, int]:
        return {"OLf": self.dac["OLf"], "OLc": self.dac["OLc"], "OLs.x": self.dac["OLs"][0], "OLs.y": self.dac["OLs"][1],
                "CLA2.x": self.dac["CLA2"][0], "CLA2.y": self.dac["CLA2"][1]}

    def _apply(self) -> None:
        ab = {a: 0.0 for a in self.microscope.knob_specs()}
        for ch, counts in self._counts().items():
            for a, g in self.response.get(ch, {}).items():
                ab[a] += g * (counts - NEUTRAL)
        self.microscope.set_knobs(ab)

    @staticmethod
    def _check(value) -> int:
        if not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= 65535:
            raise ValueError(f"DAC value must be an int in 0-65535, got {value!r}")
        return int(value)

    def set1(self, name: str, value) -> None:
        self.dac[name] = self._check(value)
        self._apply()

    def set2(self, name: str, x, y) -> None:
        self.dac[name] = [self._check(x), self._check(y)]
        self._apply()


def make_modules(column: StandinColumn) -> tuple[types.ModuleType, types.ModuleType]:
    """``(TEM3, detector)`` stand-in modules bound to ``column``."""
    tem3 = types.ModuleType("beamloop_pyjem_standin.TEM3", "STAND-IN for PyJEM.TEM3 (not JEOL's)")
    det = types.ModuleType("beamloop_pyjem_standin.detector", "STAND-IN for PyJEM.detector (not JEOL's)")

    class Lens3:
        def GetOLf(self) -> int:
            return column.dac["OLf"]

        def SetOLf(self, value: int) -> None:
            column.set1("OLf", value)

        def GetOLc(self) -> int:
            return column.dac["OLc"]

        def SetOLc(self, value: int) -> None:
            column.set1("OLc", value)

    class Def3:
        def GetOLs(self) -> list:
            return list(column.dac["OLs"])

        def SetOLs(self, x: int, y: int) -> None:
            column.set2("OLs", x, y)

        def GetCLA2(self) -> list:
            return list(column.dac["CLA2"])

        def SetCLA2(self, x: int, y: int) -> None:
            column.set2("CLA2", x, y)

        def GetCLs(self) -> list:
            return list(column.dac["CLs"])

        def SetCLs(self, x: int, y: int) -> None:
            column.set2("CLs", x, y)

    tem3.Lens3, tem3.Def3 = Lens3, Def3
    tem3.connect = lambda: column.connected
    tem3.isconnect = lambda: column.connected

    class Detector:
        def __init__(self, det: str):
            if det not in ("CAMERA",):
                raise ValueError(f"stand-in has no detector {det!r}; attached: ['CAMERA']")
            self.det = det

        def livestart(self) -> dict:
            return {"status": "OK"}

        def livestop(self) -> dict:
            return {"status": "OK"}

        def get_detectorsetting(self) -> dict:
            n = column.microscope.config.ronchigram.get("size_px", 128)
            return {"ImageSize": n, "ExposureTimeValue": 20, "BinningIndex": 0, "stand_in": True}

        def snapshot_rawdata(self) -> bytes:
            img, _ = column.microscope.acquire()
            return np.ascontiguousarray(img, dtype="<u2").tobytes()

    det.Detector = Detector
    det.get_attached_detector = lambda: ["CAMERA"]
    return tem3, det
