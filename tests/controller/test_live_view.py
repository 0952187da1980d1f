"""The live view page in headless Chromium (Debian's chromium + chromium-driver, selenium).

Screenshot artefact: test_artifacts/live_view.png (also under pytest's tmp_path)."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from beamloop.controller.run.loop import run_alignment
from beamloop.controller.run.record import RunRecorder
from beamloop.controller.serve.live_view import LiveView

from .conftest import FakeBackend, ScriptedPolicy  # noqa: F401

ARTEFACTS = Path(__file__).resolve().parents[2] / "test_artifacts"


def _driver():
    webdriver = pytest.importorskip("selenium.webdriver")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    drv = shutil.which("chromedriver")
    if not chrome or not drv:
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/setup.sh)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,700"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(drv), options=opts)


def _wait(fn, timeout=15.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the page")


class SlowPolicy(ScriptedPolicy):
    def observe(self, setting, frame):
        time.sleep(0.4)  # a run slow enough to watch it update
        return super().observe(setting, frame)


def test_live_view_updates_while_the_loop_runs(tmp_path):
    view = LiveView(port=0)
    url = view.start()
    driver = _driver()
    try:
        driver.get(url)
        _wait(lambda: driver.find_element("id", "status").text == "live")
        backend = FakeBackend()
        pol = SlowPolicy([{"C10": i * 10e-9, "C12.x": -i * 5e-9} for i in range(8)])
        done = threading.Event()

        def run():
            with RunRecorder(tmp_path / "run.h5", ["C10", "C12.x"], {"policy": "scripted"}, backend.info) as rec:
                rec.subscribe(view.publish)
                asyncio.run(run_alignment(backend, pol, ["C10", "C12.x"], recorder=rec, offload_policy=False))
                rec.event("trigger", "region 2 fired", region=2)
            done.set()

        threading.Thread(target=run, daemon=True).start()
        first = int(_wait(lambda: (driver.find_element("id", "steps").text or "0") != "0" and driver.find_element("id", "steps").text))
        assert not done.is_set()  # the page moved while the loop was still running
        _wait(done.is_set, 30)
        _wait(lambda: driver.find_element("id", "steps").text == "8")
        assert int(driver.find_element("id", "steps").text) > first
        src = driver.find_element("id", "ronchigram").get_attribute("src")
        assert src.startswith("data:image/png;base64,") and len(src) > 200
        _wait(lambda: "trigger" in driver.find_element("id", "events").text)
        assert "C12.x" in driver.find_element("id", "estimate").text
        ARTEFACTS.mkdir(exist_ok=True)
        for p in (tmp_path / "live_view.png", ARTEFACTS / "live_view.png"):
            driver.save_screenshot(str(p))
        assert (tmp_path / "live_view.png").stat().st_size > 5000
    finally:
        driver.quit()
        view.stop()


def test_live_view_subscribes_to_the_data_channel():
    import zmq

    from beamloop.controller.protocol import messages as P

    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    view = LiveView(port=0)
    view.start()
    try:
        view.subscribe_data(f"tcp://127.0.0.1:{port}")
        img = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
        t0 = time.time()
        while view.state["frame"] is None and time.time() - t0 < 10:
            h = P.FrameHeader(1, 0.0, time.time(), "uint16", img.shape, {"C10": 0.0}, None, "s1",
                              {"true_aberrations": {"C10": 5e-9}})
            pub.send_multipart(P.frame_message(h, img))
            time.sleep(0.1)
        assert view.state["frame"] is not None and view.state["frame"]["truth"] == {"C10": 5e-9}
    finally:
        view.stop()
        pub.close(0)
