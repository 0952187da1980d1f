"""The ``beamloop`` command line.

Thin wiring only: each command group lives in its own module under
``beamloop.tools`` and exposes ``register(app, bench)``; heavy imports (torch,
hls4ml, zmq) happen inside the command functions so ``beamloop --help`` is fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="beamloop",
    help="Closed-loop STEM alignment and triggering: twin, networks, FPGA IP, controller.",
    no_args_is_help=True,
    add_completion=False,
)
bench = typer.Typer(help="Benchmarks: print one JSON object and write it to a file.", no_args_is_help=True)
app.add_typer(bench, name="bench")

# Command modules, each with register(app, bench). Order sets the help listing.
COMMAND_MODULES = [
    "sim_cmd",      # beamloop sim ..., beamloop bench sim
    "twin_cmd",     # beamloop twin
    "keys_cmd",     # beamloop keys generate|list (CURVE keys of the instrument link)
    "align_cmd",    # beamloop align, beamloop bench align, beamloop bench link
    "view_cmd",     # beamloop view (live web page of a data channel)
    "instrument_cmd",  # beamloop serve --instrument, beamloop instruments, beamloop calibrate
    "train_cmd",    # beamloop train ...
    "compile_cmd",  # beamloop compile ..., beamloop bench fpga
    "flash_cmd",    # beamloop flash
    "hil_cmd",      # beamloop bench hil (RTL in the loop)
    "keep_cmd",     # beamloop keep (watch mode: re-align on drift triggers)
    "explore_cmd",  # beamloop explore, beamloop bench explore
    "eval_cmd",     # beamloop eval foreign
]

for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"beamloop.tools.{_name}")
    except ModuleNotFoundError as exc:  # module not written yet
        if exc.name != f"beamloop.tools.{_name}":
            raise
        continue
    _mod.register(app, bench)


@app.command()
def version() -> None:
    """Print the beamloop version."""
    from beamloop import __version__

    typer.echo(__version__)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
