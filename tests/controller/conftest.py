"""Fixtures of the controller tests; the test doubles live in ``beamloop_testing.fakes``."""

from __future__ import annotations

import pytest

from beamloop_testing.fakes import FakeBackend, ScriptedPolicy  # noqa: F401  (re-exported for fixtures)


@pytest.fixture
def fake_backend():
    return FakeBackend()
