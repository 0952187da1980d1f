"""`beamloop bench align` end to end (tiny run) and `beamloop align` argument errors."""

from __future__ import annotations

import json

import numpy as np

from typer.testing import CliRunner

from beamloop.tools.cli import app


def test_bench_align_prints_the_required_json(tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["bench", "align", "--axes", "C1", "--trials", "2", "--max-frames", "3",
                                   "--stop-cost", "0.048", "--seed", "4", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    r = json.loads(line)
    for key in ("success_rate", "success_criterion", "frames_median", "frames_mean", "frames_std", "trials", "wall_s"):
        assert key in r
    assert r["trials"] == 2 and 1 <= r["frames_mean"] <= 3 and 0.0 <= r["success_rate"] <= 1.0
    assert "C1" in r["success_criterion"] and "nm" in r["success_criterion"]
    assert json.loads(out.read_text())["frames_max"] <= 3


def test_bench_align_compares_policies_on_the_same_trials(tmp_path):
    """--policy nn,bo: one JSON object with a result per policy (same seeded misalignments); the nn
    entry carries the response calibration it measured before the trials."""
    out = tmp_path / "c.json"
    res = CliRunner().invoke(app, ["bench", "align", "--policy", "nn,bo", "--axes", "C1,A1x", "--trials", "2",
                                   "--max-frames", "6", "--stop-cost", "0.048", "--seed", "1", "--json",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["policies"] == ["nn", "bo"] and r["trials"] == 2
    for p in ("nn", "bo"):
        assert r["results"][p]["policy"] == p and r["results"][p]["trials"] == 2
        assert set(r["summary"][p]) == {"success_rate", "frames_median", "frames_mean", "frames_std", "wall_s"}
    cal = r["results"]["nn"]["response_calibration"]
    # the short calibration (the nn policy approaches from below, so no play is measured)
    assert cal["frames"] == 16 and cal["method"] == "short" and cal["play_nm"] == {}
    assert "response_calibration" not in r["results"]["bo"]
    bad = CliRunner().invoke(app, ["bench", "align", "--policy", "nn,nn", "--trials", "1"])
    assert bad.exit_code != 0 and "policies" in bad.output


def test_align_rejects_unknown_axis_and_policy():
    res = CliRunner().invoke(app, ["align", "--axes", "C1,Z9"])
    assert res.exit_code != 0 and "axes" in res.output
    res = CliRunner().invoke(app, ["align", "--policy", "nope"])
    assert res.exit_code != 0 and "policy" in res.output


def test_main_job_default_nn_aligns_the_embedded_twin(tmp_path):
    """`beamloop align` with defaults (embedded twin over loopback sockets, policy nn, five axes):
    it measures the response once, saves it, aligns in a few frames and leaves record + report;
    a second run reuses the saved calibration instead of measuring again."""
    res = CliRunner().invoke(app, ["align", "--quiet", "--seed", "3", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    cals = list(tmp_path.glob("calibration-*.json"))
    assert len(cals) == 1 and list(tmp_path.glob("align-*.h5")) and list(tmp_path.glob("align-*.png"))
    cal = json.loads(cals[0].read_text())
    # the short calibration, stamped for reuse (the nn policy approaches from below: no play to measure)
    assert cal["frames"] == 16 and cal["play_m"] == {} and cal["instrument"] == "twin" and cal["method"] == "short"
    from beamloop.controller.run.record import read_run

    run = read_run(next(tmp_path.glob("align-*.h5")))
    n_frames = run["frames"]["images"].shape[0]  # loop + reference + verification
    cal_frames = run["calibration_frames"]  # the calibration's frames are in the record, with their settings
    assert cal_frames["data"].shape[0] == cal["frames"] == cal_frames["setting"].shape[0]
    assert cal_frames["data"].shape[1:] == run["frames"]["images"].shape[1:]
    assert np.ptp(cal_frames["setting"], axis=0).max() > 0   # the knobs did move between the frames
    assert "residual" in res.output and "C21.x" in res.output
    res2 = CliRunner().invoke(app, ["align", "--quiet", "--seed", "4", "--out", str(tmp_path / "b"),
                                    "--calibration", str(cals[0])])
    assert res2.exit_code == 0, res2.output
    assert "measuring the knobs' response" not in res2.output and not list((tmp_path / "b").glob("calibration-*"))
    assert 4 <= n_frames <= 16
    bad = CliRunner().invoke(app, ["align", "--quiet", "--calibration", str(tmp_path / "nope.json")])
    assert bad.exit_code != 0 and "calibration" in bad.output
    other = tmp_path / "usim-cal.json"   # the same file said to be measured on another instrument
    other.write_text(json.dumps({**cal, "instrument": "usim"}))
    bad = CliRunner().invoke(app, ["align", "--quiet", "--seed", "5", "--out", str(tmp_path / "c"),
                                   "--calibration", str(other)])
    assert bad.exit_code != 0 and "measured on instrument 'usim'" in str(bad.output) + str(bad.exception)
