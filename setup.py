"""Package discovery (metadata is in pyproject.toml).

The repository root is the ``beamloop`` package and each product folder a sub-package, so the
sub-packages are found here under the ``beamloop.`` prefix (setuptools' own ``find`` cannot add
a prefix). Only the product folders are searched: tests, hil_tests, scripts and docs never reach
the wheel, nor does this file (tests/test_packaging.py checks the wheel's module list).
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PRODUCT = ("sim", "models", "hls", "firmware", "controller", "tools")


class BuildPy(build_py):
    """Leaves ``setup.py`` (a root-level file, so a module of the root package) out of the wheel."""

    def find_package_modules(self, package, package_dir):
        mods = super().find_package_modules(package, package_dir)
        return [m for m in mods if not (package == "beamloop" and m[1] == "setup")]


packages = ["beamloop"] + [
    f"beamloop.{p}" for p in find_packages(where=".", include=[*PRODUCT, *(f"{top}.*" for top in PRODUCT)])
]
setup(packages=packages, package_dir={"beamloop": "."}, cmdclass={"build_py": BuildPy})
