"""Twin data: shards round-trip with SI labels and features; pairs differ by the known defocus step;
features measure the local magnification the physics predicts."""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.models.alignment_data import Randomisation, read_shards, simulate_pairs, write_shard
from beamloop.models.preprocess import AXES, pair_to_input, pairs_to_input
from beamloop.models.ronchigram_features import FeatureConfig, frame_features, pair_features

TINY = Randomisation(size_px=64, max_oversample=4, sample_patch_px=384, label_halfwidth_m=(20e-9, 20e-9, 20e-9, 200e-9, 200e-9),
                     nuisance_halfwidth_m=(1e-9,) * 7,
                     delta_c10_m=20e-9, focal_spread_fraction=0.0)


@pytest.fixture(scope="module")
def tiny_data():
    return simulate_pairs(3, seed=5, rnd=TINY, group=3, keep_pairs=True)


def test_shard_round_trip_labels_in_metres(tmp_path, tiny_data):
    p = write_shard(tmp_path / "s-0000.h5", tiny_data, TINY)
    d, attrs = read_shards([p])
    np.testing.assert_array_equal(d["pairs"], tiny_data["pairs"])
    np.testing.assert_array_equal(d["labels"], tiny_data["labels"])
    np.testing.assert_array_equal(d["features"], tiny_data["features"])
    assert d["features"].shape == (3, FeatureConfig().n_features) and np.all(np.isfinite(d["features"]))
    # the stored features are those of the stored pairs
    np.testing.assert_allclose(d["features"][1], pair_features(*d["pairs"][1]), rtol=1e-6)
    assert attrs["delta_c10_m"] == pytest.approx(20e-9)
    assert d["labels"].shape == (3, len(AXES))
    # SI: labels are metres, inside the randomisation box
    assert np.all(np.abs(d["labels"]) <= np.array(TINY.label_halfwidth_m) + 1e-18)
    assert np.abs(d["labels"]).max() < 1e-6
    assert d["pairs"].dtype == np.uint16 and d["pairs"].shape == (3, 2, 64, 64)
    assert d["pairs"].max() > 0


def test_shard_with_wrong_units_is_refused(tmp_path, tiny_data):
    import h5py

    p = write_shard(tmp_path / "s-0001.h5", tiny_data, TINY)
    with h5py.File(p, "a") as f:
        f["labels"].attrs["unit"] = "nm"
    with pytest.raises(ValueError, match="metres"):
        read_shards([p])


def test_pair_images_differ(tiny_data):
    a, b = tiny_data["pairs"][0].astype(float)
    assert np.mean(np.abs(a - b)) > 0.01 * np.mean(a)  # the two defoci look different


def test_shards_with_other_features_are_refused(tmp_path, tiny_data):
    import h5py

    p0 = write_shard(tmp_path / "s-0000.h5", tiny_data, TINY)
    p1 = write_shard(tmp_path / "s-0001.h5", tiny_data, TINY, FeatureConfig(grid=2))
    with pytest.raises(ValueError, match="feature configuration"):
        read_shards([p0, p1])
    with h5py.File(p1, "a") as f:
        del f["features"]
    with pytest.raises(ValueError, match="older data format"):
        read_shards([p1])


def _speckle(shape, corr_px, rng):
    """A positive random texture with correlation length ``corr_px`` (an amorphous 'sample')."""
    from scipy.ndimage import gaussian_filter

    s = gaussian_filter(rng.standard_normal(shape), corr_px)
    return 1.0 + 0.3 * s / s.std()


def test_features_measure_local_magnification_and_anisotropy():
    """Structure tensor / variance scales as magnification^-2: a texture stretched 2x along x
    has 4x less gradient energy along x; log(tr/var) drops by log 4 for an isotropic 2x zoom."""
    from scipy.ndimage import zoom

    rng = np.random.default_rng(0)
    cfg = FeatureConfig(grid=1, span=1.0, scales=(0.7,))
    base = _speckle((512, 512), 3.0, rng)
    f1 = frame_features(base[128:256, 128:256], cfg)
    f2 = frame_features(zoom(base, 2.0, order=3)[256:384, 256:384], cfg)  # magnified 2x
    assert f1[0] - f2[0] == pytest.approx(np.log(4.0), abs=0.35)
    assert abs(f1[1]) < 0.2 and abs(f2[1]) < 0.2  # isotropic
    fx = frame_features(zoom(base, (1.0, 2.0), order=3)[128:256, 256:384], cfg)  # stretched along x (columns)
    assert fx[1] < -0.4  # (Txx - Tyy)/tr: less gradient along x
    fy = frame_features(zoom(base, (2.0, 1.0), order=3)[256:384, 128:256], cfg)
    assert fy[1] > 0.4


