"""Issue 14, failure 6 (unchecked inputs at the command line): every bad value is a usage error
(exit code 2, the option named, no traceback) raised before anything connects or moves."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from beamloop.controller.run import session as S
from beamloop.tools.cli import app


@pytest.fixture
def no_instrument(monkeypatch):
    """Fail the test if the command starts a twin or opens a connection."""
    touched: list[str] = []

    def refuse(what):
        def f(*a, **k):
            touched.append(what)
            raise AssertionError(f"{what} was reached with an invalid option")
        return f

    monkeypatch.setattr(S, "start_embedded_twin", refuse("start_embedded_twin"))
    monkeypatch.setattr(S, "ZmqTwinBackend", refuse("ZmqTwinBackend"))
    return touched


BAD = [
    (["--max-frames", "-5"], "--max-frames"),
    (["--max-frames", "10000000"], "--max-frames"),
    (["--stop-cost", "nan"], "--stop-cost"),
    (["--stop-cost", "-1"], "--stop-cost"),
    (["--camera-gain", "0"], "--camera-gain"),
    (["--camera-gain", "inf"], "--camera-gain"),
    (["--seed", "-1"], "--seed"),
    (["--view-port", "70000"], "--view-port"),
    (["--microscope", "localhost"], "--microscope"),
    (["--microscope", "tcp://127.0.0.1:99999"], "--microscope"),
    (["--data", "tcp://127.0.0.1"], "--data"),
]


@pytest.mark.parametrize("args,option", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_align_value_is_a_usage_error_before_anything_connects(args, option, no_instrument, tmp_path, counts):
    res = CliRunner().invoke(app, ["align", "--quiet", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2, res.output
    assert option in res.output and "Traceback" not in res.output
    assert no_instrument == []
    counts["cli_inputs_refused"] += 1


def test_unwritable_out_is_refused_before_anything_connects(no_instrument, tmp_path, counts):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = CliRunner().invoke(app, ["align", "--quiet", "--out", str(blocker / "runs")])
    assert res.exit_code == 2 and "--out" in res.output and "Traceback" not in res.output, res.output
    assert no_instrument == []
    counts["cli_inputs_refused"] += 1


def test_request_values_checked_in_the_library_too():
    """The session refuses the same numbers when called without the command line."""
    for kw, option in (({"max_frames": -5}, "--max-frames"), ({"stop_cost": float("nan")}, "--stop-cost"),
                       ({"camera_gain": 0.0}, "--camera-gain"), ({"seed": -1}, "--seed")):
        with pytest.raises(S.SessionError) as ei:
            S.check_request_values(S.AlignRequest(**kw))
        assert ei.value.param == option
    S.check_request_values(S.AlignRequest(max_frames=3, stop_cost=0.05, camera_gain=8.0, seed=2))


def test_nothing_listening_is_a_clear_usage_error(tmp_path, counts):
    """--microscope at a port nobody serves: exit 2 naming --microscope, no traceback, no record."""
    res = CliRunner().invoke(app, ["align", "--quiet", "--policy", "bo", "--out", str(tmp_path),
                                   "--microscope", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2, res.output
    assert "--microscope" in res.output and "nothing was moved" in res.output and "Traceback" not in res.output
    assert not list(tmp_path.glob("align-*.h5"))
    counts["cli_inputs_refused"] += 1


def test_sim_ronchigram_refuses_an_aberration_beyond_any_grid(tmp_path, counts):
    out = tmp_path / "r.npy"
    res = CliRunner().invoke(app, ["sim", "ronchigram", "C10=1e308", "--size", "32", "--out", str(out)])
    assert res.exit_code == 2 and "C10" in res.output and "Traceback" not in res.output, res.output
    assert not out.exists()
    counts["cli_inputs_refused"] += 1
