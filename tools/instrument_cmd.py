"""``beamloop serve --instrument``, ``beamloop instruments``, ``beamloop calibrate`` (instrument adapters).

Thin wiring: profiles and adapters live in ``beamloop.controller.instruments``, the generic
server in ``beamloop.controller.serve.instrument_server``, the instrument bench in
``beamloop.controller.bench.instrument`` (``beamloop bench align --instrument``, see align_cmd).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def serve_in_thread(backend, control: str = "tcp://127.0.0.1:0", data: str = "tcp://127.0.0.1:0"):
    """Serve ``backend`` with the generic :class:`InstrumentServer`; return ``(control, data, stop)``."""
    from beamloop.controller.serve.instrument_server import InstrumentServer

    server = InstrumentServer(backend, control, data).start()
    return server.control_addr, server.data_addr, server.stop


def _open(instrument: str, noise: Optional[bool]):
    from beamloop.controller.instruments.open import open_instrument
    from beamloop.controller.instruments.profile import ProfileError

    try:
        return open_instrument(instrument, noise=noise)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--instrument") from None


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        instrument: str = typer.Option(..., "--instrument", help="Instrument profile: a shipped name (nion, usim, "
                                       "pyjem-standin, board-usim, twin ...) or a YAML file."),
        control: str = typer.Option("tcp://127.0.0.1:5555", "--control", help="Control endpoint to bind (ROUTER)."),
        data: str = typer.Option("tcp://127.0.0.1:5556", "--data", help="Data endpoint to bind (XPUB)."),
        noise: Optional[bool] = typer.Option(None, "--noise/--no-noise", help="Simulators only: noise on/off (default: the profile's)."),
        keys: Optional[Path] = typer.Option(None, "--keys", help="CURVE key directory (`beamloop keys generate`): "
                                            "only authorised clients connect. Required to bind a non-loopback address."),
        lease_ttl: float = typer.Option(5.0, "--lease-ttl", help="dead-man: a controller silent this long (s) loses "
                                        "its lease and the knobs go back to their values at lease start"),
    ) -> None:
        """Expose an instrument over beamloop's two-channel ZeroMQ protocol until Ctrl-C, so that
        ``beamloop align --microscope tcp://HOST:PORT`` can drive it from another computer."""
        import logging

        from beamloop.controller.serve.instrument_server import InstrumentServer
        from beamloop.controller.serve.lease import Lease
        from beamloop.tools.serve_options import checked_server_keys, start_or_exit

        try:  # keys, addresses and the lease time checked before the instrument is opened
            Lease.check_ttl(lease_ttl)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--lease-ttl") from None
        server_k = checked_server_keys(keys, control, data)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        opened = _open(instrument, noise)
        typer.echo(f"{opened.profile.name}: {opened.note or opened.profile.kind}")
        try:
            server = start_or_exit(lambda: InstrumentServer(opened.backend, control, data, keys=server_k,
                                                            lease_ttl_s=lease_ttl).start(), control, data)
            typer.echo(f"serving {opened.profile.name}: control {server.control_addr}  data {server.data_addr}  "
                       f"session {server.session}")
            typer.echo(f"knobs: {', '.join(k.name for k in opened.profile.knobs)} (SI); Ctrl-C to stop")
            server.serve_forever()
        finally:
            opened.close()

    @app.command("instruments")
    def instruments(profile: Optional[str] = typer.Argument(None, help="A profile (name or file) to validate and show.")) -> None:
        """List the shipped instrument profiles, or validate one (names the bad field) and show it."""
        from beamloop.controller.instruments.profile import ProfileError, load_profile, shipped_profiles

        if profile is None:
            for name in shipped_profiles():
                p = load_profile(name)
                typer.echo(f"{name:16s} {p.kind:10s} {p.description}")
            return
        try:
            p = load_profile(profile)
        except ProfileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        cam = p.camera
        typer.echo(f"{p.name} ({p.kind}): {p.description}")
        typer.echo(f"  beam {p.beam_energy_eV / 1e3:g} kV, convergence {p.convergence_semiangle_rad * 1e3:g} mrad")
        typer.echo(f"  camera {cam.size_px[0]}x{cam.size_px[1]} px, {cam.rad_per_px * 1e3:.4g} mrad/px, binning "
                   f"{cam.binning}, axes {cam.axes}, rotation {cam.rotation_rad:g} rad, gain {cam.counts_per_electron:g} counts/e")
        for k in p.knobs:
            typer.echo(f"  {k.name:6s} -> {k.control:8s} {k.aberration or '-':6s} [{k.minimum:.3g}, {k.maximum:.3g}] {k.unit}"
                       f"  scale {k.scale:.6g}/{k.unit} offset {k.offset:g}")

    @app.command("calibrate")
    def calibrate(
        instrument: str = typer.Option(..., "--instrument", help="Instrument profile (name or file)."),
        out: Path = typer.Option(..., "--out", help="Where to write the calibrated profile (YAML), or with --response the response (JSON)."),
        knobs: Optional[str] = typer.Option(None, "--knobs", help="Knobs to calibrate, comma-separated (default: the stigmators)."),
        iterations: int = typer.Option(1, "--iterations", help="Measure-correct passes."),
        repeats: int = typer.Option(2, "--repeats", help="Repeats per knob step."),
        response: bool = typer.Option(False, "--response", help="Measure the nn policy's knob response instead "
                                      "(coma cross-talk, 8 x repeats frames) and save it for the profile's response_calibration."),
    ) -> None:
        """Measure counts -> metres (and cross-talk) per knob on the instrument with the alignment
        network and write the calibrated profile (the instrument is left where it was)."""
        import asyncio

        if response:
            _calibrate_response(instrument, out, repeats)
            return

        from beamloop.controller.estimation.canonical_grid import CanonicalEstimator, CanonicalGrid
        from beamloop.controller.estimation.inference import default_estimator
        from beamloop.controller.instruments.calibration import calibrate_counts

        opened = _open(instrument, None)
        geom = opened.profile.camera.geometry()
        est = default_estimator()
        est = est if geom.is_canonical(CanonicalGrid()) else CanonicalEstimator(est, geom)
        base = opened.backend

        async def open_backend(profile):
            b = type(base)(profile, *(getattr(base, a) for a in ("tem3", "detector_module"))) \
                if hasattr(base, "tem3") else base
            await b.connect()
            return b

        async def main():
            return await calibrate_counts(opened.profile, open_backend, est,
                                          knobs=[k.strip() for k in knobs.split(",")] if knobs else None,
                                          iterations=iterations, repeats=repeats)

        try:
            prof, report = asyncio.run(main())
        finally:
            opened.close()
        prof.dump(out)
        for i, row in enumerate(report.iterations):
            typer.echo(f"pass {i + 1}: measured diagonal {row['measured_diagonal']}")
        typer.echo(f"{report.frames} frames; calibrated profile written to {out}")


