"""The reviewed YAML configurations and the CLI's error path."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from beamloop.hls.errors import HlsFlowError
from beamloop.hls.hls4ml_project import HlsSettings


def test_committed_configs_match_the_issue():
    a = HlsSettings.load("alignment")
    t = HlsSettings.load("trigger")
    assert (a.io_type, a.strategy.lower(), a.backend) == ("io_stream", "latency", "Vitis")
    assert (t.io_type, t.strategy.lower(), t.backend) == ("io_parallel", "latency", "Vitis")
    assert a.clock_mhz == t.clock_mhz == 200.0
    assert a.latency_target_ns == 11500 and t.latency_target_ns == 100
    assert t.da4ml["module"] == "trigger_net" and t.da4ml["in_bits"] == 8


def test_bad_config_is_rejected_with_the_key(tmp_path):
    from beamloop.hls.hls4ml_project import CONFIG_DIR

    text = (CONFIG_DIR / "trigger.yaml").read_text()
    p = tmp_path / "x.yaml"
    p.write_text(text + "\nreuse_factr: 2\n")
    with pytest.raises(HlsFlowError, match="reuse_factr"):
        HlsSettings.load(p)
    p.write_text(text.replace("io_type: io_parallel", "io_type: io_serial"))
    with pytest.raises(HlsFlowError, match="io_type"):
        HlsSettings.load(p)


def test_unknown_model_exits_with_a_message():
    from beamloop.tools.cli import app

    res = CliRunner().invoke(app, ["compile", "nosuchnet"])
    assert res.exit_code == 2
    assert "nosuchnet" in res.output and "known configurations" in res.output


def test_synth_without_vitis_says_what_to_run(tmp_path, monkeypatch):
    from beamloop.hls.errors import ToolMissingError
    from beamloop.hls.hls4ml_project import run_vitis

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError) as err:
        run_vitis(tmp_path)
    assert "vitis_hls" in str(err.value) and "build_prj.tcl" in str(err.value)
