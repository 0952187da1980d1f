"""The scanning twin (sim/scanning_twin.py) on a hand-built precipitate film.

Sample: a 32 x 16 grid (1 nm steps) with two precipitates of the same size and brightness:
A at (8, 8) nm, depleted shell with a space charge (the target), B at (23, 8) nm, neutral,
undepleted, chemically ordered (superlattice). Every expectation below follows from the
sample model's physics (docs/explore.md), none is a recorded number.
"""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.sim.scanning_sample import Precipitate, PrecipitateFilm, random_film
from beamloop.sim.scanning_twin import OutOfFieldError, ScanConfig, ScanningTwin, default_detectors, detector_profile

CFG = ScanConfig(nx=32, ny=16)
A = Precipitate(8e-9, 8e-9, 4e-9, 2e-9, depletion=0.9, charge_Vm=1.0e-7, order=0.0, z_ratio=2.0)
B = Precipitate(23e-9, 8e-9, 4e-9, 2e-9, depletion=0.0, charge_Vm=0.0, order=1.0, z_ratio=2.0)


@pytest.fixture(scope="module")
def twin():
    return ScanningTwin(PrecipitateFilm(field_m=CFG.field_m, precipitates=(A, B)), CFG, seed=0)


@pytest.fixture(scope="module")
def truth(twin):
    return twin.truth()


def test_survey_shape_and_z_contrast(twin):
    img = twin.survey("HAADF", noise=False)
    assert img.shape == (32, 16)
    row = img[:, 8]
    # heavier cores are brighter than the matrix at the field edge, A's depleted shell darker than B's rim
    assert row[8] > 1.05 * row[0] and row[23] > 1.05 * row[31]
    assert row[12:15].min() < 0.9 * row[17:20].min()
    noisy = twin.survey("HAADF")
    assert not np.array_equal(noisy, img) and abs(noisy.mean() / img.mean() - 1) < 0.02


def test_point_measurement_detectors(twin):
    m = twin.measure(2e-9, 2e-9)
    dets = default_detectors(CFG.alpha_rad)
    assert set(m["sums"]) == set(dets)
    for name, d in dets.items():
        assert m["sums"][name].shape == (d.n_regions,)
        assert np.all(m["sums"][name] >= 0)
    assert m["sums"]["DPC"].shape == (4,)
    assert m["frame"].shape == (CFG.camera_px, CFG.camera_px)
    assert np.array_equal(m["frame"], np.round(m["frame"]))           # Poisson counts
    assert 0.7 * CFG.dose_e < m["frame"].sum() <= 1.05 * CFG.dose_e    # most electrons land on the camera
    s = {k: float(v.sum()) for k, v in m["sums"].items()}
    assert s["BF"] < s["central"] and s["HAADF"] > 0 and s["ADF"] > 0
    assert m["com_rad"].shape == (2,)


def test_detector_profile():
    prof = detector_profile({"HAADF": {"inner_rad": 0.07, "outer_rad": 0.2},
                             "DPC": {"outer_rad": 1e-3, "segments": 4},
                             "rings": {"ring_edges_rad": [0.0, 1e-3, 3e-3], "segments": 2}})
    assert prof["DPC"].n_regions == 4 and prof["rings"].n_regions == 4 and prof["HAADF"].n_regions == 1
    with pytest.raises(ValueError, match="'bad'"):
        detector_profile({"bad": {"inner_rad": 0.07}})
    with pytest.raises(ValueError, match="'worse'"):
        detector_profile({"worse": 3})


def test_charged_shell_is_the_com_target(truth):
    com = np.linalg.norm(truth["com_rad"], axis=-1)
    a, b = com[:16], com[16:]
    assert a.max() > 3 * b.max()                  # the space charge beats the neutral rim (decoy)
    assert b.max() > 2 * com[0, 0]                # ... which still shows above the bare matrix
    ia = np.unravel_index(np.argmax(com), com.shape)
    r = np.hypot(ia[0] - 8, ia[1] - 8)
    assert A.radius_m * 1e9 - 1 <= r <= (A.radius_m + A.shell_m) * 1e9 + 2   # on the shell, not the core
    # the deflection is radial: opposite signs of CoM_x on either side of A
    cx = truth["com_rad"][:, 8, 0]
    assert np.sign(cx[2:5].mean()) == -np.sign(cx[11:14].mean()) != 0


def test_ordered_precipitate_raises_the_disk_ratio(truth):
    s = truth["sums"]
    ratio = s["superlattice"].sum(-1) / s["central"].sum(-1)
    assert ratio[23, 8] > 10 * ratio[8, 8]
    assert ratio[23, 8] > 10 * ratio[0, 0]


def test_noisy_com_scatters_around_the_truth(twin, truth):
    com = [twin.measure(13e-9, 8e-9)["com_rad"] for _ in range(5)]
    t = truth["com_rad"][13, 8]
    assert not np.allclose(com[0], com[1])
    assert np.linalg.norm(np.mean(com, axis=0) - t) < 0.2 * np.linalg.norm(t)


def test_out_of_field_refused(twin):
    fx, fy = CFG.field_m
    twin.measure(fx, fy)                                   # the far corner is inside
    for x, y in ((-1e-9, 0.0), (fx + 0.5e-9, 0.0), (0.0, fy + 1e-9), (float("nan"), 0.0)):
        with pytest.raises(OutOfFieldError, match="outside the scan field"):
            twin.measure(x, y)


def test_random_film_is_seeded_and_physical():
    f1, f2 = random_film(3), random_film(3)
    assert f1 == f2 and random_film(4) != f1
    for q in f1.precipitates:
        m = q.radius_m + q.shell_m
        assert m < q.x_m < f1.field_m[0] - m and m < q.y_m < f1.field_m[1] - m
        assert 0 <= q.depletion <= 1 and abs(q.charge_Vm) <= f1.params.max_charge_Vm
    ps = f1.precipitates
    for i in range(len(ps)):
        for j in range(i):
            d = np.hypot(ps[i].x_m - ps[j].x_m, ps[i].y_m - ps[j].y_m)
            assert d > ps[i].radius_m + ps[i].shell_m + ps[j].radius_m + ps[j].shell_m
    with pytest.raises(ValueError, match="n_precipitates"):
        random_film(0, n_precipitates=-1)
