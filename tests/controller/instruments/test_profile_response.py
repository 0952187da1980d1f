"""The nn knob-response calibration named by an instrument profile: reused with 0 frames,
refused (naming the problem) when it belongs to another instrument or other knobs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from beamloop.controller.estimation.knob_calibration import CalibrationMismatchError, ResponseCalibration
from beamloop.controller.instruments.calibration import profile_response
from beamloop.controller.instruments.profile import PROFILE_DIR, load_profile
from beamloop.controller.run.instrument_options import policy_options_for


def test_shipped_twin_profile_names_its_measured_response():
    profile = load_profile("twin")
    cal = profile_response(profile)
    assert cal is not None and cal.instrument == "twin" and cal.method == "short" and cal.frames <= 20
    assert set(cal.knobs) == {k.name for k in profile.knobs}
    opts = policy_options_for(profile, "nn", ["C10", "C12.x", "C12.y", "C21.x", "C21.y"])
    assert opts["calibration"] == cal.gain  # the policy gets it: no frames spent this session
    assert abs(opts["calibration"]["C12.x"]["C21.x"]) > 0.01  # the coma leak the twin has (~5 %)
    assert "calibration" not in policy_options_for(profile, "bo", ["C10", "C12.x"])


def _profile_file(tmp_path: Path, name: str, calibration: str | None, drop_knob: str | None = None) -> Path:
    data = yaml.safe_load((PROFILE_DIR / "twin.yaml").read_text())
    data["name"] = name
    data["response_calibration"] = calibration
    if drop_knob:
        data["knobs"] = [k for k in data["knobs"] if k["name"] != drop_knob]
    p = tmp_path / "profiles" / f"{name}.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(data))
    return p


def _twin_calibration(tmp_path: Path) -> Path:
    target = tmp_path / "profiles" / "cal" / "twin-response.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((PROFILE_DIR / "twin-response.json").read_text())
    return target


def test_relative_file_is_found_next_to_the_profile(tmp_path):
    _twin_calibration(tmp_path)
    profile = load_profile(_profile_file(tmp_path, "twin", "cal/twin-response.json"))
    assert Path(profile.response_calibration) == (tmp_path / "profiles" / "cal" / "twin-response.json").resolve()
    assert profile_response(profile).instrument == "twin"


def test_calibration_of_another_instrument_is_refused(tmp_path):
    _twin_calibration(tmp_path)
    profile = load_profile(_profile_file(tmp_path, "other-column", "cal/twin-response.json"))
    with pytest.raises(CalibrationMismatchError, match="measured on instrument 'twin'.*this is 'other-column'"):
        policy_options_for(profile, "nn", ["C10", "C12.x"])


def test_calibration_for_other_knobs_is_refused(tmp_path):
    _twin_calibration(tmp_path)
    profile = load_profile(_profile_file(tmp_path, "twin", "cal/twin-response.json", drop_knob="C21.y"))
    with pytest.raises(CalibrationMismatchError, match=r"not on the instrument: \['C21.y'\]"):
        profile_response(profile)


def test_missing_or_bad_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        profile_response(load_profile(_profile_file(tmp_path, "twin", "nope.json")))
    (tmp_path / "profiles" / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a response calibration"):
        profile_response(load_profile(_profile_file(tmp_path, "twin", "bad.json")))


class _Knobs:
    """A backend that only reports knobs and records sets (nothing may move on a refusal)."""

    def __init__(self, profile):
        self.profile, self.sets = profile, []

    async def knobs(self):
        return self.profile.knob_infos()

    async def set(self, values):
        self.sets.append(values)


def test_session_refuses_a_calibration_file_of_another_instrument_before_moving(tmp_path):
    from beamloop.controller.run.response_step import response_for_policy

    backend = _Knobs(load_profile("twin"))
    cfg = SimpleNamespace(policy="nn", events=[], frame_blocks=[])
    f = tmp_path / "usim-cal.json"
    d = json.loads((PROFILE_DIR / "twin-response.json").read_text())
    f.write_text(json.dumps({**d, "instrument": "usim"}))
    opts = {"calibration": ResponseCalibration.load(f).gain}
    with pytest.raises(CalibrationMismatchError, match="'usim'.*this is 'twin'"):
        asyncio.run(response_for_policy(backend, cfg, opts, f, tmp_path, print, instrument="twin"))
    assert backend.sets == [] and cfg.events == []
    good = tmp_path / "twin-cal.json"
    good.write_text(json.dumps(d))
    asyncio.run(response_for_policy(backend, cfg, opts, good, tmp_path, print, instrument="twin"))
    assert cfg.events[0]["frames"] == 0 and backend.sets == []


def test_cli_calibrate_response_writes_a_file_the_profile_accepts(tmp_path):
    """`beamloop calibrate --instrument twin --response --out F`: 16 frames measured, the file is
    the profile's response_calibration (0 frames next time); a non-JSON path is refused first."""
    from typer.testing import CliRunner

    from beamloop.tools.cli import app

    bad = CliRunner().invoke(app, ["calibrate", "--instrument", "twin", "--response", "--out", str(tmp_path / "r.yaml")])
    assert bad.exit_code == 2 and "JSON" in bad.output and not (tmp_path / "r.yaml").exists()
    out = tmp_path / "resp.json"
    res = CliRunner().invoke(app, ["calibrate", "--instrument", "twin", "--response", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "16 frames on twin" in res.output and "response_calibration" in res.output
    cal = ResponseCalibration.load(out)
    assert cal.instrument == "twin" and cal.frames == 16 and cal.method == "short"
    assert abs(cal.gain["C12.x"]["C21.x"]) > 0.01            # the twin's coma -> two-fold leak is measured
    doc = yaml.safe_load((PROFILE_DIR / "twin.yaml").read_text())
    doc["response_calibration"] = str(out)
    (tmp_path / "twin.yaml").write_text(yaml.safe_dump(doc))
    assert profile_response(load_profile(tmp_path / "twin.yaml")).frames == 16
