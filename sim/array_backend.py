"""The few array kernels the twin needs, on torch when it is installed and on numpy otherwise.

The twin is the default microscope, so it must run in the operator install (no torch). Torch's
CPU FFT and single-threaded matmul are faster here than numpy's (numpy's OpenBLAS threads spin on
a busy 2-core machine), so with torch installed (the ``train`` extra, CI) every kernel runs on
torch exactly as before; without it the same numpy-in / numpy-out functions use numpy.
Results agree to float32 round-off; the camera's noise differs only in its random stream
(torch's generator, seeded from the numpy ``Generator``, vs. the ``Generator`` itself), so a
seed reproduces its frames within one install.
"""

from __future__ import annotations

import numpy as np

try:  # noqa: SIM105 - an optional accelerator, never a requirement
    import torch
except ImportError:  # the operator core
    torch = None

__all__ = ["HAVE_TORCH", "matmul", "fft2", "ifft2", "rfft2", "irfft2", "NoiseStream", "single_thread"]

HAVE_TORCH = torch is not None


def _t(a: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(a))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (broadcasting like ``np.matmul``)."""
    if torch is None:
        return np.matmul(a, b)
    return torch.matmul(_t(a), _t(b)).numpy()


def fft2(a: np.ndarray) -> np.ndarray:
    """2-D FFT over the last two axes (complex64 in, complex64 out)."""
    if torch is None:
        return np.fft.fft2(a).astype(np.complex64, copy=False)
    return torch.fft.fft2(_t(a)).numpy()


def ifft2(a: np.ndarray) -> np.ndarray:
    """2-D inverse FFT over the last two axes."""
    if torch is None:
        return np.fft.ifft2(a).astype(np.complex64, copy=False)
    return torch.fft.ifft2(_t(a)).numpy()


def rfft2(a: np.ndarray) -> np.ndarray:
    """2-D real FFT over the last two axes (float32 in)."""
    if torch is None:
        return np.fft.rfft2(a).astype(np.complex64, copy=False)
    return torch.fft.rfft2(_t(a)).numpy()


def irfft2(spec: np.ndarray, s: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`rfft2` with output shape ``s`` (float32)."""
    if torch is None:
        return np.fft.irfft2(spec, s=s).astype(np.float32, copy=False)
    return torch.fft.irfft2(_t(spec), s=s).numpy()


class NoiseStream:
    """One stream of random numbers seeded from a numpy ``Generator``: with torch a
    ``torch.Generator`` seeded by one draw of ``rng`` (the twin's stream since session 1),
    without torch ``rng`` itself. ``rand``: float32 uniform [0, 1); ``randn``: float32 normal."""

    def __init__(self, rng: np.random.Generator):
        if torch is None:
            self._rng, self._g = rng, None
        else:
            self._g = torch.Generator()
            self._g.manual_seed(int(rng.integers(0, 2**63 - 1)))

    def rand(self, shape) -> np.ndarray:
        if self._g is None:
            return self._rng.random(shape, dtype=np.float32)
        return torch.rand(shape, generator=self._g).numpy()

    def randn(self, shape) -> np.ndarray:
        if self._g is None:
            return self._rng.standard_normal(shape, dtype=np.float32)
        return torch.randn(shape, generator=self._g).numpy()


class single_thread:
    """Run torch ops single-threaded for the duration (restores the previous setting); a no-op
    without torch.

    Our batches already run in two Python threads; torch's own intra-op threads on top of them
    spin against each other (measured: the camera PSF FFT took 8x more CPU with 2 intra-op
    threads on a busy 2-core machine). Process-global while active, like any torch setting.
    """

    def __enter__(self):
        self._old = torch.get_num_threads() if torch is not None else 1
        if self._old != 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self._old != 1:
            torch.set_num_threads(self._old)
        return False
