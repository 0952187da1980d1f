"""``beamloop twin`` (serve the microscope twin on loopback) and ``beamloop bench link``."""

from __future__ import annotations

from pathlib import Path

import math
from typing import Optional

import typer


def _positive_rate(x: float) -> float:
    if not (math.isfinite(x) and 0 < x <= 10_000):
        raise typer.BadParameter(f"must be a frame rate in (0, 10000] Hz, got {x}")
    return x


def _ttl(x: float) -> float:
    from beamloop.controller.serve.lease import MAX_TTL_S, MIN_TTL_S

    if not (math.isfinite(x) and MIN_TTL_S <= x <= MAX_TTL_S):
        raise typer.BadParameter(f"must be in [{MIN_TTL_S}, {MAX_TTL_S}] s, got {x}")
    return x


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("twin")
    def twin(
        control: str = typer.Option("tcp://127.0.0.1:5555", help="control endpoint to bind (ROUTER)"),
        data: str = typer.Option("tcp://127.0.0.1:5556", help="data endpoint to bind (PUB)"),
        seed: int = typer.Option(0, min=0, max=2**63 - 1, help="twin seed (noise, drift directions)"),
        size: int = typer.Option(128, min=16, max=2048, help="Ronchigram size in pixels"),
        frame_rate: float = typer.Option(50.0, callback=_positive_rate, help="detector frame rate (Hz); exposure = 1/frame_rate"),
        pace: bool = typer.Option(True, help="follow wall-clock time (settle and exposure really take time)"),
        drift: bool = typer.Option(True, help="aberrations drift slowly with time"),
        noise: bool = typer.Option(True, help="detector shot noise"),
        misalign: bool = typer.Option(True, help="start from random hidden aberration offsets"),
        keys: Optional[Path] = typer.Option(None, "--keys", help="CURVE key directory (`beamloop keys generate`): "
                                            "only authorised clients connect. Required to bind a non-loopback address."),
        lease_ttl: float = typer.Option(5.0, "--lease-ttl", callback=_ttl, help="dead-man: a controller silent this long "
                                        "(s) loses its lease and the knobs go back to their values at lease start"),
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
        from beamloop.tools.serve_options import checked_server_keys, start_or_exit

        server_k = checked_server_keys(keys, control, data)
        typer.echo("building the Ronchigram simulator ...")
        m.prepare()
        server = start_or_exit(lambda: TwinServer(m, control, data, pace=pace, prepare=False, keys=server_k,
                                                  lease_ttl_s=lease_ttl).start(), control, data)
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
