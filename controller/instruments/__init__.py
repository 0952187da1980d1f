"""Instruments: everything that implements the :class:`MicroscopeBackend` interface.

The interface and its value types live one layer down, in ``beamloop.controller.core.backend``
(so policies and estimation can use ``Frame`` and ``KnobInfo`` without importing any
transport); they are re-exported here because this is where an adapter author looks.
Implementations, one per module: ``local_twin`` (in-process twin), ``zmq_client`` (any
instrument served over beamloop's ZeroMQ protocol), ``board`` (the serial DAC board,
driver in ``board_driver``).
"""

from beamloop.controller.core.backend import *  # noqa: F401,F403
from beamloop.controller.core.backend import __all__  # noqa: F401
