"""Serve the microscope twin: :class:`TwinBackend` behind the generic :class:`InstrumentServer`.

``TwinServer(microscope, control_addr, data_addr, pace=...)`` is kept as the twin's
name for that pair (``beamloop twin``, tests); :func:`start_embedded_twin` (a twin in a
background thread or subprocess on loopback) lives in :mod:`.embedded` and is re-exported.
"""

from __future__ import annotations

from beamloop.controller.serve.embedded import start_embedded_twin  # noqa: F401 - re-export
from beamloop.controller.serve.instrument_server import (  # noqa: F401 - re-export
    DATA_HWM_FRAMES,
    DEFAULT_CONTROL_ADDR,
    DEFAULT_DATA_ADDR,
    MAX_CONTROL_BYTES,
    InstrumentServer,
)
from beamloop.controller.serve.twin_backend import TwinBackend
from beamloop.sim.microscope import Microscope


class TwinServer(InstrumentServer):
    """A :class:`Microscope` served over the protocol. ``pace``: follow wall-clock time
    (see :mod:`.twin_backend`); ``prepare``: build the Ronchigram simulator before serving.
    Other keywords (``keys``, ``lease_ttl_s``, ``data_hwm`` ...) as for :class:`InstrumentServer`."""

    def __init__(self, microscope: Microscope, control_addr: str = DEFAULT_CONTROL_ADDR,
                 data_addr: str = DEFAULT_DATA_ADDR, *, pace: bool = False, prepare: bool = True, **kw):
        self.microscope = microscope
        kw.pop("context", None)  # each server owns its contexts now (separate I/O threads, own ZAP handler)
        super().__init__(TwinBackend(microscope, pace=pace), control_addr, data_addr, prepare=prepare, **kw)


if __name__ == "__main__":  # old entry point of the embedded-twin subprocess
    from beamloop.controller.serve.embedded import _child_main

    _child_main()
