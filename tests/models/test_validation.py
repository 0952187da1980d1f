"""Foreign validation harness (models/validation): geometry, labels, cache, closed loop."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from beamloop.models.validation.common import (AXES, SuccessCriteria, ValidationSpec, aperture_disc, cache_path,
                                               expose_pairs, load_set, pair_states, resample_to_camera, save_set,
                                               validation_labels)


def test_labels_seeded_uniform_and_pairs():
    spec = ValidationSpec(n_pairs=400, seed=3)
    a, b = validation_labels(spec), validation_labels(spec)
    assert np.array_equal(a, b) and a.shape == (400, 5)
    assert not np.array_equal(a, validation_labels(ValidationSpec(n_pairs=400, seed=4)))
    hw = np.array(spec.label_halfwidth_m)
    assert np.all(np.abs(a) <= hw) and np.all(np.abs(a).max(axis=0) > 0.9 * hw)
    st = pair_states(a[:1], spec.delta_c10_m)
    assert st[0]["C10"] == pytest.approx(a[0, 0] - 80e-9) and st[1]["C10"] == pytest.approx(a[0, 0] + 80e-9)
    assert st[0]["C21.y"] == st[1]["C21.y"] == a[0, 4]
    assert spec.rad_per_px == pytest.approx(0.65625e-3)


def test_resample_conserves_and_keeps_the_axis_at_the_centre():
    spec = ValidationSpec(size_px=128)           # 0.65625 mrad per pixel
    n, sc = 600, 0.197e-3                       # a finer calibrated camera, +-59 mrad
    off = -n / 2 * sc
    img = np.zeros((n, n))
    k = n // 2 + 10                              # a point 10 fine pixels (+1.97..2.17 mrad) along axis 0
    img[k, n // 2] = 1.0
    out = resample_to_camera(img, [off, off], [sc, sc], spec)
    i, j = np.unravel_index(np.argmax(out), out.shape)
    assert (i, j) == (64 + 3, 64)                # 2.07 mrad / 0.656 mrad = 3.2 px
    flat = resample_to_camera(np.ones((n, n)), [off, off], [sc, sc], spec)
    assert flat[64, 64] == pytest.approx((0.65625 / 0.197) ** 2, rel=1e-6)
    assert out.sum() == pytest.approx(1.0)
    assert aperture_disc(spec)[64, 64] == 1 and aperture_disc(spec)[0, 0] == 0


def test_cache_roundtrip(tmp_path):
    spec = ValidationSpec(n_pairs=2, size_px=16)
    p = cache_path("twin", spec, tmp_path)
    assert p != cache_path("twin", ValidationSpec(n_pairs=2, size_px=16, seed=1), tmp_path)
    save_set(p, np.ones((2, 2, 16, 16)), np.zeros((2, 5)), {"a": 1})
    e, l, m = load_set(p)
    assert e.shape == (2, 2, 16, 16) and m == {"a": 1}
    with pytest.raises(ValueError, match="source"):
        cache_path("nope", spec, tmp_path)


class _Oracle:
    """A perfect estimator for a renderer that remembers the states it rendered."""

    def __init__(self, renderer, gain=1.0):
        self.r, self.gain = renderer, gain

    def predict(self, pairs):
        m = self.r.last * self.gain
        return m, np.ones_like(m)


class _Recorder:
    def __init__(self, renderer):
        self.inner = renderer

    def render(self, states, ids=None):
        self.last = np.array(states, dtype=float)
        return self.inner.render(states, ids)


def test_closed_loop_on_the_twin_with_an_oracle():
    from beamloop.models.validation.evaluate import closed_loop, rmse
    from beamloop.models.validation.twin_pairs import TwinRenderer

    spec = ValidationSpec(n_pairs=4, size_px=64, label_halfwidth_m=(60e-9, 60e-9, 60e-9, 5e-7, 5e-7))
    labels = validation_labels(spec)
    r = _Recorder(TwinRenderer(spec, n_films=1, sample_patch_px=768))
    half = closed_loop(_Oracle(r, 0.5), r, labels, spec, steps=2)
    s = [row["success"] for row in half["steps"]]
    assert s[0] == 0.0 and half["steps"][2]["rms_C10_nm"] == pytest.approx(half["steps"][0]["rms_C10_nm"] / 4, rel=1e-6)
    full = closed_loop(_Oracle(r, 1.0), r, labels, spec, steps=1)
    assert full["steps"][1]["success"] == 1.0
    exp = r.render(labels)
    assert exp.shape == (4, 2, 64, 64) and np.all(exp >= 0)
    counts = expose_pairs(exp, spec, seed=1)
    assert np.array_equal(counts, expose_pairs(exp, spec, seed=1))
    res = rmse(_Oracle(r, 1.0), exp, labels, spec)
    assert res["n"] == 4 and all(res[a] < 1e-6 for a in AXES)


def test_success_criteria():
    c = SuccessCriteria()
    st = np.array([[10e-9, 10e-9, 10e-9, 0.5e-6, 0.5e-6], [10e-9, 15e-9, 15e-9, 0, 0], [0, 0, 0, 0.8e-6, 0.8e-6]])
    assert list(c.ok(st)) == [True, False, False]


def test_usim_frame_in_the_twin_geometry():
    pytest.importorskip("nion.usim_device")
    from beamloop.models.validation.usim_pairs import UsimRonchigram

    spec = ValidationSpec(n_pairs=1)
    asyncio.run(asyncio.sleep(0))   # leaves the main thread without an event loop, as any earlier run does
    with UsimRonchigram(spec) as u:
        p = u.render(np.array([[20e-9, 10e-9, -10e-9, 2e-7, 1e-7]]))
        st = u.state()
    assert p.shape == (1, 2, 128, 128)
    assert p[0, 0].sum() == pytest.approx(1e6, rel=1e-4)
    assert p[0, 0, 0, 0] == 0 and p[0, 0, 64, 64] > 0          # the aperture disc
    assert st[1] == pytest.approx(10e-9) and st[0] == pytest.approx(100e-9)   # last frame C10 + 80 nm
    assert not np.allclose(p[0, 0], p[0, 1])


@pytest.mark.slow
def test_abtem_pairs_tiny(tmp_path):
    pytest.importorskip("abtem")
    from beamloop.models.validation.abtem_pairs import generate

    spec = ValidationSpec(n_pairs=2, size_px=64, label_halfwidth_m=(30e-9, 30e-9, 30e-9, 3e-7, 3e-7))
    exp, labels, meta = generate(spec, tmp_path, n_films=1)
    assert exp.shape == (2, 2, 64, 64) and meta["source"] == "abtem"
    assert exp[0, 0].sum() == pytest.approx(1e6, rel=1e-3)
    assert cache_path("abtem", spec, tmp_path).exists()


@pytest.mark.slow
def test_abtem_pairs_resume_in_chunks_equals_one_run(tmp_path):
    pytest.importorskip("abtem")
    from beamloop.models.validation.abtem_pairs import GenerationIncomplete, generate, parts_dir

    spec = ValidationSpec(n_pairs=3, size_px=64, label_halfwidth_m=(30e-9, 30e-9, 30e-9, 3e-7, 3e-7))
    with pytest.raises(GenerationIncomplete) as e:                      # one chunk per call at least
        generate(spec, tmp_path / "a", n_films=2, chunk_pairs=2, max_seconds=0.0)
    assert e.value.done == 2 and e.value.total == 3
    path = cache_path("abtem", spec, tmp_path / "a")
    parts = parts_dir(path)
    with pytest.raises(ValueError, match="was made with"):
        generate(spec, tmp_path / "a", n_films=2, chunk_pairs=1)          # parts made with chunk 2
    first = generate(spec, tmp_path / "a", n_films=2, chunk_pairs=2)[0]
    assert path.exists() and not parts.exists()
    whole = generate(spec, tmp_path / "b", n_films=2, chunk_pairs=10)[0]
    assert np.allclose(first, whole, rtol=1e-5, atol=1e-3)
    assert not np.allclose(first[0], first[1])
