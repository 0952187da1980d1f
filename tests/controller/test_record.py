"""The NeXus run record: readable by h5py and RosettaSciIO, calibrated, provenance, events, kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from beamloop.controller.core.backend import Frame, KnobInfo
from beamloop.controller.policies.base import StepReport
from beamloop.controller.run.loop import run_alignment
from beamloop.controller.run.nexus import OutputLocationError, check_output_location
from beamloop.controller.run.record import RunRecorder, read_run

from beamloop_testing.fakes import ScriptedPolicy

AXES = ["C10", "C12.x"]
TWIN = {"name": "fake", "beam_energy_eV": 300e3, "convergence_semiangle_rad": 30e-3, "rad_per_px": 2 * 1.4 * 30e-3 / 32}


def _run(tmp_path, fake_backend):
    pol = ScriptedPolicy([{"C10": 0.0, "C12.x": 0.0}, {"C10": 10e-9, "C12.x": 5e-9}, {"C10": 20e-9, "C12.x": 0.0}])
    path = tmp_path / "run.h5"
    with RunRecorder(path, AXES, {"policy": "scripted"}, knobs=fake_backend.info, instrument=TWIN) as rec:
        asyncio.run(run_alignment(fake_backend, pol, AXES, recorder=rec, offload_policy=False))
        rec.event("trigger", "region 3 fired", threshold=0.5, region=3)
        rec.frames_block("calibration", np.zeros((4, 32, 32), np.uint16), np.zeros((4, 2)), "knob calibration frames")
    return path


def test_nexus_layout_calibrations_and_provenance(tmp_path, fake_backend):
    path = _run(tmp_path, fake_backend)
    with h5py.File(path, "r") as f:
        assert f.attrs["NX_class"] == "NXroot" and f.attrs["default"] == "entry"
        e = f["entry"]
        assert e.attrs["NX_class"] == "NXentry" and e.attrs["default"] == "frames"
        assert e["instrument"].attrs["NX_class"] == "NXinstrument"
        assert e["instrument/beam/incident_energy"][()] == 300e3
        assert e["instrument/beam/incident_energy"].attrs["units"] == "eV"
        assert e["instrument/beam/convergence_semi_angle"].attrs["units"] == "rad"
        assert e["instrument/ronchigram_camera/mrad_per_px"][()] == pytest.approx(2.625)
        fr = e["frames"]
        assert fr.attrs["NX_class"] == "NXdata" and fr.attrs["signal"] == "data"
        assert list(fr.attrs["axes"]) == ["frame", "theta_x", "theta_y"]
        assert fr["data"].shape == (3, 32, 32) and fr["theta_x"].attrs["units"] == "mrad"
        assert np.diff(fr["theta_x"][()]) == pytest.approx(np.full(31, 2.625))
        assert e["cost/best_so_far"][()].tolist() == [1.0, 1.0, 1.0]
        p = e["process"]
        assert len(p["git_commit"].asstr()[()]) in (40, 7)  # a sha (or "unknown" would fail here)
        assert "alignment.pt" in p["weights"].attrs
        for lib in ("torch", "brevitas", "hls4ml", "da4ml", "onnxruntime", "numpy"):
            assert lib in p["versions"].attrs
    r = read_run(path)
    assert r["instrument"]["beam_energy_eV"] == 300e3
    ev = list(r["events"]["kind"])
    assert "trigger" in ev and "start" in ev and "done" in ev
    assert '"region": 3' in r["events"]["fields_json"][ev.index("trigger")]


def test_rosettasciio_opens_frames_and_curves(tmp_path, fake_backend):
    nexus = pytest.importorskip("rsciio.nexus")
    path = _run(tmp_path, fake_backend)
    sigs = nexus.file_reader(str(path))
    by_title = {s["metadata"]["General"]["title"]: s for s in sigs}
    frames = by_title["frames"]
    assert frames["data"].shape == (3, 32, 32)
    ax = {a["name"]: a for a in frames["axes"]}
    assert ax["theta_x"]["units"] == "mrad" and ax["theta_x"]["scale"] == pytest.approx(2.625)
    assert "cost" in by_title and frames["data"].dtype == np.uint16
    assert "residual_C10" in by_title and by_title["residual_C10"]["data"].shape == (3,)


def test_event_api_and_listener(tmp_path):
    seen = []
    with RunRecorder(tmp_path / "e.h5", ["C10"], {}, {"C10": KnobInfo("C10", "m", -1e-6, 1e-6, "C10")}) as rec:
        rec.subscribe(seen.append)
        rec.subscribe(lambda m: 1 / 0)  # a broken display must not stop the run
        rec.event("paused", "link down", reason="heartbeat")
        rec.frame(1, {"C10": 0.0}, Frame(np.ones((16, 16)), 0, 0.0, {}, {"true_aberrations": {"C10": 3e-9}}), 1.0)
        rec.step(1, {"C10": 0.0}, StepReport(cost=None), 1.0)
    assert [m["type"] for m in seen] == ["event", "frame", "step"]
    assert seen[1]["truth"] == {"C10": 3e-9}
    r = read_run(tmp_path / "e.h5")
    assert np.isnan(r["steps"]["cost"][0]) and r["frames"]["true_aberration"][0, 0] == 3e-9


def test_output_location_refused_before_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputLocationError, match="not a directory"):
        check_output_location(tmp_path / "file" / "run.h5")
    os.chmod(tmp_path, 0o500)
    try:
        if os.geteuid() != 0:  # root writes anywhere
            with pytest.raises(OutputLocationError, match="not writable"):
                check_output_location(tmp_path / "sub")
    finally:
        os.chmod(tmp_path, 0o700)
    with pytest.raises(OutputLocationError, match="MiB free"):
        check_output_location(tmp_path, min_free_bytes=2**62)
    with pytest.raises(OutputLocationError, match="exists"):
        check_output_location(tmp_path / "file")


_WRITER = """
import sys, time, numpy as np
from beamloop.controller.core.backend import Frame
from beamloop.controller.policies.base import StepReport
from beamloop.controller.run.record import RunRecorder
rec = RunRecorder(sys.argv[1], ["C10"], {"policy": "bo"})
i = 0
while True:
    i += 1
    rec.frame(i, {"C10": i * 1e-9}, Frame(np.full((64, 64), i, np.uint16), i, float(i), {}, {}), time.time())
    rec.step(i, {"C10": i * 1e-9}, StepReport(cost=1.0 / i), time.time())
    rec.event("tick", str(i), n=i)
    print(i, flush=True)
