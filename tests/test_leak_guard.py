"""The leak guard (tests/beamloop_testing/leak_guard.py) turns a run that would hang into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LEAKY = """
import threading, time
def test_leaks():
    threading.Thread(target=time.sleep, args=(60,), name="sleeper").start()
"""
POOL = """
from concurrent.futures import ThreadPoolExecutor
P = ThreadPoolExecutor(2)
def test_pool():
    assert P.submit(lambda: 1).result() == 1
"""


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_case.py").write_text(source)
    env = {**os.environ, "BEAMLOOP_LEAK_GRACE_S": "0.5", "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "beamloop_testing.leak_guard",
                           "-c", os.devnull, "--rootdir", str(tmp_path), str(tmp_path / "test_case.py")],
                          capture_output=True, text=True, timeout=40, env=env)


def test_a_leaked_thread_fails_the_run_and_is_named(tmp_path):
    r = _run(tmp_path, LEAKY)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "sleeper" in r.stderr and "1 passed" in r.stdout


def test_idle_pool_workers_are_not_leaks(tmp_path):
    r = _run(tmp_path, POOL)
    assert r.returncode == 0, r.stdout + r.stderr