def _calibrate_response(instrument: str, out: Path, repeats: int) -> None:
    """``beamloop calibrate --response``: the nn policy's knob response, saved for reuse with 0 frames."""
    import asyncio

    from beamloop.controller.instruments.calibration import measure_profile_response
    from beamloop.controller.instruments.profile import ProfileError, load_profile

    if repeats < 1:
        raise typer.BadParameter(f"must be >= 1, got {repeats}", param_hint="--repeats")
    if out.suffix.lower() != ".json":
        raise typer.BadParameter(f"{out}: the response is saved as JSON (give a .json path)", param_hint="--out")
    try:
        profile = load_profile(instrument)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--instrument") from None
    cal = asyncio.run(measure_profile_response(profile, repeats=repeats))
    cal.save(out)
    for ab, row in cal.gain.items():
        typer.echo(f"  {ab:6s} <- " + ", ".join(f"{k} {g:+.4f}" for k, g in row.items() if g))
    typer.echo(f"{cal.frames} frames on {profile.name}; response written to {out}\n"
               f"reuse it with 0 frames: add `response_calibration: {out}` to the profile")


def bench_instrument(instrument: str, policies: list[str], axes: list[str], trials: int, seed: int,
                     noise: Optional[bool], max_frames: Optional[int], stop_cost: Optional[float],
                     misalign: dict[str, float], bridge: bool, as_json: bool, out: Optional[Path], console) -> None:
    """``beamloop bench align --instrument ...`` (one JSON object per policy; several: one combined)."""
    import time

    from beamloop.controller.bench.instrument import InstrumentBenchConfig, run_instrument_bench
    from beamloop.controller.instruments.profile import ProfileError, load_profile
    from beamloop.tools.benchio import emit

    try:
        name = load_profile(instrument).name
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--instrument") from None
    results = {}
    for pol in policies:
        t0 = time.perf_counter()

        def progress(i, trial, pol=pol, t0=t0):
            resid = ", ".join(f"{k} {v * 1e9:.1f} nm" for k, v in trial["residual"].items())
            console.print(f"[{name} {pol}] trial {i + 1}/{trials}: {trial['frames']} frames, success={trial['success']} "
                          f"({time.perf_counter() - t0:.0f} s) residual {resid}")

        cfg = InstrumentBenchConfig(instrument=instrument, policy=pol, axes=axes, trials=trials, seed=seed,
                                    misalign=misalign, max_frames=max_frames, stop_cost=stop_cost, noise=noise, bridge=bridge)
        results[pol] = run_instrument_bench(cfg, progress=progress, serve=serve_in_thread if bridge else None)
    tag = f"{name}{'_bridge' if bridge else ''}_{'_'.join(a.replace('.', '') for a in axes)}"
    if len(policies) == 1:
        emit(f"align_{policies[0]}_{tag}", results[policies[0]], as_json, out)
        return
    emit(f"align_{'_vs_'.join(policies)}_{tag}", {"instrument": name, "axes": axes, "trials": trials, "seed": seed,
         "summary": {p: {k: r[k] for k in ("success_rate", "frames_median", "frames_mean", "wall_s")} for p, r in results.items()},
         "results": results}, as_json, out)
