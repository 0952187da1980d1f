"""Host board driver against the Python board model: in memory and over a real pty with
pyserial-asyncio."""

from __future__ import annotations

import asyncio
import os
import tty

import pytest

from beamloop.controller.instruments.board_driver import BoardLink, BoardRefused, BoardTimeout, LinkCodec, model_streams
from beamloop.firmware.board_model import BoardConfig, BoardModel


def _link(model, timeout=0.5):
    r, w = model_streams(model)
    return BoardLink(r, w, timeout=timeout)


def test_commands_and_refusals():
    async def run():
        m = BoardModel(BoardConfig(hw_min=1000, hw_max=60000, hw_step=4096))
        b = _link(m)
        info = await b.ping()
        assert info["n_channels"] == 8 and info["dac_bits"] == 16 and info["net_placeholder"] == 1
        assert await b.set_dac(2, 33000) == 33000
        assert (await b.get_dac(2))["output"] == 33000
        for bad, name in [((2, 61000), "ABOVE_MAX"), ((2, 500), "BELOW_MIN"), ((2, 40000), "STEP_TOO_LARGE"),
                          ((9, 33000), "BAD_CHANNEL")]:
            with pytest.raises(BoardRefused) as ei:
                await b.set_dac(*bad)
            assert ei.value.name == name
        assert (await b.get_dac(2))["target"] == 33000          # nothing applied
        with pytest.raises(BoardRefused, match="BAD_LIMITS"):
            await b.set_limits(2, 0, 60000, 100)                # wider than hardware
        await b.set_limits(2, 32000, 34000, 100)
        with pytest.raises(BoardRefused, match="STEP_TOO_LARGE"):
            await b.set_dac(2, 33200)
        st = await b.status()
        assert st["refusals"] == 6 and "NET_PLACEHOLDER" in st["flag_names"]
        m.push_trigger(5, 1234, -7)
        assert await b.pop_trigger() == {"pending": 0, "valid": 1, "frame": 5, "timestamp": 1234, "score": -7}
        assert await b.pop_trigger() is None
        assert await b.set_threshold(-3) == -3
        assert await b.set_shifts(12, 10) == {"shift": 12, "dshift": 10} and (m.shift, m.dshift) == (12, 10)
        with pytest.raises(BoardRefused, match="BAD_VALUE"):
            await b.set_shifts(32, 1)
        assert (m.shift, m.dshift) == (12, 10)
        with pytest.raises(ValueError, match="channel"):
            LinkCodec().request("SET_DAC", value=1)
    asyncio.run(run())


def test_watchdog_hold_and_resume():
    async def run():
        now = [0.0]
        m = BoardModel(BoardConfig(wd_timeout_s=1.0), clock=lambda: now[0])
        b = _link(m)
        await b.set_dac(0, 33000)
        now[0] = 1.5
        st = await b.status()
        assert "WD_TRIPPED" in st["flag_names"] and st["wd_trips"] == 1
        with pytest.raises(BoardRefused, match="WATCHDOG_HOLD"):
            await b.set_dac(0, 33100)
        await b.ping()
        with pytest.raises(BoardRefused, match="WATCHDOG_HOLD"):
            await b.set_dac(0, 33100)
        await b.resume()
        assert await b.set_dac(0, 33100) == 33100
    asyncio.run(run())


def test_timeout_and_dropped_link():
    async def run():
        r = asyncio.StreamReader()

        class Sink:
            def write(self, d): pass
            async def drain(self): pass
            def close(self): pass
        b = BoardLink(r, Sink(), timeout=0.05)
        with pytest.raises(BoardTimeout):
            await b.ping()
        r.feed_eof()
        with pytest.raises(BoardTimeout, match="closed"):
            await b.ping()
    asyncio.run(run())


def test_over_pty_with_pyserial_asyncio():
    async def run():
        m = BoardModel()
        master, slave = os.openpty()
        tty.setraw(slave)
        loop = asyncio.get_running_loop()

        def on_bytes():
            data = os.read(master, 4096)
            out = m.feed(data)
            if out:
                os.write(master, out)
        loop.add_reader(master, on_bytes)
        try:
            b = await BoardLink.open_serial(os.ttyname(slave), timeout=1.0)
            await b.start_heartbeat(0.01)
            await asyncio.sleep(0.05)
            assert await b.set_dac(1, 30000) == 30000
            st = await b.status()
            assert st["rx_ok"] >= 3
            await b.close()
        finally:
            loop.remove_reader(master)
            os.close(master)
            os.close(slave)
    asyncio.run(run())
