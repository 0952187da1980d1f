"""The link benchmark runs end to end on tiny sizes and reports every metric (no speed asserts)."""

from __future__ import annotations

import asyncio

import pytest

from beamloop.controller.bench.link import run_link_bench


@pytest.mark.timeout(120)
def test_link_bench_smoke():
    res = asyncio.run(run_link_bench(n_128=400, n_512=40, ping_s=0.005, sustain_rate_hz=500.0, sustain_s=0.4))
    for key in ("fps_128_tcp", "fps_512_tcp", "fps_128_ipc", "lost_frames", "ctrl_rtt_p50_ms", "ctrl_rtt_p99_ms",
                "ctrl_rtt_maxrate_p99_ms", "sustained_fps_128_tcp", "sustained_lost_128_tcp"):
        assert key in res, key
    assert res["frames_128_tcp"] == 400 and res["frames_512_tcp"] == 40 and res["frames_128_ipc"] == 400
    assert res["fps_128_tcp"] > 0 and res["fps_128_ipc"] > 0
    assert res["bad_messages"] == 0
    assert res["lost_frames"] == 0  # a few hundred frames fit the publisher's queue: nothing may be lost
    assert 0 < res["ctrl_rtt_p50_ms"] <= res["ctrl_rtt_p99_ms"] <= res["ctrl_rtt_max_ms"]
    assert 300 < res["sustained_fps_128_tcp"] < 700  # the paced stream keeps its rate
