"""``beamloop sim ...`` (gallery, one Ronchigram, probe metrics) and ``beamloop bench sim``.

Thin wiring: the physics is in :mod:`beamloop.sim`; heavy imports happen inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _parse_aberrations(items: list[str]):
    """``["C10=50e-9", "A1.x=20e-9"]`` -> Aberrations (metres)."""
    from beamloop.sim.aberrations import Aberrations

    values = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"aberration {item!r} must look like NAME=VALUE (metres), e.g. C10=50e-9")
        name, value = item.split("=", 1)
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"aberration {name!r}: {value!r} is not a number (metres)") from None
    try:
        return Aberrations(values)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None


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
        aberrations: list[str] = typer.Argument(None, help="NAME=VALUE in metres, e.g. C10=50e-9 A1.x=20e-9"),
        out: Path = typer.Option(Path("ronchigram.png"), "--out", "-o", help=".png or .npy"),
        size: int = typer.Option(128),
        energy_ev: float = typer.Option(300e3, "--energy-ev"),
        alpha_rad: float = typer.Option(30e-3, "--alpha-rad", help="convergence semi-angle (rad)"),
        sample: str = typer.Option("amorphous_carbon", help="amorphous_carbon | si100 | si110"),
        dose: float = typer.Option(1e6, help="electrons per frame"),
        seed: int = typer.Option(0),
    ) -> None:
        """Simulate one Ronchigram and write it as PNG or .npy (float32 counts)."""
        import numpy as np

        from beamloop.sim.ronchigram import RonchigramConfig, RonchigramSimulator

        ab = _parse_aberrations(aberrations or [])
        try:
            cfg = RonchigramConfig(size_px=size, energy_eV=energy_ev, convergence_semiangle_rad=alpha_rad,
                                   sample=sample, dose_e=dose)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        img = RonchigramSimulator(cfg, seed=seed).simulate(ab)
        if out.suffix == ".npy":
            np.save(out, img)
        else:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            plt.imsave(out, img.T, origin="lower", cmap="gray")
        typer.echo(f"wrote {out} ({ab!r})")

    @sim.command("metrics")
    def metrics(
        aberrations: list[str] = typer.Argument(None, help="NAME=VALUE in metres"),
        energy_ev: float = typer.Option(300e3, "--energy-ev"),
        alpha_rad: float = typer.Option(30e-3, "--alpha-rad"),
    ) -> None:
        """Beam-quality metrics (pi/4 aperture, Rayleigh resolution, Strehl, d50, distance)."""
        import json

        from beamloop.sim.metrics import probe_metrics

        ab = _parse_aberrations(aberrations or [])
        typer.echo(json.dumps(probe_metrics(ab, energy_ev, alpha_rad)))

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
