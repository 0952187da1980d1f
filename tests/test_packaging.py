"""The one-namespace layout: beamloop.<area> is the top-level folder <area>/."""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("area", ["sim", "models", "hls", "firmware", "controller", "tools"])
def test_subpackage_maps_to_top_level_folder(area):
    mod = importlib.import_module(f"beamloop.{area}")
    assert Path(mod.__file__).resolve().parent == ROOT / area


def test_no_bare_top_level_modules_in_site_packages(tmp_path):
    """Outside the checkout, only `beamloop` is importable, not bare `sim`, `tools` ..."""
    import subprocess
    import sys

    code = (
        "import importlib.util as u, beamloop.sim;"
        "print([n for n in ('sim','models','controller','tools','hls','firmware') if u.find_spec(n)])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_cli_lists_its_commands():
    from typer.testing import CliRunner

    from beamloop.tools.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "bench" in result.output
