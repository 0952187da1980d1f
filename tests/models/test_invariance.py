"""Sample invariance of the alignment features (issue 12), the geometric renderer and the random
textures, and the dask data generation (resumable shards).

The invariance tests fail for the version-3 features (``invariant=False``), which is checked too:
they measure something."""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.models.geometric_ronchigram import GeometricConfig, GeometricRonchigram
from beamloop.models.ronchigram_features import FeatureConfig, pair_features
from beamloop.models.textures import KINDS, PlaneWaves, phase_object, spectrum
from beamloop.sim.aberrations import NAMES

RAW = FeatureConfig(invariant=False)
INV = FeatureConfig()
# per-pair feature layout: (frame, scale, row, col, [log(tr/var), anisotropy, orientation, log contrast])
SHAPE = (2, len(INV.scales), INV.grid, INV.grid, 4)


def _coeffs(c10, a1x=0.0, b2x=0.0, delta=80e-9):
    C = np.zeros((2, len(NAMES)))
    C[:, NAMES.index("C10")] = [c10 - delta, c10 + delta]
    C[:, NAMES.index("C12.x")] = a1x
    C[:, NAMES.index("C21.x")] = b2x
    return C


def _scaled(w: PlaneWaves, factor: float) -> PlaneWaves:
    """The same texture magnified ``factor`` times (every frequency divided by it)."""
    return PlaneWaves(w.q / factor, w.phase, w.amp)


def test_contrast_cancels_exactly_in_the_invariant_features():
    w = PlaneWaves.draw("gaussian", 3e-10, np.random.default_rng(0))
    g = GeometricRonchigram(GeometricConfig(), w)
    C = _coeffs(-120e-9, 20e-9, 500e-9)
    f = {c: [pair_features(*g.expected(C, 1e6, contrast=c), cfg) for cfg in (INV, RAW)] for c in (0.05, 0.01)}
    hi, lo = (f[c][0].reshape(SHAPE) for c in (0.05, 0.01))
    np.testing.assert_allclose(hi[..., :3], lo[..., :3], atol=5e-3)  # magnification, anisotropy, orientation
    # log contrast against the patch's own mean: second order in the texture's patch mean
    np.testing.assert_allclose(hi[..., 3], lo[..., 3], atol=0.05)
    raw_hi, raw_lo = (f[c][1].reshape(SHAPE) for c in (0.05, 0.01))
    # version 3 sees the contrast: its log-contrast feature moves by log 5 in the central patch
    # (less in the corners, whose patches contain the aperture edge)
    assert np.mean(raw_hi[:, :, 1, 1, 3] - raw_lo[:, :, 1, 1, 3]) == pytest.approx(np.log(5.0), abs=0.1)
    assert np.mean(np.abs(raw_hi[..., 0] - raw_lo[..., 0])) > 0.02


def test_texture_scale_2x_keeps_the_frame_ratio_and_loses_the_offset():
    """The same pairs with the sample's texture magnified 2x. Version 3 reads the texture scale
    as magnification: its log(tr T / var) moves as a whole. The invariant features carry no
    such common offset (zero mean per scale by construction), and what they keep - the ratio
    between the two defoci of the same patch, ``log(|H+|^2 / |H-|^2)`` - has the sign of C10
    and about the same size for both textures (finite patches and pixels bias it, the network
    learns that from the randomised training data)."""
    rng = np.random.default_rng(1)
    ratio, offset = {1.0: [], 2.0: []}, []
    for _ in range(8):
        w = PlaneWaves.draw("gaussian", 4e-10, rng, n_waves=192)
        c10 = rng.uniform(90e-9, 150e-9) * rng.choice([-1, 1])
        C = _coeffs(c10, rng.uniform(-25e-9, 25e-9))
        raw = []
        for f in (1.0, 2.0):
            e = GeometricRonchigram(GeometricConfig(contrast=0.08), _scaled(w, f)).expected(C, 1e7)
            x = pair_features(*e, INV).reshape(SHAPE)
            assert np.abs(x[..., 0].mean(axis=(0, 2, 3))).max() < 1e-5  # no common offset left
            ratio[f].append(np.sign(c10) * (x[1, 0, 1, 1, 0] - x[0, 0, 1, 1, 0]))
            raw.append(pair_features(*e, RAW).reshape(SHAPE)[..., 0].mean())
        offset.append(raw[0] - raw[1])
    r1, r2 = np.array(ratio[1.0]), np.array(ratio[2.0])
    assert np.all(r1 > 0.2) and np.all(r2 > 0.2)   # sign of C10 from the pair, whatever the texture
    assert np.mean(np.abs(r1 - r2)) < 0.4 * np.mean(np.abs(r1))
    assert np.mean(offset) > 0.1   # what version 3 took for magnification


