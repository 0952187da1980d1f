"""beamloop: closed-loop alignment and triggering for STEM.

The repository root is the ``beamloop`` package; its sub-packages are the
top-level folders (``beamloop.sim`` is ``sim/``, ``beamloop.controller`` is
``controller/`` ...). See ``docs/architecture.md``.
"""

__version__ = "0.1.0"

# The notebook API (imported on first use so `import beamloop` stays light):
#   beamloop.Twin(...), beamloop.align(...), beamloop.JobConfig
_LAZY = {"Twin": "beamloop.notebook", "align": "beamloop.notebook",
         "AlignResult": "beamloop.notebook", "JobConfig": "beamloop.controller.run.job"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'beamloop' has no attribute {name!r}")
