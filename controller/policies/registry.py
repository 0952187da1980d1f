"""Alignment policies by name: the only place that knows which policies exist.

The registry maps a policy name (what ``--policy`` takes) to a factory
``factory(**options) -> AlignmentPolicy``. Policy modules register themselves at import time::

    from beamloop.controller.policies.registry import register_policy
    register_policy("nn", lambda **kw: MyNetworkPolicy(**kw))

``available_policies()`` imports the modules listed in :data:`PLUGIN_MODULES` (missing ones
are skipped), so each policy is found by name without the loop or the CLI naming it.
"""

from __future__ import annotations

import importlib
from typing import Callable

from beamloop.controller.policies.base import AlignmentPolicy, PolicySpec

PolicyFactory = Callable[..., AlignmentPolicy]
_REGISTRY: dict[str, PolicyFactory] = {}
_SEEDED: set[str] = set()
_SPECS: dict[str, PolicySpec] = {}

# The main job's policy: network-guided, on all five axes; on the twin's bench it beats BO by far
# (docs/models.md, "Benchmark"). The benchmark's default is the published baseline (ASIMOV's BO).
DEFAULT_POLICY = "nn"
BASELINE_POLICY = "bo"

# Modules that register policies when imported (missing ones are skipped).
PLUGIN_MODULES = ["beamloop.controller.policies.bo", "beamloop.controller.policies.nn",
                  "beamloop.controller.policies.pair_fit"]


def register_policy(name: str, factory: PolicyFactory, seeded: bool = False, spec: PolicySpec | None = None) -> None:
    """Make ``factory`` available as policy ``name`` (replacing any earlier one).

    seeded: the factory takes a ``seed`` option (then :func:`make_policy` passes its ``seed``);
    spec: the policy's needs and defaults (:class:`PolicySpec`; a plain one if not given)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"name: a policy needs a non-empty string name, got {name!r}")
    _REGISTRY[name] = factory
    _SPECS[name] = spec or PolicySpec()
    (_SEEDED.add if seeded else _SEEDED.discard)(name)


def policy_spec(name: str) -> PolicySpec:
    """The :class:`PolicySpec` of policy ``name``."""
    names = available_policies()
    if name not in _SPECS:
        raise ValueError(f"policy: unknown policy {name!r}; available: {', '.join(names)}")
    return _SPECS[name]


def policy_options(name: str, axes: list[str], max_frames: int | None = None, stop_cost: float | None = None,
                   camera_gain: float | None = None) -> dict:
    """Keyword options for ``make_policy(name, **options)`` for these axes (the policy's own defaults)."""
    return policy_spec(name).make_options(list(axes), max_frames, stop_cost, camera_gain)


def available_policies() -> list[str]:
    """Names of all registered policies (after importing the plug-in modules)."""
    for mod in PLUGIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return sorted(_REGISTRY)


def make_policy(name: str, seed: int | None = None, **options) -> AlignmentPolicy:
    """Build the policy registered as ``name`` with ``options`` (and ``seed`` if it takes one)."""
    names = available_policies()
    if name not in _REGISTRY:
        raise ValueError(f"policy: unknown policy {name!r}; available: {', '.join(names)}")
    if seed is not None and name in _SEEDED:
        options = {**options, "seed": seed}
    return _REGISTRY[name](**options)
