"""``beamloop keep``: align, then keep the column aligned on trigger events (controller/run/watch.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("keep")
    def keep(
        instrument: str = typer.Option("twin", help="instrument profile (board-rtl: the RTL's own trigger)"),
        axes: str = typer.Option("C10,C12.x,C12.y", help="comma-separated knobs to align"),
        policy: str = typer.Option("nn", help="alignment policy"),
        estimator: str = typer.Option("integer", help="nn arithmetic: integer (= the FPGA) or torch"),
        watch_frames: int = typer.Option(40, help="frames to watch after aligning"),
        max_realignments: int = typer.Option(3, help="re-alignments before giving up"),
        sample_change: float = typer.Option(0.05, help="relative total-count change that marks a sample change"),
        record: Optional[Path] = typer.Option(None, help="NeXus run record (.nxs) with every trigger"),
        seed: int = typer.Option(0),
        json_out: bool = typer.Option(False, "--json", help="print one JSON object at the end"),
    ) -> None:
        """After aligning, watch: a drift trigger re-aligns, a sample-change trigger pauses and says so."""
        from beamloop.controller.run.watch import WatchConfig, run_keep
        from beamloop.controller.run.way_back import Interrupted

        cfg = WatchConfig(watch_frames=watch_frames, max_realignments=max_realignments,
                          sample_change_rel=sample_change)
        try:
            res = run_keep(instrument, axes.split(","), policy, cfg, record, seed, estimator,
                           say=lambda m: typer.echo(m, err=json_out))
        except Interrupted as exc:
            # a running alignment's knobs were put back and read back (its restore message is above);
            # between alignments no knob moves, so an interrupted watch leaves the aligned setting
            typer.echo(f"aborted ({exc}): an alignment that was running was undone (restore message above); "
                       "an interrupted watch leaves the column at its aligned setting", err=True)
            raise typer.Exit(130 if exc.signum == 2 else 143) from None
        typer.echo(json.dumps(res, default=float) if json_out else res["message"])
        if res["status"] not in ("watched", "paused_sample_change"):
            raise typer.Exit(1)
