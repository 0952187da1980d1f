"""nionswift-usim started headless (no Qt, no Swift UI) and shut down completely.

One place that knows how to bring usim up and down, used by the validation pairs
(:mod:`.usim_pairs`) and by the instrument adapter's session
(:class:`beamloop.controller.instruments.nion.UsimSession`). usim is an *instrument under test*:
beamloop never trains on its frames.

Two traps this module exists for (both measured, see ../shared/notes/toolchain.md):

* Swift's camera settings call ``asyncio.get_event_loop()`` in the constructing thread; after any
  ``asyncio.run`` in that thread there is none, so one is created here.
* usim's camera devices run non-daemon threads: a session that is not closed (or whose
  construction fails half-way) keeps the Python process alive for ever. Construction failures
  close what was started; :meth:`HeadlessUsim.close` is idempotent.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["HeadlessUsim"]


def _ensure_event_loop() -> None:
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


class HeadlessUsim:
    """usim's STEM controller (``stem_controller``) and its Ronchigram camera (``camera``), headless.

    sample_index: 0 flake, 1 amorphous, 2 both. noise: usim's Poisson noise on/off.
    Context manager; :meth:`close` stops every usim thread.
    """

    def __init__(self, noise: bool = True, sample_index: int = 0):
        from nion.instrumentation import camera_base
        from nion.usim_device import DeviceConfiguration

        logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
        self._closed = False
        self.config = DeviceConfiguration.AcquisitionContextConfiguration(sample_index=sample_index,
                                                                          set_configuration_location=False)
        _ensure_event_loop()
        self.config.run()
        self.stem_controller = self.config.instrument
        try:
            self.camera = camera_base.CameraHardwareSource3(
                self.config.instrument_id, self.config.ronchigram_camera_device, self.config.ronchigram_camera_settings,
                None, "ronchigram")
        except BaseException:  # do not leave usim's camera threads running
            self.config.ronchigram_camera_device.close()
            self.config.eels_camera_device.close()
            self.config.stop()
            self._closed = True
            raise
        self.config.ronchigram_camera_device.simulator.noise.enabled = bool(noise)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.camera.stop_playing()
        except Exception:  # noqa: BLE001 - closing must not fail
            pass
        self.camera.close()                          # closes the Ronchigram camera device too
        self.config.eels_camera_device.close()       # its thread would keep the process alive
        self.config.stop()

    def __enter__(self) -> "HeadlessUsim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
