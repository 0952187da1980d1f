"""``beamloop bench fpga`` keeps every entry when one network fails (e.g. weights not committed)."""

from __future__ import annotations

from beamloop.hls import bench
from beamloop.hls.errors import HlsFlowError


def test_failed_network_is_reported_not_lost(monkeypatch, tmp_path):
    def fail(*a, **k):
        raise HlsFlowError("no weights for 'alignment'")

    monkeypatch.setattr(bench, "_alignment", fail)
    monkeypatch.setattr(bench, "_trigger", lambda *a, **k: {"bit_exact_matches": 5, "bit_exact_total": 5})
    out = bench.run_bench(tmp_path, log=lambda m: None, top_entry=lambda synth, log: {"luts": 1})
    assert "no weights" in out["alignment"]["error"]
    assert out["trigger"]["bit_exact_matches"] == 5 and out["top"]["luts"] == 1
