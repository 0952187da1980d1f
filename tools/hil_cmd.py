"""``beamloop bench hil``: the alignment loop with the RTL (Icarus) in the command and trigger path."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @bench.command("hil")
    def bench_hil(
        json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
        out: Optional[Path] = typer.Option(None, "--out", help="result file (default bench_results/hil.json)"),
        trials: int = typer.Option(3, help="alignment trials through the RTL (0: probe only)"),
        axes: str = typer.Option("C10", help="comma-separated knobs to align"),
        max_frames: int = typer.Option(20, help="frame budget per trial"),
        seed: int = typer.Option(0),
        calibrate_response: bool = typer.Option(False, help="measure the knob response first (~40 RTL frames)"),
        policy: str = typer.Option("nn", help="alignment policy"),
        estimator: str = typer.Option("integer", help="nn arithmetic: integer (fixed point = the FPGA, bit-exact "
                                                      "with the hls4ml emulation) or torch"),
    ) -> None:
        """Controller -> host driver -> RTL UART/cmd_link/dac_limiter -> DACs -> twin; twin frames ->
        RTL trigger path. Heavy (Icarus): run under flock /tmp/beamloop-heavy.lock."""
        from beamloop.controller.bench.hil import run_hil_bench
        from beamloop.tools.benchio import emit

        res = run_hil_bench(trials=trials, axes=tuple(axes.split(",")), max_frames=max_frames, seed=seed, policy=policy, estimator=estimator,
                            calibrate_response=calibrate_response,
                            progress=lambda i, t: typer.echo(f"trial {i + 1}: {t['frames']} frames, success={t['success']}",
                                                             err=True))
        emit("hil", res, json_out, out)
