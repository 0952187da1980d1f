"""Twin data: shards round-trip with SI labels; pairs differ only by the known defocus step."""

from __future__ import annotations

import numpy as np
import pytest

from beamloop.models.alignment_data import Randomisation, read_shards, simulate_pairs, write_shard
from beamloop.models.preprocess import AXES, pair_to_input, pairs_to_input

TINY = Randomisation(size_px=32, max_oversample=4, sample_patch_px=384, label_halfwidth_m=(20e-9, 20e-9, 20e-9, 200e-9, 200e-9),
                     small_halfwidth_m=(5e-9, 5e-9, 5e-9, 50e-9, 50e-9), nuisance_halfwidth_m=(1e-9,) * 7,
                     delta_c10_m=20e-9, focal_spread_fraction=0.0)


@pytest.fixture(scope="module")
def tiny_data():
    return simulate_pairs(3, seed=5, rnd=TINY, group=3)


def test_shard_round_trip_labels_in_metres(tmp_path, tiny_data):
    p = write_shard(tmp_path / "s-0000.h5", tiny_data, TINY)
    d, attrs = read_shards([p])
    np.testing.assert_array_equal(d["pairs"], tiny_data["pairs"])
    np.testing.assert_array_equal(d["labels"], tiny_data["labels"])
    assert attrs["delta_c10_m"] == pytest.approx(20e-9)
    assert d["labels"].shape == (3, len(AXES))
    # SI: labels are metres, inside the randomisation box
    assert np.all(np.abs(d["labels"]) <= np.array(TINY.label_halfwidth_m) + 1e-18)
    assert np.abs(d["labels"]).max() < 1e-6
    assert d["pairs"].dtype == np.uint16 and d["pairs"].shape == (3, 2, 32, 32)
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


def test_preprocess_zero_mean_crop_and_errors():
    rng = np.random.default_rng(0)
    img = rng.poisson(50, (64, 64)).astype(float)
    x = pair_to_input(img, img * 3)
    assert x.shape == (2, 32, 32)
    np.testing.assert_allclose(x.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x[0], x[1], atol=1e-5)  # dose does not matter
    np.testing.assert_allclose(x[0] + 1, img[16:48, 16:48] / img[16:48, 16:48].mean(), rtol=1e-5)  # central crop
    with pytest.raises(ValueError, match="NaN"):
        pair_to_input(np.full((64, 64), np.nan), img)
    with pytest.raises(ValueError, match="empty"):
        pair_to_input(np.zeros((64, 64)), img)
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        pairs_to_input(np.zeros((3, 64, 64)))
