"""The scan interface of MicroscopeBackend on the in-process scanning twin (ScanTwinBackend)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from beamloop.controller.core.backend import (
    ConnectionLostError,
    KnobLimitError,
    ProbeLimitError,
    ScanNotSupportedError,
    UnknownKnobError,
)
from beamloop.controller.instruments.scan_twin import ScanTwinBackend
from beamloop.sim.scanning_sample import Precipitate, PrecipitateFilm
from beamloop.sim.scanning_twin import ScanConfig, ScanningTwin

CFG = ScanConfig(nx=20, ny=12)


@pytest.fixture(scope="module")
def twin():
    q = Precipitate(9e-9, 6e-9, 3.5e-9, 1.5e-9, depletion=0.8, charge_Vm=1e-7, order=0.0, z_ratio=2.0)
    return ScanningTwin(PrecipitateFilm(field_m=CFG.field_m, precipitates=(q,)), CFG, seed=0)


def run(coro):
    return asyncio.run(coro)


def test_scan_info_survey_and_point(twin):
    async def go():
        async with ScanTwinBackend(twin) as b:
            info = await b.scan_info()
            assert info.shape == (20, 12) and info.step_m == CFG.step_m
            assert info.detectors["DPC"] == 4 and info.detectors["HAADF"] == 1
            assert info.camera_shape == (96, 96) and info.camera_rad_per_px == pytest.approx(CFG.camera_rad_per_px)
            img = await b.survey("HAADF")
            assert img.shape == (20, 12)
            assert await b.move_probe(3e-9, 4e-9) == (3e-9, 4e-9)
            m = await b.measure_point(["DPC", "BF"], camera=True)
            assert set(m.sums) == {"DPC", "BF"} and m.frame.shape == (96, 96)
            assert m.position_m == (3e-9, 4e-9) and m.com_rad.shape == (2,)
            m2 = await b.measure_point()
            assert m2.frame is None and set(m2.sums) == set(info.detectors) and m2.t_acquired > m.t_acquired
            assert await b.get() == {"probe_x": 3e-9, "probe_y": 4e-9}
            fr = await b.acquire()
            assert fr.image.shape == (96, 96) and fr.state == {"probe_x": 3e-9, "probe_y": 4e-9}
            with pytest.raises(UnknownKnobError, match="'EELS'"):
                await b.measure_point(["EELS"])
            with pytest.raises(UnknownKnobError, match="'EELS'"):
                await b.survey("EELS")
        with pytest.raises(ConnectionLostError):
            await b.scan_info()
    run(go())


def test_probe_limits_refused_never_clipped(twin):
    async def go():
        b = ScanTwinBackend(twin)
        await b.move_probe(5e-9, 5e-9)
        fx, fy = CFG.field_m
        for x, y in ((fx + 1e-10, 0.0), (-1e-12, 1e-9), (0.0, fy * 1.01), (float("inf"), 0.0)):
            with pytest.raises(ProbeLimitError, match="outside the scan field"):
                await b.move_probe(x, y)
            assert await b.get() == {"probe_x": 5e-9, "probe_y": 5e-9}     # the probe did not move
        with pytest.raises(KnobLimitError, match="probe_y"):
            await b.set({"probe_x": 1e-9, "probe_y": 2 * fy})
        assert await b.get() == {"probe_x": 5e-9, "probe_y": 5e-9}         # all or nothing
        with pytest.raises(UnknownKnobError, match="C10"):
            await b.set({"C10": 0.0})
        assert await b.set({"probe_x": fx}) == {"probe_x": fx, "probe_y": 5e-9}
    run(go())


def test_backend_without_scan_says_so(fake_backend):
    async def go():
        for call in (fake_backend.scan_info(), fake_backend.move_probe(0.0, 0.0), fake_backend.survey(),
                     fake_backend.measure_point()):
            with pytest.raises(ScanNotSupportedError, match="no scan interface"):
                await call
    run(go())


def test_point_measurement_is_the_twins_physics(twin):
    """The backend's CoM at the charged shell is far above the bare matrix (noise included)."""
    async def go():
        b = ScanTwinBackend(twin, detectors=None)
        out = []
        for x in (1e-9, 13.5e-9):
            await b.move_probe(x, 6e-9)
            out.append(np.hypot(*(await b.measure_point([])).com_rad))
        return out
    matrix, shell = run(go())
    assert shell > 3 * matrix
