"""The live view: a small web page showing a run as it goes (``beamloop view``, ``beamloop align --view``).

An aiohttp server (its own thread and event loop, so it never slows the alignment loop) serves
one page and a websocket ``/ws``. Whatever is published reaches every open page as JSON:

* ``frame``: the current Ronchigram (PNG, base64) and its step;
* ``step``: cost, best so far, knob setting, the policy's estimate and 1-sigma (m);
* ``event``: pause, resume, trigger, calibration ... (kind, message, fields).

Sources: :meth:`LiveView.publish` (e.g. subscribed to a run record with
``recorder.subscribe(view.publish)``) and :meth:`LiveView.subscribe_data`, which subscribes to an
instrument's ZeroMQ data channel and shows every frame published there (with its meta, e.g. trigger
fields). A page that connects late gets the latest frame, all steps and the last 50 events.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("live_view.html")


def png_base64(img: np.ndarray, size: int = 256) -> str:
    """8-bit PNG (base64) of a Ronchigram, rows theta_x drawn as columns (like the reports), 0 .. p99.7."""
    from PIL import Image

    a = np.asarray(img, float)
    hi = float(np.percentile(a, 99.7)) if a.size else 1.0
    u8 = (np.clip(a / (hi if hi > 0 else 1.0), 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(np.flipud(u8.T)).resize((size, size), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return repr(obj)


class LiveView:
    """The live-view server. ``start()`` returns the page URL; ``publish(msg)`` from any thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, title: str = "beamloop live view"):
        self.host, self.port, self.title = host, port, title
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: set = set()
        self._ready = threading.Event()
        self._stop_data = threading.Event()
        self.state: dict[str, Any] = {"frame": None, "steps": [], "events": [], "axes": []}
        self.url = ""

    # -- publishing --------------------------------------------------------------------------
    def publish(self, msg: dict[str, Any]) -> None:
        """Show ``msg`` (a record listener message: ``type`` frame/step/event/result)."""
        kind = msg.get("type")
        if kind == "frame":
            out = {"type": "frame", "step": msg.get("step"), "png": png_base64(msg["image"]),
                   "truth": _clean(msg.get("truth", {})), "setting": _clean(msg.get("setting", {}))}
            self.state["frame"] = out
        elif kind == "step":
            out = _clean({k: v for k, v in msg.items()})
            self.state["steps"].append(out)
            for a in (msg.get("setting") or {}):
                if a not in self.state["axes"]:
                    self.state["axes"].append(a)
        else:
            out = _clean({k: v for k, v in msg.items()})
            self.state["events"] = (self.state["events"] + [out])[-50:]
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._broadcast, json.dumps(out))

    def _broadcast(self, text: str) -> None:
        for ws in list(self._clients):
            if not ws.closed:
                asyncio.ensure_future(ws.send_str(text))

    # -- server ------------------------------------------------------------------------------
    async def _index(self, request):
        from aiohttp import web

        return web.Response(text=PAGE.read_text().replace("{{TITLE}}", self.title), content_type="text/html")

    async def _ws(self, request):
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "snapshot", **self.state}))
        self._clients.add(ws)
        try:
            async for m in ws:
                if m.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(ws)
        return ws

    def _serve(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._ws)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, self.host, self.port)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # port 0: the one the OS chose
        self.url = f"http://{self.host}:{self.port}/"
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def start(self) -> str:
        """Start serving in a daemon thread; returns the page URL."""
        self._thread = threading.Thread(target=self._serve, name="beamloop-live-view", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"live view: could not start on {self.host}:{self.port}")
        return self.url

    def stop(self) -> None:
        self._stop_data.set()
        if self._loop is not None:
            loop = self._loop

            async def close_all():
                for ws in list(self._clients):
                    await ws.close()
                loop.stop()

            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(close_all()))
        if self._thread is not None:
            self._thread.join(5)

    # -- the instrument's data channel ---------------------------------------------------------
    def subscribe_data(self, address: str, keys: Any = None) -> threading.Thread:
        """Show every frame published on the ZeroMQ data channel at ``address`` (a thread)."""
        import zmq

        from beamloop.controller.protocol import messages as P

        def run():
            ctx = zmq.Context.instance()
            sock = ctx.socket(zmq.SUB)
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.setsockopt(zmq.RCVTIMEO, 200)
            sock.connect(address)
            n = 0
            try:
                while not self._stop_data.is_set():
                    try:
                        parts = sock.recv_multipart()
                    except zmq.Again:
                        continue
                    try:
                        h, image = P.decode_frame(parts)
                    except Exception as exc:  # noqa: BLE001 - a bad message is shown, not fatal
                        self.publish({"type": "event", "kind": "bad_frame", "message": str(exc)})
                        continue
                    n += 1
                    truth = (h.meta or {}).get("true_aberrations") or {}
                    self.publish({"type": "frame", "step": n, "image": image, "truth": truth, "setting": h.state or {}})
                    trig = (h.meta or {}).get("trigger")
                    if trig:
                        self.publish({"type": "event", "kind": "trigger", "message": f"frame {h.seq}", "fields": trig})
            finally:
                sock.close(0)

        t = threading.Thread(target=run, name="beamloop-live-view-data", daemon=True)
        t.start()
        return t
