"""``beamloop sim ...`` (gallery, one Ronchigram, probe metrics) and ``beamloop bench sim``.

Thin wiring: the physics is in :mod:`beamloop.sim`; heavy imports happen inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _parse_aberrations(items: list[str]):
    """``["C10=50nm", "A1x=20nm", "B2.y=1um"]`` -> Aberrations (bare numbers are metres)."""
    from beamloop.sim.aberrations import Aberrations
    from beamloop.sim.units import UnitError, parse_aberrations

    try:
        return Aberrations(parse_aberrations(items))
    except (KeyError, ValueError, UnitError) as exc:
        raise typer.BadParameter(str(exc).strip('"')) from None


def _unit(parse, text: str, hint: str) -> float:
    from beamloop.sim.units import UnitError

    try:
        return parse(text)
    except UnitError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _check_samplable(simulator, ab) -> None:
    """Refuse aberrations whose probe footprint this camera's grid cannot hold (usage error)."""
    import numpy as np

    ext = float(simulator.footprint_box_m([ab])[0].max())
    limit = simulator.cfg.oversample or simulator.cfg.max_oversample
    if not np.isfinite(ext) or ext * 1.1 / simulator.cfg.fov_m > limit:
        raise typer.BadParameter(
            f"{', '.join(f'{n}={v:.3g} m' for n, v in zip(ab.NAMES, ab.vector) if v)}: the probe footprint ({ext:.3g} m) is beyond what this camera's grid can "
            f"simulate (internal oversample limit {limit}); reduce the aberrations", param_hint="ABERRATIONS")


def _aberration_label(ab) -> str:
    from beamloop.sim.units import format_length

    items = [(n, v) for n, v in zip(ab.NAMES, ab.vector) if v != 0]
    return ", ".join(f"{n} {format_length(v)}" for n, v in items) or "no aberrations"


