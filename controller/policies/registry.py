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

from beamloop.controller.policies.base import AlignmentPolicy

PolicyFactory = Callable[..., AlignmentPolicy]
_REGISTRY: dict[str, PolicyFactory] = {}
_SEEDED: set[str] = set()

# Modules that register policies when imported (missing ones are skipped).
PLUGIN_MODULES = ["beamloop.controller.policies.bo", "beamloop.controller.policies.nn"]


def register_policy(name: str, factory: PolicyFactory, seeded: bool = False) -> None:
    """Make ``factory`` available as policy ``name`` (replacing any earlier one).

    seeded: the factory takes a ``seed`` option (then :func:`make_policy` passes its ``seed``)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"name: a policy needs a non-empty string name, got {name!r}")
    _REGISTRY[name] = factory
    (_SEEDED.add if seeded else _SEEDED.discard)(name)


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
