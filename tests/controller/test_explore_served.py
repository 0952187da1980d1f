"""The scan commands over ZeroMQ: a served scanning twin, the client's scan interface, typed
refusals, and `beamloop explore --microscope tcp://...` end to end."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from typer.testing import CliRunner

from beamloop.controller.core.backend import ProbeLimitError, ScanNotSupportedError, UnknownKnobError
from beamloop.controller.estimation.scalarizers import com_magnitude
from beamloop.controller.instruments.scan_twin import ScanTwinBackend
from beamloop.controller.instruments.zmq_client import ZmqScanBackend
from beamloop.controller.policies.explore import ExploreConfig
from beamloop.controller.protocol import messages as P
from beamloop.controller.protocol import scan as W
from beamloop.controller.run.explore_job import ExploreJobConfig, run_explore
from beamloop.controller.serve.instrument_server import InstrumentServer
from beamloop.sim.scanning_sample import Precipitate, PrecipitateFilm
from beamloop.sim.scanning_twin import ScanConfig, ScanningTwin

CFG = ScanConfig(nx=32, ny=32)
ANY = "tcp://127.0.0.1:0"


@pytest.fixture(scope="module")
def served():
    q = Precipitate(15e-9, 15e-9, 4e-9, 2e-9, depletion=0.9, charge_Vm=1e-7, order=0.0, z_ratio=2.0)
    twin = ScanningTwin(PrecipitateFilm(field_m=CFG.field_m, precipitates=(q,)), CFG, seed=0)
    srv = InstrumentServer(ScanTwinBackend(twin), ANY, ANY).start()
    yield srv, twin
    srv.stop()


def client(srv):
    return ZmqScanBackend(srv.control_addr, srv.data_addr, timeout_s=5.0, heartbeat_s=0.0)


def test_array_wire_roundtrip_and_refusals():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(W.decode_array(W.encode_array(a), "a"), a)
    b = W.decode_array(W.encode_array(np.arange(3)), "b")      # int64 is no wire dtype: sent as float64
    assert b.dtype == np.float64 and b.tolist() == [0.0, 1.0, 2.0]
    bad = W.encode_array(a)
    bad["data"] = bad["data"][:-1]
    with pytest.raises(P.ProtocolError, match="bytes"):
        W.decode_array(bad, "frame")
    with pytest.raises(P.ProtocolError, match="dtype"):
        W.decode_array({**W.encode_array(a), "dtype": "complex64"}, "frame")
    with pytest.raises(P.ProtocolError, match="'x_m'"):
        W.check_position({"x_m": "1", "y_m": 0.0})
    assert "measure_point" in P.COMMANDS and "move_probe" in P.WRITE_COMMANDS


def test_scan_commands_over_the_wire(served):
    srv, twin = served

    async def go():
        async with client(srv) as b:
            info = await b.scan_info()
            assert info.shape == (32, 32) and info.step_m == CFG.step_m and info.detectors["DPC"] == 4
            img = await b.survey("HAADF")
            assert img.shape == (32, 32) and img.dtype == np.float64 and img.sum() > 0
            assert await b.move_probe(19e-9, 15e-9) == (19e-9, 15e-9)
            m = await b.measure_point(["DPC", "HAADF"], camera=True)
            assert set(m.sums) == {"DPC", "HAADF"} and m.sums["DPC"].shape == (4,)
            assert m.frame.shape == (96, 96) and m.frame.dtype == np.float32
            assert m.position_m == (19e-9, 15e-9)
            # the served CoM is the twin's physics (noiseless value at the charged shell, within shot noise)
            from beamloop.sim.detectors import centre_of_mass

            fr, _ = twin.expected_frames(np.array([[19e-9, 15e-9]]))
            want = centre_of_mass(fr, rad_per_px=CFG.camera_rad_per_px)[0]
            assert np.linalg.norm(m.com_rad - want) < 0.25 * np.linalg.norm(want)
            await b.move_probe(1e-9, 1e-9)
            fx, fy = CFG.field_m
            with pytest.raises(ProbeLimitError, match="outside the scan field"):
                await b.move_probe(fx + 1e-9, 0.0)
            with pytest.raises(ProbeLimitError, match="not finite"):
                await b.move_probe(float("nan"), 0.0)
            assert await b.get(["probe_x", "probe_y"]) == {"probe_x": 1e-9, "probe_y": 1e-9}   # did not move
            with pytest.raises(UnknownKnobError, match="EELS"):
                await b.measure_point(["EELS"])
    asyncio.run(go())


def test_instrument_without_scan_says_not_supported(fake_backend):
    srv = InstrumentServer(fake_backend, ANY, ANY).start()
    try:
        async def go():
            async with client(srv) as b:
                with pytest.raises(ScanNotSupportedError, match="no scan interface"):
                    await b.scan_info()
                with pytest.raises(ScanNotSupportedError):
                    await b.move_probe(0.0, 0.0)
        asyncio.run(go())
    finally:
        srv.stop()


def test_explore_job_over_the_wire_matches_in_process(served):
    srv, twin = served
    cfg = ExploreJobConfig(budget=10, detectors=[], policy=ExploreConfig(strategy="random", seed=4))

    async def go():
        async with client(srv) as b:
            return await run_explore(b, com_magnitude, cfg, final_prediction=False)
    res = asyncio.run(go())
    assert len(res.indices) == 10 and res.survey.shape == (32, 32)
    ny = 32
    assert res.positions_m == [(i // ny * 1e-9, i % ny * 1e-9) for i in res.indices]


def test_cli_explore_against_a_served_twin(served, tmp_path):
    from beamloop.tools.cli import app

    srv, _ = served
    r = CliRunner().invoke(app, ["explore", "--microscope", srv.control_addr, "--data", srv.data_addr, "--budget", "12",
                                 "--strategy", "random", "-o", str(tmp_path), "--name", "served"])
    assert r.exit_code == 0, r.output
    assert "12 measurements" in r.output and (tmp_path / "served.nxs").exists()
    r = CliRunner().invoke(app, ["explore", "--microscope", "tcp://127.0.0.1:1", "--budget", "3", "--timeout", "0.3",
                                 "-o", str(tmp_path), "--name", "dead"])
    assert r.exit_code == 2 and "ConnectionLostError" in r.output
