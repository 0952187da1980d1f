"""Fixtures for the sim tests; helper functions live in sim_helpers.py (imported by path)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest


def load_helpers():
    name = "beamloop_sim_test_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, pathlib.Path(__file__).with_name("sim_helpers.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def sim_carbon():
    from beamloop.sim.ronchigram import RonchigramSimulator

    return RonchigramSimulator(load_helpers().small_config(), seed=0)
