"""``beamloop flash``: build a bitstream and program the board, or say exactly what is missing."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def flash(
        board: str = typer.Option("icebreaker", help="icebreaker (iCE40 open flow), ulx3s (ECP5 open flow, full top) or arty_a7 (Vivado)"),
        build_only: bool = typer.Option(False, "--build-only", help="build the bitstream, do not program"),
        out: Path = typer.Option(None, help="build directory (default build_<board>)"),
        real_net: bool = typer.Option(False, "--real-net", help="arty_a7: use rtl/trigger_net.v (da4ml) instead of the placeholder"),
    ) -> None:
        """Build the FPGA bitstream for BOARD and program it (SRAM) with iceprog/openFPGALoader/Vivado."""
        import subprocess

        from beamloop.firmware.build import BOARDS, BuildError, build_arty, build_ice40, missing_tools, program_command

        if board not in BOARDS:
            raise typer.BadParameter(f"unknown board {board!r}; choose one of {sorted(BOARDS)}", param_hint="--board")
        out = out or Path(f"build_{board}")
        miss = missing_tools(board, program=not build_only)
        build_missing = [t for t in miss if t in BOARDS[board]["build_tools"]]
        if build_missing:
            typer.echo(f"cannot build for {board}: missing {', '.join(build_missing)} on PATH", err=True)
            if board == "arty_a7":
                from beamloop.firmware.build import vivado_command
                typer.echo("install Vivado ML (WebPACK covers xc7a35t), source settings64.sh, then run:\n  "
                           + " ".join(vivado_command(out, real_net)), err=True)
            else:
                typer.echo("Debian: apt-get install yosys nextpnr-ice40 fpga-icestorm", err=True)
            raise typer.Exit(2)
        try:
            if board == "ulx3s":
                from beamloop.firmware.build_ecp5 import build_ulx3s

                res = build_ulx3s(out)
            else:
                res = build_ice40(out) if board == "icebreaker" else build_arty(out, real_net)
        except BuildError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1)
        if board == "ulx3s":
            import json

            from beamloop.firmware.build_ecp5 import summary
            from beamloop.tools.benchio import DEFAULT_DIR

            DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
            (DEFAULT_DIR / "ecp5_build.json").write_text(json.dumps(summary(res), indent=2) + "\n")
            typer.echo(f"figures: {DEFAULT_DIR / 'ecp5_build.json'}")
        typer.echo(f"bitstream: {res.bitstream}")
        for k, (used, total) in res.utilisation.items():
            if used:
                typer.echo(f"  {k}: {used}/{total}")
        if res.fmax_mhz:
            typer.echo(f"  fmax: {res.fmax_mhz:.1f} MHz" + (" (design clock 100 MHz)" if board == "ulx3s" else ""))
        if build_only:
            return
        if miss:
            typer.echo(f"built, but cannot program {board}: missing {', '.join(miss)} on PATH "
                       "(Debian: apt-get install fpga-icestorm or openfpgaloader)", err=True)
            raise typer.Exit(2)
        cmd = program_command(board, res.bitstream)
        typer.echo("programming: " + " ".join(cmd))
        r = subprocess.run(cmd)
        if r.returncode != 0:
            typer.echo(f"programming failed (exit {r.returncode}); is the board connected and accessible?", err=True)
            raise typer.Exit(1)
