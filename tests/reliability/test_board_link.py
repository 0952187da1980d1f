"""Issue 14, failure 7: the board link resynchronises. Glitch bytes before a request, stale
garbage on the line, 200 kB without a delimiter and float DAC values."""

from __future__ import annotations

import asyncio
import random

import pytest

from beamloop.controller.instruments.board_driver import BoardError, BoardLink, BoardValueError, model_streams
from beamloop.firmware.board_model import BoardConfig, BoardModel

pytestmark = pytest.mark.timeout(60)


def _link(timeout=0.3):
    m = BoardModel(BoardConfig(hw_min=1000, hw_max=60000, hw_step=65535))
    r, w = model_streams(m)
    return m, r, w, BoardLink(r, w, timeout=timeout)


def test_first_request_after_a_byte_storm_succeeds(counts):
    async def run():
        m, r, w, link = _link()
        rng = random.Random(1)
        failed = 0
        for i in range(400):
            # a glitch on the line towards the board (no delimiter) and stale bytes towards the host
            w.write(bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 40))))
            r.feed_data(bytes(rng.randrange(0, 256) for _ in range(rng.randrange(0, 40))))
            try:
                await link.ping()
            except BoardError:
                failed += 1
        counts["faults_injected"] += 800
        return failed, link

    failed, link = asyncio.run(run())
    assert failed == 0, f"{failed} of 400 first requests after a byte storm failed"
    assert link.discarded_bytes > 0


def test_every_malformed_reply_is_a_board_error(counts):
    async def run():
        m, r, w, link = _link(timeout=0.05)
        orig = w.write
        w.write = lambda data: r.feed_data(b"\x55" * 200_000)    # the answer: 200 kB without a delimiter
        with pytest.raises(BoardError, match="delimiter"):
            await link.ping()
        rng = random.Random(2)
        n = 0
        for _ in range(100):                           # random replies: typed BoardError, never anything else
            w.write = lambda data: r.feed_data(bytes(rng.randrange(0, 256) for _ in range(rng.randrange(1, 64))) + b"\0")
            try:
                await link.ping()
            except BoardError:
                n += 1
        w.write = orig
        await link.ping()                              # and the link recovers at once
        counts["messages_fuzzed"] += 101
        return n

    assert asyncio.run(run()) >= 95


def test_float_dac_values_are_refused_not_truncated():
    async def run():
        m, _, _, link = _link()
        await link.set_dac(0, 30000)
        for bad in (30000.7, 3e4, True, "30000", float("nan")):
            with pytest.raises(BoardValueError):
                await link.set_dac(0, bad)
        assert m.feed is not None  # nothing was sent for the refused values: the board still answers
        await link.ping()
    asyncio.run(run())
