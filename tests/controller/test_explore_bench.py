"""`beamloop bench explore` on a tiny setting: the result keys, the criterion, the resume cache."""

from __future__ import annotations

from beamloop.controller.bench.explore import _load_cache, run_benchmark
from beamloop.sim.scanning_twin import ScanConfig


def test_bench_keys_and_resume(tmp_path):
    cache = tmp_path / "samples.jsonl"
    kw = dict(samples=1, budget=10, methods=("ei",), scan=ScanConfig(nx=32, ny=32), random_draws=5)
    a = run_benchmark(cache=str(cache), **kw)
    for k in ("measurements_dkl_median", "measurements_grid", "measurements_random_median", "measurements_gp_median",
              "samples", "censored", "per_sample"):
        assert k in a
    assert a["measurements_grid"] == 1024 and a["samples"] == 1 and a["samples_from_cache"] == []
    n = a["measurements_dkl_median"]["ei"]
    assert 1 <= n <= 11 and (n == 11) == (a["censored"]["ei"] == 1)        # a miss counts budget + 1
    assert 1 <= a["per_sample"]["grid_first_hit"][0] <= 1024
    b = run_benchmark(cache=str(cache), **kw)
    assert b["samples_from_cache"] == [0] and b["per_sample"] == a["per_sample"]
    key = {"grid": [32, 32], "step_m": 1e-9, "budget": 10, "frac": 0.9, "scalarizer": "com", "n_init": 8, "random_draws": 5}
    assert list(_load_cache(cache, key)) == [0]
    assert _load_cache(cache, {**key, "budget": 11}) == {}                # other settings: not reused
