"""RtlBoardProcess housekeeping without a simulation: the trace outlives stop(), the work directory
does not (unless the simulation failed or BEAMLOOP_KEEP_HIL is set)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from beamloop.controller.instruments.hil import RtlBoardProcess


def _with_trace(trips):
    p = RtlBoardProcess()
    (p.work / "trace.json").write_text(json.dumps({"trips": trips}))
    return p


def test_stop_keeps_the_trace_and_removes_the_work_directory(monkeypatch):
    monkeypatch.delenv("BEAMLOOP_KEEP_HIL", raising=False)
    p = _with_trace([{"cycle": 7}])
    p.proc = subprocess.Popen([sys.executable, "-c", "pass"])
    p.stop()
    assert not p.work.exists()
    assert p.trace() == {"trips": [{"cycle": 7}]}


def test_a_failed_simulation_keeps_its_directory(monkeypatch):
    monkeypatch.delenv("BEAMLOOP_KEEP_HIL", raising=False)
    p = _with_trace([])
    p.proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    p.stop()
    assert p.work.exists() and p.trace() == {"trips": []}
    monkeypatch.setenv("BEAMLOOP_KEEP_HIL", "1")
    q = _with_trace([])
    q.stop()
    assert q.work.exists()
    for d in (p.work, q.work):
        shutil.rmtree(d)
