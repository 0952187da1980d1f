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


PRODUCT = ("sim", "models", "hls", "firmware", "controller", "tools")
NOT_SHIPPED = ("tests", "hil_tests", "scripts", "docs", "setup", "data", "runs")


def _source_tree_copy(dst: Path) -> Path:
    """The working tree's product files plus the packaging files, without .git and run outputs."""
    import shutil

    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", "runs", "data",
                                    "bench_results", "hls_out", "sim_build", "*.vcd")
    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst


def test_wheel_ships_every_product_package_and_nothing_else(tmp_path):
    import subprocess
    import sys
    import zipfile

    src = _source_tree_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "whl")], check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "whl").glob("beamloop-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.split("/")[1].removesuffix(".py") for n in names if n.startswith("beamloop/") and n.count("/") >= 1}
    assert not shipped & set(NOT_SHIPPED), sorted(shipped & set(NOT_SHIPPED))
    assert all(n.startswith(("beamloop/", "beamloop-")) for n in names)
    # every package of the source tree (a folder with __init__.py under a product folder) is in the wheel
    expected = {str(p.parent.relative_to(ROOT)) for top in PRODUCT for p in (ROOT / top).rglob("__init__.py")
                if "__pycache__" not in p.parts}
    in_wheel = {n.removeprefix("beamloop/").removesuffix("/__init__.py") for n in names if n.endswith("/__init__.py")}
    assert expected <= in_wheel, sorted(expected - in_wheel)
    for data in ("beamloop/models/weights/alignment.int.npz", "beamloop/models/weights/alignment.json",
                 "beamloop/firmware/link_protocol.yaml"):
        assert data in names, data


def test_operator_core_does_not_import_training_or_fpga_libraries():
    """The align path (CLI, job, nn policy, twin server) imports no torch/brevitas/hls4ml/cocotb/serial."""
    import subprocess
    import sys

    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'brevitas', 'qonnx', 'hls4ml', 'da4ml', 'onnx', 'onnxruntime',
                                  'cocotb', 'serial', 'serial_asyncio', 'cobs', 'crc'):
            raise ImportError('operator core must not import ' + name)
sys.meta_path.insert(0, Block())
import beamloop.tools.cli, beamloop.controller.run.job, beamloop.controller.policies.nn
import beamloop.controller.bench.align, beamloop.controller.serve.twin_server
from beamloop.controller.estimation.inference import default_estimator
import numpy as np
est = default_estimator()
m, s = est.predict_features(np.tile(est.feature_mean, (2, 1)))
assert m.shape == (2, 5) and np.all(np.isfinite(m))
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.slow
def test_fresh_venv_without_extras_aligns_the_twin(tmp_path):
    """`pip install .` (no extras) into a fresh venv, then `beamloop align` (nn) end to end."""
    import subprocess
    import sys

    src = _source_tree_copy(tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(src)], check=True, capture_output=True, text=True)
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('torch','brevitas','hls4ml') if u.find_spec(m)])"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
    run = subprocess.run([str(venv / "bin" / "beamloop"), "align", "--seed", "3", "--out", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert list((tmp_path / "runs").glob("*.h5"))
