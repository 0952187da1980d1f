"""The nionswift_plugin.beamloop_bridge module: Swift's plug-in discovery finds it, headless."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

pytest.importorskip("nion.usim_device", reason="nionswift-usim not installed (pip install -e .[nion])")

from nion.utils import Registry  # noqa: E402

from beamloop.controller.instruments.nion import UsimSession  # noqa: E402

PLUGIN_ROOT = Path(__file__).resolve().parents[3] / "swift_plugin"


@pytest.fixture()
def plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_ROOT))
    import nionswift_plugin

    importlib.invalidate_caches()
    names = [m.name for m in pkgutil.iter_modules(nionswift_plugin.__path__)]   # what Swift's PlugInManager does
    assert "beamloop_bridge" in names, names
    mod = importlib.import_module("nionswift_plugin.beamloop_bridge")
    yield mod
    mod.stop()


def test_manifest_is_valid_for_swift():
    m = json.loads((PLUGIN_ROOT / "nionswift_plugin" / "beamloop_bridge" / "manifest.json").read_text())
    assert {"name", "identifier", "version"} <= set(m)
    for req in m["requires"]:
        assert len(req.split()) == 3 and req.split()[1] == "~="


def test_disabled_by_default(plugin, monkeypatch):
    monkeypatch.delenv("BEAMLOOP_BRIDGE", raising=False)
    plugin.run()
    assert plugin.bridge() is None


def test_starts_when_the_instrument_registers_after_it(plugin, monkeypatch):
    monkeypatch.setenv("BEAMLOOP_BRIDGE", "1")
    monkeypatch.setenv("BEAMLOOP_BRIDGE_CONTROL", "tcp://127.0.0.1:0")
    monkeypatch.setenv("BEAMLOOP_BRIDGE_DATA", "tcp://127.0.0.1:0")
    usim = UsimSession(noise=False)         # registers the STEM controller (not the camera yet)
    try:
        plugin.run()
        assert plugin.bridge() is None       # no Ronchigram camera registered: waits, no fallback
        Registry.register_component(usim.camera, {"ronchigram_camera_hardware_source"})   # as Swift does
        try:
            b = plugin.bridge()
            assert b is not None and b.control_addr.startswith("tcp://127.0.0.1:")
            plugin.stop()
            assert plugin.bridge() is None
        finally:
            Registry.unregister_component(usim.camera, {"ronchigram_camera_hardware_source"})
    finally:
        usim.close()
