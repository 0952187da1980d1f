"""`beamloop sim ...` commands (thin wiring over beamloop.sim)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from beamloop.tools.cli import app

runner = CliRunner()


def test_sim_metrics_command():
    res = runner.invoke(app, ["sim", "metrics", "C10=1e-9", "A1.x=2e-9", "--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)
    assert 0 < m["strehl"] < 1 and m["rayleigh_resolution_angstrom"] > 0


def test_sim_ronchigram_command_writes_npy(tmp_path):
    out = tmp_path / "r.npy"
    res = runner.invoke(app, ["sim", "ronchigram", "C10=20e-9", "--size", "64", "-o", str(out)])
    assert res.exit_code == 0, res.output
    img = np.load(out)
    assert img.shape == (64, 64) and img.dtype == np.float32 and img.sum() > 0


def test_sim_commands_reject_bad_input(tmp_path):
    res = runner.invoke(app, ["sim", "metrics", "C77=1e-9"])
    assert res.exit_code != 0 and "C77" in res.output
    res = runner.invoke(app, ["sim", "ronchigram", "--energy-ev", "-300000", "-o", str(tmp_path / "x.npy")])
    assert res.exit_code != 0 and "energy_eV" in res.output
    res = runner.invoke(app, ["sim", "metrics", "C10=abc"])
    assert res.exit_code != 0 and "C10" in res.output


def test_gallery_panels_and_png(tmp_path):
    from beamloop.sim.gallery import gallery_images, save_gallery_png
    from beamloop.sim.ronchigram import RonchigramConfig

    cfg = RonchigramConfig(size_px=64, sample_patch_px=512, max_oversample=4)
    panels = gallery_images(cfg, samples=("amorphous_carbon",), c1=(-20e-9, 0.0, 20e-9), a1=(0.0, 20e-9),
                            b2=(0.0, 300e-9), noise=False)
    assert [p["images"].shape for p in panels] == [(2, 3, 64, 64), (2, 3, 64, 64)]
    assert "A1" in panels[0]["title"] and "B2" in panels[1]["title"]
    # row 0 / col 1 is the unaberrated focus (besides C3): smoother than the defocused neighbours
    imgs = panels[0]["images"]
    assert np.std(np.diff(imgs[0, 1], axis=0)) < np.std(np.diff(imgs[0, 0], axis=0))
    path = save_gallery_png(panels, tmp_path / "g.png", dpi=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
