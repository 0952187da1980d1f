"""The explore job end to end on a small twin sample: finds the target, leaves a NeXus record
(read through read_run, like the alignment record) and a picture; the CLI runs it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from typer.testing import CliRunner

from beamloop.controller.bench.explore import make_twin, truth_map
from beamloop.controller.estimation.scalarizers import com_magnitude
from beamloop.controller.instruments.scan_twin import ScanTwinBackend
from beamloop.controller.policies.explore import ExploreConfig, ExplorePolicy
from beamloop.controller.run.explore_job import ExploreJobConfig, run_explore
from beamloop.controller.run.record import read_run
from beamloop.sim.scanning_twin import ScanConfig

SCAN = ScanConfig(nx=32, ny=32)
SEED = 3


@pytest.fixture(scope="module")
def sample():
    twin = make_twin(SEED, SCAN)
    truth = truth_map(twin).ravel()
    return twin, truth, truth >= 0.9 * truth.max()


def test_dkl_finds_the_target_within_a_fifth_of_the_grid(sample, tmp_path):
    twin, truth, target = sample
    n = SCAN.nx * SCAN.ny
    cfg = ExploreJobConfig(budget=n // 5, detectors=[], policy=ExploreConfig(strategy="dkl", acquisition="ei", seed=SEED))
    twin.rng = np.random.default_rng(SEED)
    res = asyncio.run(run_explore(ScanTwinBackend(twin), com_magnitude, cfg, out_dir=tmp_path, name="run",
                                  stop=lambda i, v: bool(target[i]), truth=truth.reshape(32, 32)))
    assert res.stopped_early, f"no target position among {len(res.indices)} measurements"
    assert target[res.indices[-1]] and not target[res.indices[:-1]].any()
    assert len(res.indices) <= n // 5
    assert len(set(res.indices)) == len(res.indices)              # never the same position twice
    # the record: NeXus, opened by the same reader as the alignment record
    rec = read_run(res.record)
    assert rec["format"] == "beamloop-explore"
    m = rec["measurements"]
    assert m["index"].tolist() == res.indices and np.allclose(m["value"], res.values)
    assert np.allclose(m["x"], [p[0] for p in res.positions_m]) and m["com"].shape == (len(res.indices), 2)
    assert np.array_equal(rec["survey"]["data"], res.survey) and rec["survey"]["detector"] == "HAADF"
    assert rec["prediction"]["mean"].shape == (32, 32) and np.all(rec["prediction"]["std"] >= 0)
    assert rec["result"]["status"] == "stopped" and rec["result"]["n_measurements"] == len(res.indices)
    assert rec["config"]["policy"]["strategy"] == "dkl" and rec["provenance"]["git_commit"]
    import h5py

    with h5py.File(res.record) as f:
        assert f["entry"].attrs["NX_class"] == "NXentry" and f["entry/measurements"].attrs["NX_class"] == "NXdata"
        assert f["entry/survey/x"].attrs["units"] == "m"
    assert res.picture.stat().st_size > 10_000


def test_baseline_orders():
    rng = np.random.default_rng(0)
    survey = rng.random((6, 5))
    for strategy, expect in (("grid", list(range(30))), ("survey", list(np.argsort(-survey.ravel(), kind="stable")))):
        p = ExplorePolicy(ExploreConfig(strategy=strategy))
        p.reset(survey)
        got = []
        while (i := p.propose()) is not None:
            p.observe(i, 0.0)
            got.append(i)
        assert got == expect
        assert p.predict() is None
    p = ExplorePolicy(ExploreConfig(strategy="random", seed=1))
    p.reset(survey)
    i = p.propose()
    with pytest.raises(ValueError, match="proposed position"):
        p.observe(i + 1, 0.0)
    with pytest.raises(ValueError, match="finite"):
        p.observe(i, float("nan"))
    with pytest.raises(ValueError, match="unknown 'bogus'"):
        ExploreConfig(strategy="bogus")
    with pytest.raises(ValueError, match="n_init"):
        ExploreConfig(n_init=1)
    with pytest.raises(ValueError, match="budget"):
        ExploreJobConfig(budget=0)


@pytest.mark.parametrize("acq", ["ucb", "thompson"])
def test_other_acquisitions_run(sample, acq):
    twin, truth, target = sample
    cfg = ExploreJobConfig(budget=14, detectors=[],
                           policy=ExploreConfig(strategy="dkl", acquisition=acq, seed=0, thompson_candidates=256))
    res = asyncio.run(run_explore(ScanTwinBackend(twin), com_magnitude, cfg, final_prediction=False))
    assert len(res.indices) == 14 and len(set(res.indices)) == 14
    assert res.best_value == max(res.values)


def test_cli_explore_end_to_end(tmp_path):
    from beamloop.tools.cli import app

    r = CliRunner().invoke(app, ["explore", "--grid", "32", "--sample-seed", "1", "--budget", "12", "--strategy", "gp",
                                 "--scalarizer", "dpc", "-o", str(tmp_path), "--name", "cli"])
    assert r.exit_code == 0, r.output
    assert "12 measurements" in r.output and (tmp_path / "cli.nxs").exists() and (tmp_path / "cli.png").exists()
    rec = read_run(tmp_path / "cli.nxs")
    assert len(rec["measurements"]["value"]) == 12 and rec["config"]["scalarizer_name"] == "dpc"
    r = CliRunner().invoke(app, ["explore", "--acquisition", "pi", "-o", str(tmp_path)])
    assert r.exit_code != 0 and "pi" in r.output