def test_features_are_dose_and_gain_invariant_and_refuse_bad_frames():
    rng = np.random.default_rng(1)
    img = _speckle((128, 128), 2.0, rng) * 100
    np.testing.assert_allclose(frame_features(img), frame_features(img * 7.5), rtol=1e-9, atol=1e-9)
    x = pair_features(img, img[::-1])
    assert x.shape == (FeatureConfig().n_features,) and x.dtype == np.float32
    with pytest.raises(ValueError, match="NaN"):
        frame_features(np.full((128, 128), np.nan))
    with pytest.raises(ValueError, match="empty"):
        frame_features(np.zeros((128, 128)))
    with pytest.raises(ValueError, match="negative"):
        frame_features(-img)
    with pytest.raises(ValueError, match="2-D"):
        frame_features(img[0])


def test_preprocess_standardises_and_checks_shapes():
    rng = np.random.default_rng(0)
    img = rng.poisson(50, (128, 128)).astype(float) + 1
    n = FeatureConfig().n_features
    f = pair_features(img, img * 3)
    x = pair_to_input(img, img * 3, f * 0.5, np.full(n, 2.0))
    np.testing.assert_allclose(x, (f - f * 0.5) / 2.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        pair_to_input(np.full((128, 128), np.nan), img, f, np.ones(n))
    with pytest.raises(ValueError, match="expects"):
        pair_to_input(img, img, f[:10], np.ones(10))
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        pairs_to_input(np.zeros((3, 64, 64)), f, np.ones(n))


def test_v3_recipe_trains_on_the_twins_current_sample_model():
    """The v3 randomisation is the twin's own atomic samples with the twin's *current* carbon
    (hard-core short-range order), not the ideal gas the first v3 weights saw; the distance
    reaches the simulator's configuration unchanged (0 still means the ideal gas)."""
    from dataclasses import replace

    from beamloop.models.alignment_data import _instrument, randomisation_v3, ronchigram_config
    from beamloop.sim.ronchigram_config import RonchigramConfig

    rnd = randomisation_v3()
    assert rnd.sample_min_distance_m == RonchigramConfig().sample_min_distance_m > 0
    assert rnd.renderer_probs == (1.0, 0.0, 0.0) and rnd.contrast_gain_fraction == 0.0
    assert rnd.energy_eV == (300e3, 300e3) and rnd.detector_psf_px == (RonchigramConfig().detector_psf_px,) * 2
    rng = np.random.default_rng(0)
    cfg = ronchigram_config(_instrument(rng, rnd))
    assert cfg.sample_min_distance_m == rnd.sample_min_distance_m and cfg.energy_eV == 300e3
    cfg0 = ronchigram_config(_instrument(rng, replace(rnd, sample_min_distance_m=0.0)))
    assert cfg0.sample_min_distance_m == 0.0
    assert Randomisation.from_json(rnd.to_json()) == rnd


def test_generation_stops_at_its_deadline_and_resumes(tmp_path):
    """A past deadline starts no shard and says the data are incomplete; the same call without
    one writes the rest, keeping what exists (in-process, no dask)."""
    from beamloop.models.alignment_data import DataIncomplete, generate

    with pytest.raises(DataIncomplete, match="2 of 2 'train' shards"):
        generate(tmp_path, 4, shard_size=2, workers=1, rnd=TINY, deadline=0.0)
    paths = generate(tmp_path, 2, shard_size=2, workers=1, rnd=TINY)   # the first shard only
    mtime = paths[0].stat().st_mtime_ns
    paths = generate(tmp_path, 4, shard_size=2, workers=1, rnd=TINY)
    assert [p.name for p in paths] == ["train-0000.h5", "train-0001.h5"] and all(p.exists() for p in paths)
    assert paths[0].stat().st_mtime_ns == mtime
    d, _ = read_shards(paths)
    assert len(d["labels"]) == 4
