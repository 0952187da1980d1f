"""`beamloop align --instrument PROFILE` as a session: the job on an adapter opened from a profile."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from beamloop.controller.run.instrument_session import run_instrument_session
from beamloop.controller.run.record import read_run
from beamloop.controller.run.session import AlignRequest, SessionError


def test_twin_profile_aligns_records_and_reports_the_oracle_residual(tmp_path):
    req = AlignRequest(policy="bo", axes=["C10", "C12.x"], max_frames=6, seed=2, out=tmp_path)
    said = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = asyncio.run(run_instrument_session(req, "twin", say=said.append))
    r = read_run(out.record)
    assert "twin" in r["instrument"]["name"] and r["instrument"]["rad_per_px"] > 0
    assert "misaligned_start" in list(r["events"]["kind"])
    assert out.residual is not None and {"C10", "C12.x"} <= set(out.residual)
    assert out.result.frames <= 6 and out.report is not None and out.report.exists()


def test_bad_profile_is_refused_before_anything_opens(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: twin\nbeam_energy_eV: 300\n")   # 300 eV: not in eV range 1e3..3e6 (and fields missing)
    req = AlignRequest(policy="bo", axes=["C10"], out=tmp_path / "runs")
    with pytest.raises(SessionError) as e:
        asyncio.run(run_instrument_session(req, bad))
    assert e.value.param == "--instrument"
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_instrument_and_microscope_together_are_refused(tmp_path):
    req = AlignRequest(policy="bo", axes=["C10"], out=tmp_path, microscope="tcp://127.0.0.1:5555")
    with pytest.raises(SessionError, match="not both"):
        asyncio.run(run_instrument_session(req, "twin"))


def test_cli_unknown_profile_is_a_usage_error_naming_the_option(tmp_path):
    from typer.testing import CliRunner

    from beamloop.tools.cli import app

    res = CliRunner().invoke(app, ["align", "--quiet", "--policy", "bo", "--axes", "C1", "--instrument", "no-such-scope",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "--instrument" in res.output and "no-such-scope" in res.output
