"""``beamloop twin`` (serve the microscope twin on loopback) and ``beamloop bench link``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("twin")
    def twin(
        control: str = typer.Option("tcp://127.0.0.1:5555", help="control endpoint to bind (ROUTER)"),
        data: str = typer.Option("tcp://127.0.0.1:5556", help="data endpoint to bind (PUB)"),
        seed: int = typer.Option(0, help="twin seed (noise, drift directions)"),
        size: int = typer.Option(128, help="Ronchigram size in pixels"),
        frame_rate: float = typer.Option(50.0, help="detector frame rate (Hz); exposure = 1/frame_rate"),
        pace: bool = typer.Option(True, help="follow wall-clock time (settle and exposure really take time)"),
        drift: bool = typer.Option(True, help="aberrations drift slowly with time"),
        noise: bool = typer.Option(True, help="detector shot noise"),
        misalign: bool = typer.Option(True, help="start from random hidden aberration offsets"),
    ) -> None:
        """Serve the microscope twin over the beamloop protocol (see docs/protocol.md) until Ctrl-C."""
        import logging
        import sys

        import numpy as np

        from beamloop.controller.serve.twin_server import TwinServer
        from beamloop.sim.microscope import Microscope, MicroscopeConfig

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        sys.setswitchinterval(2e-4)  # control thread gets the GIL quickly while frames stream
        from beamloop.controller.bench.align import twin_ronchigram_options

        # the same simulator settings as the embedded twin of `beamloop align` (frames up to ~700 nm of C1)
        cfg = MicroscopeConfig(frame_rate_hz=frame_rate, drift=drift, noise=noise,
                               ronchigram={**twin_ronchigram_options(), "size_px": size})
        m = Microscope(cfg, seed=seed)
        if misalign:
            m.misalign(np.random.default_rng(seed), {"C10": 100e-9, "C12.x": 30e-9, "C12.y": 30e-9,
                                                     "C21.x": 300e-9, "C21.y": 300e-9})
        import zmq

        typer.echo("building the Ronchigram simulator ...")
        m.prepare()
        try:
            server = TwinServer(m, control, data, pace=pace, prepare=False).start()
        except zmq.ZMQError as exc:
            typer.echo(f"error: cannot bind control {control!r} / data {data!r}: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"twin serving: control {server.control_addr}  data {server.data_addr}  session {server.session}")
        typer.echo(f"knobs: {', '.join(m.knob_specs())} (m); Ctrl-C to stop")
        server.serve_forever()

    @bench.command("link")
    def bench_link(
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        out: Path = typer.Option(None, help="result file (default bench_results/link.json)"),
        n_128: int = typer.Option(30000, help="frames in the 128x128 flat-out runs"),
        n_512: int = typer.Option(1500, help="frames in the 512x512 flat-out run"),
        rate: float = typer.Option(10000.0, help="paced stream rate (frames/s) for the control-latency run"),
        seconds: float = typer.Option(4.0, help="duration of the paced run (s)"),
        ping_ms: float = typer.Option(4.0, help="one control round trip every this many ms during the streams"),
    ) -> None:
        """Data-channel frames/s (TCP, IPC), lost frames, control round trips under load."""
        from beamloop.controller.bench.link import main
        from beamloop.tools.benchio import emit

        res = main(n_128=n_128, n_512=n_512, sustain_rate_hz=rate, sustain_s=seconds, ping_s=ping_ms / 1e3)
        emit("link", res, as_json, out)
