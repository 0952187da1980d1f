"""``beamloop explore`` (an autonomous 4D-STEM experiment on the scanning twin) and
``beamloop bench explore`` (DKL vs grid, random and plain GP). Thin wiring: the experiment is
``controller.run.explore_job``, the benchmark ``controller.bench.explore``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("explore")
    def explore(
        instrument: str = typer.Option("twin", help="twin (in-process scanning twin; other instruments: "
                                       "any backend implementing the scan interface)"),
        sample_seed: int = typer.Option(0, "--sample-seed", help="twin: seed of the random precipitate film"),
        grid: int = typer.Option(64, help="twin: scan positions per side (1 nm steps)"),
        strategy: str = typer.Option("dkl", help="dkl | gp | random | grid | survey"),
        acquisition: str = typer.Option("ei", help="ei | ucb | thompson (dkl, gp)"),
        scalarizer: str = typer.Option("com", help="com (|centre of mass|) | dpc | ratio | user"),
        num: str = typer.Option("superlattice", help="ratio: numerator detector"),
        den: str = typer.Option("central", help="ratio: denominator detector"),
        fn: Optional[str] = typer.Option(None, help="user: module:function taking a PointMeasurement"),
        budget: int = typer.Option(100, help="measurements at most"),
        n_init: int = typer.Option(8, help="random start points (dkl, gp)"),
        beta: float = typer.Option(4.0, help="UCB beta"),
        seed: int = typer.Option(0, help="policy seed"),
        keep_frames: bool = typer.Option(False, help="store the 4D camera frames in the record"),
        out: Path = typer.Option(Path("runs/explore"), "--out", "-o", help="directory for explore.nxs and explore.png"),
        name: str = typer.Option("explore", help="file stem of the record and picture"),
        show_truth: bool = typer.Option(True, help="twin: draw the true scalar map in the picture"),
    ) -> None:
        """Survey, then measure where the policy says until the budget is spent; write a NeXus
        record and a picture (survey + points in order, predicted map, uncertainty)."""
        import asyncio

        import torch

        torch.set_num_threads(1)
        from beamloop.controller.bench.explore import make_twin, truth_map
        from beamloop.controller.estimation.scalarizers import make_scalarizer
        from beamloop.controller.instruments.scan_twin import ScanTwinBackend
        from beamloop.controller.policies.explore import ExploreConfig
        from beamloop.controller.run.explore_job import ExploreJobConfig, run_explore

        if instrument != "twin":
            raise typer.BadParameter(f"instrument {instrument!r}: only the in-process scanning twin is wired here "
                                     "so far (the served protocol has no scan commands yet)")
        try:
            scal = make_scalarizer(scalarizer, num=num, den=den, fn=fn)
            pcfg = ExploreConfig(strategy=strategy, acquisition=acquisition, seed=seed, n_init=n_init, ucb_beta=beta)
            cfg = ExploreJobConfig(budget=budget, keep_frames=keep_frames, scalarizer_name=scalarizer, policy=pcfg)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        from beamloop.sim.scanning_twin import ScanConfig

        if grid < 32:
            raise typer.BadParameter(f"grid {grid}: the twin's random film needs at least 32 x 32 positions of 1 nm")
        twin = make_twin(sample_seed, ScanConfig(nx=grid, ny=grid))
        truth = truth_map(twin, scalarizer) if show_truth and scalarizer in ("com", "ratio") else None
        res = asyncio.run(run_explore(ScanTwinBackend(twin), scal, cfg, out_dir=out, name=name, truth=truth))
        ny = res.survey.shape[1]
        bx, by = divmod(res.best_index, ny)
        typer.echo(f"{len(res.indices)} measurements in {res.elapsed_s:.1f} s; best {scalarizer} = "
                   f"{res.best_value:.4g} at ({bx * res.step_m * 1e9:.1f}, {by * res.step_m * 1e9:.1f}) nm")
        if truth is not None:
            hit = [k + 1 for k, i in enumerate(res.indices) if truth.ravel()[i] >= 0.9 * truth.max()]
            typer.echo(f"true maximum {truth.max():.4g}; first measurement within 90 % of it: "
                       f"{hit[0] if hit else 'none'}")
        typer.echo(f"wrote {res.record} and {res.picture}")

    @bench.command("explore")
    def bench_explore(
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        samples: int = typer.Option(6, help="seeded twin samples"),
        budget: int = typer.Option(200, help="measurements at most per surrogate run"),
        frac: float = typer.Option(0.9, help="target: noiseless scalar >= frac x its maximum"),
        scalarizer: str = typer.Option("com", help="com | ratio"),
        n_init: int = typer.Option(8),
        methods: str = typer.Option("ei,ucb,thompson,gp", help="comma list of dkl acquisitions and gp"),
        out: Optional[Path] = typer.Option(None, help="JSON file (default bench_results/explore.json)"),
    ) -> None:
        """Measurements to find the target: DKL (EI, UCB, Thompson) vs grid, random, plain GP."""
        import sys

        from beamloop.controller.bench.explore import run_benchmark
        from beamloop.tools.benchio import emit

        res = run_benchmark(samples=samples, budget=budget, frac=frac, scalarizer=scalarizer, n_init=n_init,
                            methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
                            log=lambda s: print(s, file=sys.stderr, flush=True))
        emit("explore", res, as_json, out)
