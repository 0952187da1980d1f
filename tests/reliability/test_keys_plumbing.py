"""Issue 14, failure 1 at the command line: ``--keys`` reaches ``beamloop align`` (its client and the
embedded twin it starts) and ``beamloop serve``; bad key files and insecure binds are usage errors
before anything is opened, and a keyed twin started by ``align`` answers no stranger."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from beamloop.controller.protocol import keys as K
from beamloop.controller.run import session as S
from beamloop.controller.serve import embedded
from beamloop.tools.cli import app

from .helpers import RawClient, small_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def keydir(tmp_path):
    K.generate(tmp_path / "keys", "operator")
    return tmp_path / "keys"


class _Stop(Exception):
    pass


def test_align_keys_reach_the_embedded_twin_and_the_client(keydir, monkeypatch, tmp_path, counts):
    seen: dict = {}

    def keyed_twin(config=None, *, seed=0, keys_dir=None, **kw):
        seen["keys_dir"] = keys_dir
        return embedded.start_embedded_twin(small_config(), seed=seed, mode="thread", keys_dir=keys_dir)

    async def fake_job(backend, cfg, on_event=None):
        seen["client_keys"] = backend.keys
        seen["knobs"] = await backend.get()          # the keyed client reads ...
        ctrl = backend.control_addr
        stranger = RawClient(ctrl, timeout_ms=500)   # ... a plain client gets nothing
        try:
            seen["stranger"] = [stranger.call(cmd, **a) for cmd, a in (("get", {}), ("set", {"values": {"C10": 1e-7}}))]
        finally:
            stranger.close()
        seen["knobs_after"] = await backend.get()
        raise _Stop

    monkeypatch.setattr(S, "start_embedded_twin", keyed_twin)
    monkeypatch.setattr(S, "run_job", fake_job)
    req = S.AlignRequest(policy="bo", axes=["C10"], misalign=False, out=tmp_path / "o", keys=keydir, key_name="operator")
    with pytest.raises(_Stop):
        asyncio.run(S.run_session(req, say=lambda s: None))
    assert seen["keys_dir"] == keydir
    assert seen["client_keys"] == K.client_keys(keydir, "operator")
    assert seen["stranger"] == [None, None] and seen["knobs_after"] == seen["knobs"]
    counts["stranger_requests_refused"] += 2


def test_align_bad_keys_are_a_usage_error_before_anything_starts(keydir, monkeypatch, tmp_path):
    started: list = []
    monkeypatch.setattr(S, "start_embedded_twin", lambda *a, **k: started.append(1))
    monkeypatch.setattr(S, "ZmqTwinBackend", lambda *a, **k: started.append(2))
    for args in (["--keys", str(tmp_path / "nowhere")], ["--keys", str(keydir), "--key-name", "nobody"]):
        res = CliRunner().invoke(app, ["align", "--quiet", "--out", str(tmp_path / "o"), *args])
        assert res.exit_code == 2 and "--keys" in res.output and "Traceback" not in res.output, res.output
    assert started == []


def test_serve_checks_keys_bind_and_lease_before_opening_the_instrument(keydir, monkeypatch, tmp_path):
    from beamloop.tools import instrument_cmd

    opened: list = []
    monkeypatch.setattr(instrument_cmd, "_open", lambda *a: opened.append(a))
    cases = [
        (["--control", "tcp://0.0.0.0:5555"], "without CURVE keys"),
        (["--data", "tcp://*:5556"], "without CURVE keys"),
        (["--keys", str(tmp_path / "nowhere")], "server.key_secret"),
        (["--lease-ttl", "nan"], "--lease-ttl"),
    ]
    for args, msg in cases:
        res = CliRunner().invoke(app, ["serve", "--instrument", "twin", *args], env={"COLUMNS": "400"})
        flat = " ".join(res.output.replace("│", " ").split())
        assert res.exit_code == 2 and msg in flat, (args, res.output)
    assert opened == []
