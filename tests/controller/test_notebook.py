"""The notebook API: the README's five-line example, inside a running event loop too."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example() -> str:
    text = README.read_text()
    m = re.search(r"<!-- notebook-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no notebook example block"
    return m.group(1)


def test_readme_notebook_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _readme_example()
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 5
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    result = ns["result"]
    assert result.status in ("converged", "finished")
    assert result.record.exists() and result.report.exists()
    html = result._repr_html_()
    assert "C10" in html and "data:image/png;base64," in html
    assert result.frames >= 2 and set(result.residual) >= {"C10", "C12.x"}
    with h5py.File(result.record) as f:  # the twin's calibrations are in the record
        assert f["entry/instrument/beam/incident_energy"][()] == 300e3
        assert f["entry/instrument/ronchigram_camera/mrad_per_px"][()] > 0


def test_align_inside_a_running_event_loop(tmp_path):
    import beamloop

    twin = beamloop.Twin(seed=4)
    start = twin.truth()
    assert max(abs(start[a]) for a in ("C10", "C12.x")) > 1e-9  # misaligned by default

    async def in_jupyter():  # asyncio.run would fail here; align must not
        return beamloop.align(twin, axes="C1,A1x", policy="bo", max_frames=3, out_dir=tmp_path)

    result = asyncio.run(in_jupyter())
    assert result.frames == 3 and "AlignResult" in repr(result)
    fig = result.plot()
    assert fig.axes and np.asarray(fig.axes[0].images[0].get_array()).ndim == 3


def test_defaults_match_the_cli():
    from beamloop.controller.policies.registry import DEFAULT_POLICY
    from beamloop.controller.run.job import JobConfig

    assert JobConfig(axes=["C10"]).policy == DEFAULT_POLICY == "nn"
    import beamloop

    with pytest.raises(TypeError, match="out_dir"):
        beamloop.align(beamloop.Twin(seed=0))
