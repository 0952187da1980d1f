"""Any camera geometry -> the networks' canonical grid (pure functions), and the estimator on it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.controller.estimation.canonical_grid import (CameraGeometry, CanonicalEstimator, CanonicalGrid,
                                                           camera_coordinates, coverage, to_canonical)

from scipy import ndimage


def pixel_angles(cam: CameraGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(theta_x, theta_y) in rad of every pixel of ``cam`` (arrays of ``cam.size_px``)."""
    i0, i1 = np.meshgrid(np.arange(cam.size_px[0]), np.arange(cam.size_px[1]), indexing="ij")
    c0, c1 = cam.centre
    if cam.axes == "xy":
        u, v = i0 - c0, i1 - c1
    else:
        u, v = i1 - c1, i0 - c0
    c, s = math.cos(cam.rotation_rad), math.sin(cam.rotation_rad)
    tx = (c * u + s * v) * cam.rad_per_px            # R^-1 (u, v)
    ty = (-s * u + c * v) * cam.rad_per_px
    if cam.flip:
        tx = -tx
    return tx, ty


def render(fine: np.ndarray, fine_rad_per_px: float, cam: CameraGeometry) -> np.ndarray:
    """Sample ``fine`` (an [ix, iy] frame centred at n//2, pitch ``fine_rad_per_px``) for ``cam``;
    counts scaled to the camera's pixel solid angle."""
    tx, ty = pixel_angles(cam)
    n = fine.shape[0]
    coords = np.stack([n // 2 + tx / fine_rad_per_px, n // 2 + ty / fine_rad_per_px])
    ratio = cam.rad_per_px / fine_rad_per_px
    img = ndimage.gaussian_filter(fine.astype(float), 0.5 * ratio) if ratio > 1 else fine.astype(float)
    return (ndimage.map_coordinates(img, coords, order=1, mode="constant") * ratio**2).astype(np.float32)

GRID = CanonicalGrid()


def _pattern(tx, ty):
    """A smooth test pattern of the beam angles (rad) without symmetry (rotations and flips show)."""
    return 100 + 30 * np.cos(tx / 0.006) + 20 * np.sin(ty / 0.009 + 0.3) + 15 * np.tanh((tx + 2 * ty) / 0.02)


def _canonical_truth():
    t = (np.arange(GRID.size_px) - GRID.size_px // 2) * GRID.rad_per_px
    tx, ty = np.meshgrid(t, t, indexing="ij")
    return _pattern(tx, ty)


@pytest.mark.parametrize("cam", [
    CameraGeometry((128, 128), GRID.rad_per_px),                                          # the twin itself
    CameraGeometry((200, 180), 0.4e-3, axes="yx", rotation_rad=0.5),                      # finer, rotated, numpy axes
    CameraGeometry((96, 96), 1.0e-3, rotation_rad=-1.2, flip=True, centre_px=(50.0, 45.5)),  # coarser, flipped, off-centre
    CameraGeometry((512, 512), 0.2e-3, axes="yx", rotation_rad=math.pi / 2),
])
def test_to_canonical_recovers_the_beam_angles(cam):
    tx, ty = pixel_angles(cam)
    ratio = GRID.rad_per_px / cam.rad_per_px
    frame = _pattern(tx, ty) / ratio**2                    # counts per camera pixel
    out = to_canonical(frame, cam)
    assert out.shape == (GRID.size_px, GRID.size_px) and out.dtype == np.float32
    xy = camera_coordinates(cam)
    inside = ((xy[0] >= 1) & (xy[0] <= cam.size_px[0] - 2) & (xy[1] >= 1) & (xy[1] <= cam.size_px[1] - 2))
    err = np.abs(out - _canonical_truth())[inside]
    assert inside.mean() > 0.5
    assert np.percentile(err, 99) < 4.0                    # of a 100 +- 65 pattern (smoothing, bilinear)


def test_identity_and_errors():
    img = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    twin = CameraGeometry((128, 128), GRID.rad_per_px)
    assert twin.is_canonical(GRID) and np.array_equal(to_canonical(img, twin), img)
    with pytest.raises(ValueError, match="image"):
        to_canonical(img[:100], twin)
    with pytest.raises(ValueError, match="rad_per_px"):
        CameraGeometry((64, 64), 0.7)                       # mrad given as rad
    with pytest.raises(ValueError, match="axes"):
        CameraGeometry((64, 64), 1e-3, axes="ij")
    assert coverage(CameraGeometry((64, 64), 0.5e-3)) == pytest.approx((64 / (128 * 0.65625 / 0.5)) ** 2, rel=0.1)
    # transposed axes are a transpose
    yx = CameraGeometry((128, 128), GRID.rad_per_px, axes="yx")
    assert np.allclose(to_canonical(img, yx), img.T)


def _twin(size_px, rad_per_px, seed=3):
    from beamloop.sim.microscope import Microscope, MicroscopeConfig

    return Microscope(MicroscopeConfig.deterministic(ronchigram={"size_px": size_px, "rad_per_px": rad_per_px,
                                                                 "max_oversample": 16, "on_undersampled": "warn"},
                                                     calibration={a: {a: 1.0} for a in ("C10", "C12.x", "C12.y", "C21.x", "C21.y")}),
                      seed=seed)


def test_network_reads_other_cameras_like_its_own():
    """The estimator through the canonical grid on a 100-px, 0.85 mrad camera with numpy axes,
    rotated by 30 degrees (rendered from the twin's frame), reads the aberrations as on the twin's
    own camera."""
    from beamloop.controller.estimation.inference import default_estimator

    est = default_estimator()
    truth = {"C10": 60e-9, "C12.x": 35e-9, "C12.y": -25e-9}
    native = _twin(128, GRID.rad_per_px)
    cam = CameraGeometry((100, 100), 0.85e-3, axes="yx", rotation_rad=math.radians(30))
    wrapped = CanonicalEstimator(est, cam)
    pairs_native, pairs_cam = [], []
    for sign in (-1, 1):
        s = dict(truth, **{"C10": truth["C10"] + sign * est.delta_c10})
        native.set_knobs(s)
        frame = native.acquire()[0].astype(float)
        pairs_native.append(frame)
        pairs_cam.append(render(frame, GRID.rad_per_px, cam))
    m_native, _ = est.predict(np.stack(pairs_native)[None])
    m_cam, _ = wrapped.predict(np.stack(pairs_cam)[None])
    for i, a in enumerate(("C10", "C12.x", "C12.y")):
        assert abs(m_native[0, i] - truth[a]) < 25e-9, (a, m_native[0, i])
        assert abs(m_cam[0, i] - truth[a]) < 30e-9, (a, m_cam[0, i])


@pytest.mark.slow
@pytest.mark.parametrize("cam", [
    # numpy axes, rotated 90 degrees (an exact pixel permutation): measured identical to the twin's camera
    CameraGeometry((128, 128), GRID.rad_per_px, axes="yx", rotation_rad=math.pi / 2),
    # measured 0/6 within 20 nm (98-150 nm), the same residuals at 30 and at 90 degrees: not the
    # interpolation; the 160x150 frame has a dark border where the twin's field ends, which the nn
    # policy's BO fallback (Fourier-ellipse cost on the raw frame) does not expect (docs/instruments.md)
    pytest.param(CameraGeometry((160, 150), GRID.rad_per_px, axes="yx", rotation_rad=math.radians(30),
                                centre_px=(82.0, 73.0)),
                 marks=pytest.mark.xfail(reason="larger camera than the rendered field (docs/instruments.md)", strict=False)),
    # coarser pitch: measured 2/6 within 20 nm
    pytest.param(CameraGeometry((100, 100), 0.85e-3, axes="yx", rotation_rad=math.radians(30)),
                 marks=pytest.mark.xfail(reason="0.85 mrad pixels: measured 2/6 (docs/instruments.md)", strict=False)),
])
def test_nn_alignment_converges_on_a_rotated_other_camera(cam):
    """Closed loop on the twin seen through another camera (size, centre, numpy axes, rotated by 30
    degrees): the nn policy (canonical-grid estimator) aligns C1, A1 as on the twin's own camera."""
    import asyncio

    from beamloop.controller.core.backend import Frame
    from beamloop.controller.estimation.inference import default_estimator
    from beamloop.controller.instruments.local_twin import LocalTwinBackend
    from beamloop.controller.policies.registry import make_policy
    from beamloop.controller.run.loop import run_alignment
    from beamloop.sim.microscope import Microscope, MicroscopeConfig

    class OtherCamera(LocalTwinBackend):
        async def acquire(self) -> Frame:
            f = await super().acquire()
            f.image = render(f.image.astype(float), GRID.rad_per_px, cam)
            return f

    est = default_estimator()
    axes = ["C10", "C12.x", "C12.y"]

    def trials(backend_type, estimator):
        resid = []
        for seed in range(6):
            m = Microscope(MicroscopeConfig(drift=False, ronchigram={"max_oversample": 16, "on_undersampled": "warn"}),
                           seed=seed)
            m.misalign(np.random.default_rng(seed), {a: 120e-9 for a in axes})
            policy = make_policy("nn", seed=seed, estimator=estimator, max_frames=36)
            asyncio.run(run_alignment(backend_type(m), policy, axes, max_frames=40, offload_policy=False))
            t = m.true_aberration_dict()
            resid.append(math.sqrt(sum(t[a] ** 2 for a in axes)))
        return np.array(resid)

    native = trials(LocalTwinBackend, est)
    other = trials(OtherCamera, CanonicalEstimator(est, cam))
    print("residual nm native", np.round(native * 1e9, 1), "other camera", np.round(other * 1e9, 1))
    assert np.sum(other < 20e-9) >= np.sum(native < 20e-9) - 1    # as good as on the twin's own camera
    assert np.median(other) < 20e-9
