"""Our own geometric-optics Ronchigram renderer: one more randomisation of the training data.

In the geometric (shadow) limit every beam angle ``theta`` inside the aperture sees the sample
at the ray position ``x(theta) = grad W(theta)`` (metres; ``W`` the wave aberration in metres,
``beamloop.sim.aberrations`` conventions), and the camera pixel at ``theta`` records the
sample's transmitted intensity there:

    I(theta) = dose_px * A(theta) * (1 + c * n(x(theta)))

with ``A`` the (soft-edged) aperture, ``n`` a unit-variance random texture
(:class:`beamloop.models.textures.PlaneWaves`) and ``c`` the texture's contrast. Nothing here
is wave-optical (no interference, no Fresnel fringes near focus, no Bragg discs): it is a
different physics from the twin's on purpose - what both share (the local magnification
``H = Hessian of W`` of the sample's texture) is what the alignment network must learn; what
they do not share it must ignore.

Pixels integrate intensity: each plane wave is averaged over the pixel's angular box through
the *local* mapping (``sinc`` of its phase gradient across the pixel, the Jacobian of
``x(theta)`` from finite differences), so speckle finer than a pixel is averaged away as on a
real camera, without supersampling. A Gaussian envelope (source size and the probe's
diffraction limit ``~0.5 lambda / alpha``) damps the texture's fine components. The camera
model (MTF, shot and readout noise, gain) is :class:`beamloop.sim.camera.CameraModel`, the
twin's. Units: SI (m, rad); images ``[x, y]`` with the optical axis at pixel ``size // 2``,
as the twin's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from beamloop.models.textures import PlaneWaves


@dataclass(frozen=True)
class GeometricConfig:
    """Camera and aperture of the geometric renderer (SI).

    size_px: camera pixels per side; rad_per_px: angular pixel; convergence_semiangle_rad:
    aperture; contrast: rms relative contrast of the sample's intensity texture (0.001-0.3).
    """

    size_px: int = 128
    rad_per_px: float = 2 * 1.4 * 30e-3 / 128
    convergence_semiangle_rad: float = 30e-3
    contrast: float = 0.05

    def __post_init__(self):
        if int(self.size_px) < 16:
            raise ValueError(f"size_px must be >= 16, got {self.size_px!r}")
        for name in ("rad_per_px", "convergence_semiangle_rad"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 < v < 0.2):
                raise ValueError(f"{name} must be positive radians (< 0.2), got {v!r}")
        if not 0 <= self.contrast <= 1:
            raise ValueError(f"contrast must be in [0, 1], got {self.contrast!r}")


class GeometricRonchigram:
    """Renders noiseless geometric Ronchigrams (expected electrons) of one texture."""

    def __init__(self, cfg: GeometricConfig, texture: PlaneWaves):
        from beamloop.sim.aberrations import chi_gradient_basis

        self.cfg, self.texture = cfg, texture
        n = cfg.size_px
        th = (np.arange(n) - n // 2) * cfg.rad_per_px
        tx, ty = np.meshgrid(th, th, indexing="ij")
        gx, gy = chi_gradient_basis(tx, ty)
        self._bx = gx.reshape(len(gx), -1)
        self._by = gy.reshape(len(gy), -1)
        r = np.hypot(tx, ty)
        self.aperture = np.clip((cfg.convergence_semiangle_rad - r) / cfg.rad_per_px + 0.5, 0.0, 1.0)

    def expected(self, coeffs: np.ndarray, dose_e: float, offset_m=(0.0, 0.0), texture: PlaneWaves | None = None,
                 contrast: float | None = None) -> np.ndarray:
        """``coeffs`` (B, len(NAMES)) metres (``Aberrations.vector`` order) -> (B, n, n) float32
        expected electrons (sum ~ ``dose_e`` over the aperture). ``offset_m``: sample position;
        ``texture`` / ``contrast`` replace the renderer's for this call."""
        from beamloop.sim.aberrations import coefficient_matrix

        import torch

        C, _ = coefficient_matrix(coeffs)
        cfg, n = self.cfg, self.cfg.size_px
        X = (C @ self._bx).reshape(-1, n, n)
        Y = (C @ self._by).reshape(-1, n, n)
        d = cfg.rad_per_px
        # Jacobian of the ray map (m/rad) per pixel; only pixels inside the aperture are textured
        jac = [np.gradient(V, d, axis=a) for V in (X, Y) for a in (1, 2)]   # xx, xy, yx, yy
        inside = self.aperture.reshape(-1) > 0
        pick = [torch.from_numpy(np.ascontiguousarray(V.reshape(len(C), -1)[:, inside], dtype=np.float32)) for V in [X, Y] + jac]
        Xt, Yt, jxx, jxy, jyx, jyy = pick
        w = texture or self.texture
        contrast = cfg.contrast if contrast is None else float(contrast)
        q = torch.from_numpy(w.q.astype(np.float32))
        # the sample offset goes into the waves' phases (float32 keeps the in-frame phases exact)
        p0 = torch.from_numpy(((w.phase + 2 * math.pi * (w.q @ np.asarray(offset_m, float))) % (2 * math.pi)).astype(np.float32))
        amp = torch.from_numpy(w.amp.astype(np.float32))
        acc = torch.zeros_like(Xt)
        for k in range(0, len(q), 32):
            qx, qy = q[k:k + 32, 0, None, None], q[k:k + 32, 1, None, None]
            ph = 2 * math.pi * (qx * Xt + qy * Yt) + p0[k:k + 32, None, None]
            f = torch.cos(ph)
            f *= torch.sinc((qx * jxx + qy * jyx) * d)   # box average along theta_x
            f *= torch.sinc((qx * jxy + qy * jyy) * d)   # ... and theta_y
            acc += torch.einsum("j,jbp->bp", amp[k:k + 32], f)
        tex = np.zeros((len(C), n * n))
        tex[:, inside] = acc.numpy() * math.sqrt(2.0 / len(w.q))
        tex = tex.reshape(len(C), n, n)
        inten = self.aperture[None] * np.clip(1.0 + contrast * tex, 0.0, None)
        inten *= dose_e / max(float(self.aperture.sum()), 1.0)
        return inten.astype(np.float32)
