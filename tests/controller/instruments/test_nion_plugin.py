"""The Swift-side bridge (controller/serve/nion_plugin.py) on nionswift-usim registered as Swift does."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("nion.usim_device", reason="nionswift-usim not installed (pip install -e .[nion])")

from nion.utils import Registry  # noqa: E402

from beamloop.controller.core.backend import ConnectionLostError, KnobLimitError  # noqa: E402
from beamloop.controller.instruments.nion import UsimSession  # noqa: E402
from beamloop.controller.instruments.profile import load_profile  # noqa: E402
from beamloop.controller.instruments.zmq_client import ZmqTwinBackend  # noqa: E402
from beamloop.controller.serve.nion_plugin import start_bridge  # noqa: E402

LOOP = "tcp://127.0.0.1:0"


@pytest.fixture(scope="module")
def usim():
    s = UsimSession(noise=False)
    yield s
    s.close()


def test_no_registered_camera_is_an_error_not_a_fallback(usim):
    assert Registry.get_component("ronchigram_camera_hardware_source") is None
    with pytest.raises(ConnectionLostError, match="Ronchigram camera"):
        start_bridge("nion", LOOP, LOOP)


def test_bridge_serves_the_registered_instrument(usim):
    Registry.register_component(usim.camera, {"ronchigram_camera_hardware_source"})   # what Swift does
    bridge = start_bridge("nion", LOOP, LOOP)
    profile = load_profile("nion")

    async def go():
        b = ZmqTwinBackend(bridge.control_addr, bridge.data_addr, timeout_s=10.0, acquire_timeout_s=60.0)
        await b.connect()
        try:
            assert set(await b.knobs()) == {k.name for k in profile.knobs}
            got = await b.set({"C10": 150e-9, "C12.x": -20e-9})
            assert got["C10"] == pytest.approx(150e-9) and usim.stem_controller.GetVal("C10") == pytest.approx(150e-9)
            with pytest.raises(KnobLimitError):
                await b.set({"C10": 5e-6})                         # beyond the profile's 2 um: refused
            assert usim.stem_controller.GetVal("C10") == pytest.approx(150e-9)   # nothing applied
            frame = await b.acquire()
            assert frame.image.shape == tuple(profile.camera.size_px)
        finally:
            await b.close()

    try:
        asyncio.run(go())
    finally:
        bridge.stop()
        Registry.unregister_component(usim.camera, {"ronchigram_camera_hardware_source"})
