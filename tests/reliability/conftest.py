"""Reliability suite (issue 14): each test reproduces a numbered failure of the issue and checks
it is fixed. Tests add to COUNTS (messages fuzzed, faults injected, restores verified by reading
the knobs back, bytes of memory growth bounded); the totals are printed at the end of the run
and written to bench_results/reliability_counts.json."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest

COUNTS: collections.Counter = collections.Counter()


@pytest.fixture
def counts():
    return COUNTS


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    terminalreporter.section("reliability counts (issue 14)")
    for k in sorted(COUNTS):
        terminalreporter.write_line(f"{k}: {COUNTS[k]}")
    out = Path(os.environ.get("BEAMLOOP_RELIABILITY_COUNTS", "bench_results/reliability_counts.json"))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dict(sorted(COUNTS.items())), indent=1) + "\n")
    except OSError:
        pass
