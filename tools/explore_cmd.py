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
        microscope: Optional[str] = typer.Option(None, "--microscope", help="control address of a served scanning "
                                                 "instrument (tcp://host:port, e.g. `beamloop scan-twin`); default: "
                                                 "the scanning twin in-process"),
        data: Optional[str] = typer.Option(None, "--data", help="its data address (default: control port + 1)"),
        timeout: float = typer.Option(10.0, help="--microscope: reply timeout (s)"),
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

        try:
            scal = make_scalarizer(scalarizer, num=num, den=den, fn=fn)
            pcfg = ExploreConfig(strategy=strategy, acquisition=acquisition, seed=seed, n_init=n_init, ucb_beta=beta)
            cfg = ExploreJobConfig(budget=budget, keep_frames=keep_frames, scalarizer_name=scalarizer, policy=pcfg)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        from beamloop.sim.scanning_twin import ScanConfig

        if grid < 32:
            raise typer.BadParameter(f"grid {grid}: the twin's random film needs at least 32 x 32 positions of 1 nm")
        if microscope is None:
            twin = make_twin(sample_seed, ScanConfig(nx=grid, ny=grid))
            truth = truth_map(twin, scalarizer) if show_truth and scalarizer in ("com", "ratio") else None
            backend = ScanTwinBackend(twin)
        else:        # a served instrument: no truth (an instrument has none)
            from beamloop.controller.instruments.zmq_client import ZmqScanBackend
            from beamloop.controller.run.session import SessionError, data_address

            try:
                backend = ZmqScanBackend(microscope, data or data_address(microscope), timeout_s=timeout,
                                         acquire_timeout_s=max(timeout, 30.0))
            except SessionError as exc:
                raise typer.BadParameter(str(exc)) from None
            truth = None

        async def go():
            async with backend:
                return await run_explore(backend, scal, cfg, out_dir=out, name=name, truth=truth)

        from beamloop.controller.core.backend import BackendError

        try:
            res = asyncio.run(go())
        except BackendError as exc:
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(2) from None
        ny = res.survey.shape[1]
        bx, by = divmod(res.best_index, ny)
        typer.echo(f"{len(res.indices)} measurements in {res.elapsed_s:.1f} s; best {scalarizer} = "
                   f"{res.best_value:.4g} at ({bx * res.step_m * 1e9:.1f}, {by * res.step_m * 1e9:.1f}) nm")
        if truth is not None:
            hit = [k + 1 for k, i in enumerate(res.indices) if truth.ravel()[i] >= 0.9 * truth.max()]
            typer.echo(f"true maximum {truth.max():.4g}; first measurement within 90 % of it: "
                       f"{hit[0] if hit else 'none'}")
        typer.echo(f"wrote {res.record} and {res.picture}")

    @app.command("scan-twin")
    def scan_twin(
        control: str = typer.Option("tcp://127.0.0.1:5555", help="control endpoint to bind (ROUTER)"),
        data: str = typer.Option("tcp://127.0.0.1:5556", help="data endpoint to bind (XPUB)"),
        sample_seed: int = typer.Option(0, "--sample-seed", help="seed of the random precipitate film"),
        grid: int = typer.Option(64, help="scan positions per side (1 nm steps)"),
        lease_ttl: float = typer.Option(5.0, help="a client silent this long (s) loses its lease"),
    ) -> None:
        """Serve the scanning twin (precipitate film, 4D camera, detectors) over the protocol:
        `beamloop explore --microscope tcp://...` then runs against it."""
        import zmq

        from beamloop.controller.bench.explore import make_twin
        from beamloop.controller.instruments.scan_twin import ScanTwinBackend
        from beamloop.controller.protocol.keys import InsecureBindError, check_bind
        from beamloop.controller.serve.instrument_server import InstrumentServer
        from beamloop.sim.scanning_twin import ScanConfig

        try:
            check_bind(control, None)
            check_bind(data, None)
        except InsecureBindError as exc:
            raise typer.BadParameter(str(exc), param_hint="--control / --data") from None
        twin = make_twin(sample_seed, ScanConfig(nx=grid, ny=grid))
        try:
            server = InstrumentServer(ScanTwinBackend(twin), control, data, lease_ttl_s=lease_ttl).start()
        except zmq.ZMQError as exc:
            typer.echo(f"error: cannot bind control {control!r} / data {data!r}: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"scanning twin serving: control {server.control_addr}  data {server.data_addr}  "
                   f"{grid} x {grid} positions of 1 nm, sample seed {sample_seed}; Ctrl-C to stop")
        server.serve_forever()

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
        resume: Optional[Path] = typer.Option(None, help="JSON-lines cache of finished samples (appended; samples "
                                              "in it are not run again): split a long benchmark over several runs"),
    ) -> None:
        """Measurements to find the target: DKL (EI, UCB, Thompson) vs grid, random, plain GP."""
        import sys

        from beamloop.controller.bench.explore import run_benchmark
        from beamloop.tools.benchio import emit

        res = run_benchmark(samples=samples, budget=budget, frac=frac, scalarizer=scalarizer, n_init=n_init,
                            methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
                            log=lambda s: print(s, file=sys.stderr, flush=True),
                            cache=str(resume) if resume else None)
        emit("explore", res, as_json, out)