"""


def test_kill_9_leaves_a_readable_record(tmp_path):
    for trial in range(3):
        path = tmp_path / f"k{trial}.h5"
        p = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            last = 0
            t0 = time.time()
            while last < 20 + 7 * trial and time.time() - t0 < 60:
                last = int(p.stdout.readline())
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
        r = read_run(path)  # opens with plain h5py
        n = len(r["steps"]["cost"])
        assert n >= last  # everything up to the last completed step
        assert r["frames"]["images"].shape[0] >= n
        assert r["frames"]["images"][last - 1, 0, 0] == last


def test_report_of_an_nn_like_run_with_gp_slices(tmp_path):
    """Report panels from a record with network estimates, truth and a GP slice (no twin needed)."""
    from beamloop.controller.run.report import _moved_pairs, verification_truth, write_report

    axes = ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]
    knobs = {a: KnobInfo(a, "m", -1e-5, 1e-5, a) for a in axes}
    truth = np.array([100e-9, -60e-9, 40e-9, 1.5e-6, -1e-6])
    with RunRecorder(tmp_path / "nn.h5", axes, {"policy": "nn"}, knobs, instrument=TWIN) as rec:
        rec.event("calibration", "knob response measured in 20 frames", frames=20)
        x = np.zeros(5)
        for step in range(1, 7):
            t = truth - x
            meta = {"true_aberrations": dict(zip(axes, t.tolist()))}
            rec.frame(step, dict(zip(axes, x)), Frame(np.random.default_rng(step).poisson(50, (32, 32)), step, 0.0, {}, meta), 0.0)
            if step % 2:
                rep = StepReport(info={"phase": "pair"})
            else:
                rep = StepReport(cost=float(np.abs(t[0]) / 40e-9), estimate=dict(zip(axes, x)),
                                 info={"phase": "estimate", "residual_m": dict(zip(axes, (0.9 * t).tolist())),
                                       "sigma_m": dict(zip(axes, (0.1 * np.abs(t) + 1e-9).tolist()))})
                x = x + 0.8 * t
            rec.step(step, dict(zip(axes, x)), rep, 0.0)
        t = truth - x   # the verification frame after the loop, at the final setting
        rec.frame(8, dict(zip(axes, x)), Frame(np.ones((32, 32)), 8, 0.0, {}, {"true_aberrations": dict(zip(axes, t.tolist()))}), 0.0)
        u = np.linspace(-1e-7, 1e-7, 10)
        rec.extra("gp_slice_0", {"axes": ["C10", "C12.x"], "x": u, "y": u, "mean": np.ones((10, 10)),
                                 "best": [0.0, 0.0], "points": np.zeros((3, 2))})
    r = read_run(tmp_path / "nn.h5")
    assert np.isnan(r["steps"]["cost"][0]) and r["steps"]["cost"][1] > 0
    assert _moved_pairs(axes, r["frames"]["setting"]) == [("C10", "C12.x"), ("C12.x", "C12.y"), ("C21.x", "C21.y")]
    png = write_report(tmp_path / "nn.png", r)
    assert png.stat().st_size > 50_000
    step, verified = verification_truth(r)
    assert step == 8 and verified == pytest.approx(truth - x)
    assert "gp_slice_0" in r and r["events"]["kind"][0] == "calibration"


def test_pause_and_resume_are_recorded_events(tmp_path, fake_backend):
    pol = ScriptedPolicy([{"C10": 0.0, "C12.x": 0.0}, {"C10": 1e-9, "C12.x": 0.0}])
    fake_backend.on_acquire = lambda b: setattr(b, "drop", 2) if b.seq == 1 else None
    with RunRecorder(tmp_path / "p.h5", AXES, {"policy": "scripted"}, knobs=fake_backend.info) as rec:
        res = asyncio.run(run_alignment(fake_backend, pol, AXES, recorder=rec, retry_s=0.001, offload_policy=False))
    assert res.status == "converged"
    r = read_run(tmp_path / "p.h5")
    kinds = list(r["events"]["kind"])
    assert "paused" in kinds and "resumed" in kinds
    assert '"during"' in r["events"]["fields_json"][kinds.index("paused")]
