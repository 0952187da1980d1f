"""Units people type (sim/units.py) and the `sim` commands that take them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from beamloop.sim.units import (UnitError, format_angle, format_length, parse_aberrations, parse_angle,
                                parse_energy, parse_length)
from beamloop.tools.cli import app

runner = CliRunner()


def test_parse_and_format():
    assert parse_length("50nm") == 50e-9 and parse_length("2um") == 2e-6 and parse_length("2 µm") == 2e-6
    assert parse_length("1.5e-9") == 1.5e-9 and parse_length("3A") == pytest.approx(3e-10)
    assert parse_angle("30mrad") == 0.03 and parse_angle("0.03") == 0.03
    assert parse_angle("1deg") == pytest.approx(math.pi / 180)
    assert parse_energy("300kV") == 300e3 and parse_energy("200 keV") == 200e3
    assert parse_aberrations(["C10=50nm", "A1x=20nm", "B2.y=1um", "Cs=1mm"]) == {
        "C10": 50e-9, "C12.x": 20e-9, "C21.y": 1e-6, "C30": 1e-3}
    with pytest.raises(UnitError, match="nn"):
        parse_length("50nn")
    with pytest.raises(UnitError, match="twice"):
        parse_aberrations(["C1=1nm", "C10=2nm"])
    with pytest.raises(KeyError, match="Q7"):
        parse_aberrations(["Q7=1nm"])
    assert format_length(5e-8) == "50.0 nm" and format_length(2.1e-6) == "2.10 um"
    assert format_length(float("nan")) == "-" and format_angle(0.0301) == "30.1 mrad"


def test_sim_metrics_table_reports_cap_and_aperture_limit():
    res = runner.invoke(app, ["sim", "metrics"])
    assert res.exit_code == 0, res.output
    assert "search cap" in res.output and "convergence aperture" in res.output
    res = runner.invoke(app, ["sim", "metrics", "--json", "--alpha", "30mrad"])
    m = json.loads(res.output)
    assert m["pi4_aperture_capped"] is True
    # 30 mrad at 300 kV limits the aligned probe to 0.61 lambda / alpha = 0.40 A, not 0.12 A
    assert m["rayleigh_resolution_angstrom"] == pytest.approx(0.400, abs=0.002)
    res = runner.invoke(app, ["sim", "metrics", "C10=50nm", "--json"])
    m = json.loads(res.output)
    assert not m["pi4_aperture_capped"] and m["rayleigh_limited_by"].startswith("aberrations")


def test_sim_ronchigram_units_scale_and_no_negative_counts(tmp_path):
    out = tmp_path / "r.npy"
    res = runner.invoke(app, ["sim", "ronchigram", "C10=50nm", "A1x=10nm", "--alpha", "30mrad", "--size", "64",
                              "--dose", "1e3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "mrad per pixel" in res.output
    img = np.load(out)
    assert img.min() >= 0 and img.dtype == np.float32
    png = tmp_path / "r.png"
    res = runner.invoke(app, ["sim", "ronchigram", "C10=50nm", "--size", "64", "-o", str(png)])
    assert res.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"