def test_geometric_renderer_speckle_scales_as_one_over_magnification():
    """Shadow image: a frame at 2x the defocus shows 2x finer speckle (log(tr/var) + log 4)."""
    w = PlaneWaves.draw("gaussian", 4e-10, np.random.default_rng(3), n_waves=192)
    g = GeometricRonchigram(GeometricConfig(contrast=0.1), w)
    cfg = FeatureConfig(grid=1, span=0.5, scales=(0.7,), invariant=False)
    C = np.zeros((2, len(NAMES)))
    C[:, NAMES.index("C10")] = [60e-9, 120e-9]
    e = g.expected(C, 1e7)
    f = pair_features(e[0], e[1], cfg).reshape(2, 4)
    assert f[1, 0] - f[0, 0] == pytest.approx(np.log(4.0), abs=0.35)
    assert abs(f[0, 1]) < 0.25  # round probe, isotropic texture
    # 2-fold astigmatism A1x > 0: magnification larger along theta_x (image rows) -> finer speckle
    # along the rows; the features' "x" is the column axis, so (Txx - Tyy) / tr T < 0
    C[:, NAMES.index("C12.x")] = 50e-9
    fa = pair_features(*g.expected(C, 1e7), cfg).reshape(2, 4)
    assert fa[0, 1] < -0.2
    C[:, NAMES.index("C12.x")] = -50e-9
    assert pair_features(*g.expected(C, 1e7), cfg).reshape(2, 4)[0, 1] > 0.2
    with pytest.raises(ValueError, match="contrast"):
        GeometricConfig(contrast=2.0)


def test_random_textures_have_the_requested_statistics():
    rng = np.random.default_rng(0)
    for kind in KINDS:
        w = PlaneWaves.draw(kind, 2e-10, rng, n_waves=400)
        assert np.all(np.linalg.norm(w.q, axis=1) > 0)
        assert spectrum(kind, np.array([0.0, 1e9, 5e9]), 2e-10).shape == (3,)
    w = PlaneWaves.draw("ring", 2e-10, rng, n_waves=400)
    assert np.median(np.linalg.norm(w.q, axis=1)) == pytest.approx(0.5e10, rel=0.15)  # shell at 1/L
    t = phase_object(256, 0.2e-10, "gaussian", 1e-10, 0.3, rng)
    assert t.dtype == np.complex64 and t.shape == (256, 256)
    assert np.angle(t).std() == pytest.approx(0.3, rel=0.2)
    with pytest.raises(ValueError, match="texture kind"):
        spectrum("fractal", np.ones(3), 1e-10)
    with pytest.raises(ValueError, match="corr_len_m"):
        spectrum("gaussian", np.ones(3), -1.0)


def test_dask_generation_writes_resumable_shards(tmp_path):
    """LocalCluster of one worker; a deleted shard is regenerated, the others are kept."""
    import os
    from dataclasses import replace

    from beamloop.models.alignment_data import Randomisation, generate, read_shards

    rnd = replace(Randomisation(), renderer_probs=(0.0, 0.0, 1.0), size_px=64)
    paths = generate(tmp_path, 6, shard_size=3, seed=2, workers=1, rnd=rnd, scheduler=None)
    assert [p.name for p in paths] == ["train-0000.h5", "train-0001.h5"]
    t_keep = os.path.getmtime(paths[0])
    d, _ = read_shards(paths)
    paths[1].unlink()
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, Client(cl) as c:
        again = generate(tmp_path, 6, shard_size=3, seed=2, rnd=rnd, client=c)
    assert os.path.getmtime(again[0]) == t_keep and again[1].exists()
    d2, _ = read_shards(again)
    np.testing.assert_array_equal(d["features"], d2["features"])  # same seeds -> same data
    assert np.all(d2["cond_renderer"] == 2) and np.all(d2["cond_contrast"] > 0)