def register(app: typer.Typer, bench: typer.Typer) -> None:
    sim = typer.Typer(help="Digital-twin physics: Ronchigrams, probe metrics, gallery.", no_args_is_help=True)
    app.add_typer(sim, name="sim")

    @sim.command("gallery")
    def gallery(
        out: Path = typer.Option(Path("gallery.png"), "--out", "-o", help="PNG file to write"),
        size: int = typer.Option(128, help="camera pixels per side"),
        seed: int = typer.Option(0),
        noise: bool = typer.Option(True, help="camera noise on/off"),
    ) -> None:
        """PNG grid of Ronchigrams over C1 x A1 and C1 x B2, amorphous carbon and Si [110]."""
        from beamloop.sim.gallery import gallery_images, save_gallery_png
        from beamloop.sim.ronchigram import RonchigramConfig

        panels = gallery_images(RonchigramConfig(size_px=size, max_oversample=12), seed=seed, noise=noise)
        typer.echo(f"wrote {save_gallery_png(panels, out)}")

    @sim.command("ronchigram")
    def ronchigram(
        aberrations: list[str] = typer.Argument(None, help="NAME=VALUE with a unit, e.g. C10=50nm A1x=20nm B2y=1um "
                                                "(Krivanek names or aliases C1, A1x, B2y, Cs; a bare number is metres)"),
        out: Path = typer.Option(Path("ronchigram.png"), "--out", "-o", help=".png (with an mrad scale) or .npy (counts)"),
        size: int = typer.Option(128),
        energy: str = typer.Option("300kV", "--energy", help="beam energy, e.g. 300kV (bare number: eV)"),
        energy_ev: Optional[float] = typer.Option(None, "--energy-ev", hidden=True),
        alpha: str = typer.Option("30mrad", "--alpha", help="convergence semi-angle, e.g. 30mrad (bare number: rad)"),
        alpha_rad: Optional[float] = typer.Option(None, "--alpha-rad", hidden=True),
        sample: str = typer.Option("amorphous_carbon", help="amorphous_carbon | si100 | si110"),
        dose: float = typer.Option(1e6, help="electrons per frame"),
        seed: int = typer.Option(0),
    ) -> None:
        """Simulate one Ronchigram; PNG with an angle scale in mrad, or .npy (float32 camera counts, >= 0)."""
        import numpy as np

        from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator
        from beamloop.sim.units import parse_angle, parse_energy

        ab = _parse_aberrations(aberrations or [])
        e_ev = energy_ev if energy_ev is not None else _unit(parse_energy, energy, "--energy")
        a_rad = alpha_rad if alpha_rad is not None else _unit(parse_angle, alpha, "--alpha")
        try:
            cfg = RonchigramConfig(size_px=size, energy_eV=e_ev, convergence_semiangle_rad=a_rad,
                                   sample=sample, dose_e=dose)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        # camera counts: the readout noise of the camera model can push a pixel below zero; a
        # camera reports counts >= 0 (it clips at its offset), so does the file
        simulator = RonchigramSimulator(cfg, seed=seed)
        _check_samplable(simulator, ab)
        img = np.clip(simulator.simulate(ab), 0, None).astype(np.float32)
        if out.suffix == ".npy":
            np.save(out, img)
        else:
            from beamloop.sim.figure_style import SAMPLE_LABELS, ronchigram_figure

            ronchigram_figure(img, cfg.camera_rad_per_px, out,
                              title=f"{_aberration_label(ab)}\n{e_ev / 1e3:g} kV, alpha {a_rad * 1e3:g} mrad, {SAMPLE_LABELS.get(sample, sample)}",
                              alpha_rad=a_rad)
        typer.echo(f"wrote {out} ({_aberration_label(ab)}; {cfg.camera_rad_per_px * 1e3:.3f} mrad per pixel)")

    @sim.command("metrics")
    def metrics(
        aberrations: list[str] = typer.Argument(None, help="NAME=VALUE with a unit, e.g. C10=2nm A1x=1nm (bare number: metres)"),
        energy: str = typer.Option("300kV", "--energy", help="beam energy, e.g. 300kV (bare number: eV)"),
        energy_ev: Optional[float] = typer.Option(None, "--energy-ev", hidden=True),
        alpha: str = typer.Option("30mrad", "--alpha", help="convergence semi-angle, e.g. 30mrad (bare number: rad)"),
        alpha_rad: Optional[float] = typer.Option(None, "--alpha-rad", hidden=True),
        as_json: bool = typer.Option(False, "--json", help="one JSON object (SI units) instead of the table"),
    ) -> None:
        """Beam-quality metrics (pi/4 aperture, Rayleigh resolution, Strehl, d50, distance) as a table."""
        import json

        from beamloop.sim.metrics import probe_metrics
        from beamloop.sim.units import format_angle, format_length, parse_angle, parse_energy

        ab = _parse_aberrations(aberrations or [])
        e_ev = energy_ev if energy_ev is not None else _unit(parse_energy, energy, "--energy")
        a_rad = alpha_rad if alpha_rad is not None else _unit(parse_angle, alpha, "--alpha")
        try:
            m = probe_metrics(ab, e_ev, a_rad)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if as_json:
            typer.echo(json.dumps(m))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"probe metrics: {_aberration_label(ab)} ({e_ev / 1e3:g} kV, convergence {format_angle(a_rad)})")
        t.add_column("metric")
        t.add_column("value", justify="right")
        t.add_column("note")
        cap = m["pi4_aperture_capped"]
        t.add_row("pi/4 aperture", (">= " if cap else "") + format_angle(m["pi4_aperture_rad"]),
                  f"search cap {format_angle(m['pi4_search_cap_rad'])} reached: no aberration limit below it" if cap
                  else "largest aperture with peak-to-peak phase < pi/4")
        t.add_row("usable aperture", format_angle(m["usable_aperture_rad"]), f"limited by the {m['rayleigh_limited_by']}")
        t.add_row("Rayleigh resolution", f"{m['rayleigh_resolution_angstrom']:.2f} A", "0.61 lambda / usable aperture")
        t.add_row("Strehl ratio", f"{m['strehl']:.3g}", "peak intensity / unaberrated peak")
        t.add_row("probe d50", format_length(m["d50_m"]), "diameter holding 50 % of the current")
        t.add_row("aberration distance", f"{m['distance_rad']:.3g} rad", "phase at the aperture edge, all coefficients")
        Console(width=max(100, Console().width)).print(t)

    @bench.command("sim")
    def bench_sim(
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        frames: int = typer.Option(1024, help="frames per 128-px measurement"),
        abtem: bool = typer.Option(True, help="also time abTEM on the same Ronchigram"),
        out: Optional[Path] = typer.Option(None, help="result file (default bench_results/sim.json)"),
    ) -> None:
        """Ronchigrams per second (128, 256 px; fresh aberrations and noise) and abTEM ratio."""
        from beamloop.sim.bench import run
        from beamloop.tools.benchio import emit

        emit("sim", run(n_frames=frames, with_abtem=abtem), as_json, out)
