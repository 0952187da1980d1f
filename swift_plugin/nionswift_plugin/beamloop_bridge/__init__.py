"""Nion Swift plug-in: beamloop's bridge, found by Swift itself at start-up.

Swift's plug-in manager imports every module of the ``nionswift_plugin`` namespace package
(``pkgutil.iter_modules(nionswift_plugin.__path__)``, after its ``manifest.json`` requirements
are met: here the instrumentation kit) and then calls each module's ``run()``; ``stop()`` at
shut-down. Install: put ``swift_plugin/`` of the beamloop repository on Swift's Python path (or
copy ``nionswift_plugin/beamloop_bridge`` into the site-packages' ``nionswift_plugin`` folder)
next to an installed ``beamloop``.

Serving lenses over the network is a decision, not a default: the bridge starts only when the
environment says so, ``BEAMLOOP_BRIDGE=1`` (optional ``BEAMLOOP_BRIDGE_PROFILE``, default ``nion``;
``BEAMLOOP_BRIDGE_CONTROL`` / ``BEAMLOOP_BRIDGE_DATA``, default ``tcp://127.0.0.1:5555`` / ``:5556``;
``BEAMLOOP_BRIDGE_KEYS``, a CURVE key folder, required for a non-loopback address). Instrument
plug-ins register their STEM controller and Ronchigram camera in their own ``run()``, which may
come after this one, so the bridge starts at the first registration that completes the pair
(:func:`beamloop.controller.serve.nion_plugin.start_bridge`: never a fallback simulator).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from nion.utils import Registry

ENV = "BEAMLOOP_BRIDGE"
_log = logging.getLogger("beamloop.bridge")
_state: dict[str, Any] = {"bridge": None, "listener": None, "error": None}


def enabled() -> bool:
    """The environment asks for the bridge (``BEAMLOOP_BRIDGE`` = 1/on/yes/true)."""
    return os.environ.get(ENV, "").strip().lower() in ("1", "on", "yes", "true")


def bridge() -> Any:
    """The running :class:`~beamloop.controller.serve.nion_plugin.Bridge`, or None."""
    return _state["bridge"]


def _try_start(*_: Any) -> None:
    """Start the bridge if Swift's STEM controller and Ronchigram camera are both registered."""
    if _state["bridge"] is not None:
        return
    from beamloop.controller.core.backend import ConnectionLostError
    from beamloop.controller.serve.nion_plugin import start_bridge

    try:
        _state["bridge"] = start_bridge(os.environ.get("BEAMLOOP_BRIDGE_PROFILE", "nion"),
                                        os.environ.get("BEAMLOOP_BRIDGE_CONTROL", "tcp://127.0.0.1:5555"),
                                        os.environ.get("BEAMLOOP_BRIDGE_DATA", "tcp://127.0.0.1:5556"),
                                        keys_dir=os.environ.get("BEAMLOOP_BRIDGE_KEYS") or None)
    except ConnectionLostError:
        return                                  # the instrument is not (fully) registered yet
    except Exception as exc:                    # noqa: BLE001 - a plug-in must not take Swift down
        _state["error"] = f"{type(exc).__name__}: {exc}"
        _log.error("beamloop bridge not started: %s", _state["error"])
        return
    b = _state["bridge"]
    _log.info("beamloop bridge serving %s: control %s data %s", b.profile.name, b.control_addr, b.data_addr)


def run() -> None:
    """Swift's start-up hook: wait for the instrument's registration and serve it (if enabled)."""
    if not enabled():
        _log.info("beamloop bridge available; set %s=1 to serve this instrument", ENV)
        return
    _state["listener"] = Registry.listen_component_registered_event(_try_start)
    _try_start()


def stop() -> None:
    """Swift's shut-down hook: stop serving (the lease's way back has run for a holder)."""
    if _state["listener"] is not None:
        _state["listener"].close()
        _state["listener"] = None
    if _state["bridge"] is not None:
        _state["bridge"].stop()
        _state["bridge"] = None
