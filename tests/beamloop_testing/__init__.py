"""Shared test helpers (fake backends, scripted policies), importable as ``beamloop_testing``.

``tests/`` is on pytest's ``pythonpath`` (pyproject.toml); this package is never shipped and no
product module imports it (import-linter contract in pyproject.toml).
"""
