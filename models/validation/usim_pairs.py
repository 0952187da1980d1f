"""nionswift-usim validation pairs in the twin's camera geometry (headless, no Qt). usim is an
instrument under test: validation only, never training data.

usim (Nion's geometric, ray-optics STEM simulator) is driven on its instrument object directly:
``SetVal("EHT", 300 kV)``, ``ConvergenceAngle`` 30 mrad, the 5 aligned aberrations (``C10``,
``C12.x`` ...; SI, Nion's names are ours), C23 and C30 zeroed, its amorphous sample
(``sample_index=1``), Poisson noise off (the twin's camera model is applied at evaluation). Its
Ronchigram camera (2048 px, binning 2 -> 1024 px of 0.197 mrad, +-101 mrad, calibrated) is
integrated over the twin's camera pixels (:func:`common.resample_to_camera`, exact area overlap),
transposed from usim's ``[y, x]`` rows to the twin's ``[x, y]``, multiplied by the condenser
aperture disc (usim draws no aperture at all: a real column always has one, and the twin's
features rely on its edge) and scaled to ``dose_e``. Facts: usim's default C10 is 500 nm and with
every aberration exactly 0 it returns a blank frame (a label is never exactly 0 here); ~1.7 s
per frame, twice that after a state change (one stale frame discarded). Bring-up and shut-down: :mod:`.usim_headless`.
"""

from __future__ import annotations

import numpy as np

from beamloop.models.validation.usim_headless import HeadlessUsim
from beamloop.models.validation.common import (AXES, ValidationSpec, aperture_disc, cache_path, load_set, pair_states,
                                               resample_to_camera, save_set, validation_labels)


class UsimRonchigram:
    """A headless usim and its Ronchigram camera, as a pair renderer (context manager)."""

    def __init__(self, spec: ValidationSpec = ValidationSpec(), sample_index: int = 1, binning: int = 2):
        self.spec = spec
        self.usim = HeadlessUsim(noise=False, sample_index=sample_index)
        self.instrument, self.camera = self.usim.stem_controller, self.usim.camera
        try:
            self._configure(spec, binning)
        except BaseException:
            self.usim.close()
            raise
        self._disc = aperture_disc(spec)
        self._stale = True

    def _configure(self, spec: ValidationSpec, binning: int) -> None:
        inst = self.instrument
        inst.SetVal("EHT", float(spec.energy_eV))
        inst.SetVal("ConvergenceAngle", float(spec.convergence_semiangle_rad))
        for nm in ("C23.x", "C23.y", "C30"):
            inst.SetVal(nm, 0.0)
        fp = self.camera.get_current_frame_parameters()
        fp.binning = int(binning)
        fp.exposure_ms = 10
        self.camera.set_current_frame_parameters(fp)

    def set_state(self, state: dict) -> None:
        """Set the aligned aberrations (m, Nion names) on the instrument; the next :meth:`frame`
        discards one frame (measured: the first frame grabbed after a change can still show the
        previous state, ``grab_next_to_start`` notwithstanding)."""
        for nm in AXES:
            if nm in state:
                self.instrument.SetVal(nm, float(state[nm]))
        self._stale = True

    def state(self) -> np.ndarray:
        """The aberrations usim renders (m), AXES order."""
        return np.array([float(self.instrument.GetVal(nm)) for nm in AXES])

    def frame(self) -> np.ndarray:
        """Expected electrons on the twin's camera grid (S, S), axis 0 = theta_x."""
        if self._stale:
            self.camera.grab_next_to_start()
            self._stale = False
        x = self.camera.grab_next_to_start()[0]
        img = np.asarray(x.data, np.float64)
        cal = list(x.dimensional_calibrations)[-2:]
        if any((c.units or "") != "rad" for c in cal):
            raise RuntimeError(f"usim Ronchigram calibration is not in rad: {[c.units for c in cal]}")
        # usim frames are [y, x]; pixel k of an axis spans offset + (k - 1/2, k + 1/2) * scale
        e = resample_to_camera(img, [c.offset - c.scale / 2 for c in cal], [c.scale for c in cal], self.spec).T
        e = np.maximum(e, 0.0) * self._disc
        tot = e.sum()
        if not tot > 0:
            raise RuntimeError("usim returned a blank frame (all aberrations exactly 0?)")
        return (e * (self.spec.dose_e / tot)).astype(np.float32)

    def render(self, labels: np.ndarray, ids=None) -> np.ndarray:
        """Pairs (N, 2, S, S) at ``labels`` (N, 5) m: C10 -/+ delta around each row."""
        labels = np.atleast_2d(labels)
        out = np.zeros((len(labels), 2, self.spec.size_px, self.spec.size_px), np.float32)
        for k, st in enumerate(pair_states(labels, self.spec.delta_c10_m)):
            self.set_state(st)
            out[k // 2, k % 2] = self.frame()
        return out

    def close(self) -> None:
        self.usim.close()

    def __enter__(self) -> "UsimRonchigram":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def generate(spec: ValidationSpec = ValidationSpec(), data_dir=None, force: bool = False, progress=None):
    """Cached (expected (N, 2, S, S) electrons, labels (N, 5) m, meta)."""
    path = cache_path("usim", spec, data_dir)
    if path.exists() and not force:
        return load_set(path)
    labels = validation_labels(spec)
    out = np.zeros((spec.n_pairs, 2, spec.size_px, spec.size_px), np.float32)
    with UsimRonchigram(spec) as u:
        for i in range(spec.n_pairs):
            out[i] = u.render(labels[i:i + 1])[0]
            if progress:
                progress(i + 1, spec.n_pairs)
    from importlib.metadata import version

    meta = {"source": "usim", "nionswift_usim": version("nionswift-usim"), "spec": spec.__dict__, "axes_order": "xy",
            "aperture": "disc applied (usim draws none)", "sample_index": 1, "noise": "off (twin camera at evaluation)"}
    save_set(path, out, labels, meta)
    return out, labels, meta
