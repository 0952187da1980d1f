"""beamloop: closed-loop alignment and triggering for STEM.

The repository root is the ``beamloop`` package; its sub-packages are the
top-level folders (``beamloop.sim`` is ``sim/``, ``beamloop.controller`` is
``controller/`` ...). See ``docs/architecture.md``.
"""

__version__ = "0.1.0"
