"""``beamloop view``: the live view of an instrument's data channel (web page, aiohttp).

Thin wiring over :class:`beamloop.controller.serve.live_view.LiveView`. ``beamloop align --view``
serves the same page fed by the run itself (estimates, residuals, events).
"""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("view")
    def view(
        data: str = typer.Option("tcp://127.0.0.1:5556", "--data", help="The instrument's data channel (ZeroMQ PUB) to subscribe to."),
        port: int = typer.Option(8765, "--port", help="HTTP port of the page."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to serve on (default: this machine only)."),
    ) -> None:
        """Serve a web page showing the frames published on an instrument's data channel, live. Ctrl-C stops."""
        import time

        from beamloop.controller.serve.live_view import LiveView

        live = LiveView(host=host, port=port, title=f"beamloop view - {data}")
        typer.echo(f"live view of {data}: {live.start()}  (Ctrl-C stops)")
        live.subscribe_data(data)
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            live.stop()
