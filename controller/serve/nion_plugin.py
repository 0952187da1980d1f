"""beamloop inside a running Nion Swift: serve Swift's instrument over beamloop's protocol.

In Swift (its Python console, or a plug-in file, see docs/instruments.md)::

    from beamloop.controller.serve.nion_plugin import start_bridge
    bridge = start_bridge()          # tcp://127.0.0.1:5555 / :5556, the "nion" profile
    ...                              # beamloop align --microscope tcp://127.0.0.1:5555 (any computer with keys)
    bridge.stop()

:func:`start_bridge` takes the STEM controller and Ronchigram camera Swift has registered
(``Registry`` components ``stem_controller`` and ``ronchigram_camera_hardware_source``, exactly
what :func:`~beamloop.controller.instruments.nion.from_registry` uses - never a fallback
simulator: inside Swift a missing instrument is an error) and serves them with the generic
:class:`~.instrument_server.InstrumentServer` (lease/dead-man, fair queue, CURVE keys). The
server runs in its own threads, so Swift's UI thread is never blocked; :meth:`Bridge.stop` ends
them. A non-loopback address needs keys (``beamloop keys generate``), as for ``beamloop serve``.

Tested headless with nionswift-usim registered the way Swift registers its instruments
(tests/controller/instruments/test_nion_plugin.py). Units: SI, as the adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from beamloop.controller.instruments.nion import from_registry
from beamloop.controller.instruments.profile import InstrumentProfile, load_profile
from beamloop.controller.protocol import keys as K
from beamloop.controller.serve.instrument_server import DEFAULT_CONTROL_ADDR, DEFAULT_DATA_ADDR, InstrumentServer
from beamloop.controller.serve.lease import DEFAULT_TTL_S

__all__ = ["Bridge", "start_bridge"]


@dataclass
class Bridge:
    """A running bridge: its server (``control_addr``, ``data_addr``, ``session``) and profile."""

    server: InstrumentServer
    profile: InstrumentProfile

    @property
    def control_addr(self) -> str:
        return self.server.control_addr

    @property
    def data_addr(self) -> str:
        return self.server.data_addr

    def stop(self) -> None:
        """Stop serving (idempotent); the lease's way back has already run if a controller held it."""
        self.server.stop()


def start_bridge(profile: str | Path | InstrumentProfile = "nion", control: str = DEFAULT_CONTROL_ADDR,
                 data: str = DEFAULT_DATA_ADDR, keys_dir: str | Path | None = None,
                 lease_ttl_s: float = DEFAULT_TTL_S) -> Bridge:
    """Serve the instrument registered in this (Swift) process; see the module docstring.
    Raises :class:`~beamloop.controller.core.backend.ConnectionLostError` if Swift has no STEM
    controller or Ronchigram camera registered, :class:`~beamloop.controller.protocol.keys.InsecureBindError`
    for a non-loopback address without keys, ProfileError for a bad profile."""
    prof = profile if isinstance(profile, InstrumentProfile) else load_profile(profile)
    server_k = K.server_keys(Path(keys_dir)) if keys_dir is not None else None
    K.check_bind(control, server_k)
    K.check_bind(data, server_k)
    backend = from_registry(prof)
    server = InstrumentServer(backend, control, data, keys=server_k, lease_ttl_s=lease_ttl_s).start()
    return Bridge(server, prof)
