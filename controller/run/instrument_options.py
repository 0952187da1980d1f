"""Policy options for an instrument profile (``beamloop align`` / ``bench align --instrument``).

The policies' own defaults (:func:`~beamloop.controller.policies.registry.policy_options`) are the
twin's; an instrument changes three things: the camera gain (the BO cost's noise level), the BO
stop threshold (the profile's ``alignment.stop_cost``), and for ``nn`` the camera geometry - the
estimator is wrapped in a :class:`~beamloop.controller.estimation.canonical_grid.CanonicalEstimator`
that maps each frame onto the networks' angular grid before the features. Anything else an
instrument needs goes in the profile's ``alignment.<policy>`` map (merged last).
"""

from __future__ import annotations

from typing import Any


def policy_options_for(profile, policy: str, axes: list[str], max_frames: int | None = None,
                       stop_cost: float | None = None, estimator: str = "integer") -> dict[str, Any]:
    """Policy options for this instrument: the twin defaults, the profile's camera gain and
    stop cost, the canonical-grid estimator for ``nn``, then the profile's ``alignment.<policy>``.
    estimator: the ``nn`` networks' arithmetic, ``"integer"`` (fixed point, bit-exact with the
    hls4ml emulation = the FPGA) or ``"torch"`` (:func:`~beamloop.controller.estimation.inference.default_estimator`)."""
    from beamloop.controller.policies.registry import policy_options, policy_spec

    gain = profile.camera.counts_per_electron
    opts = policy_options(policy, axes, max_frames, stop_cost, gain)
    sc = stop_cost if stop_cost is not None else profile.alignment.get("stop_cost")
    if policy == "bo" and sc is not None:
        opts["stop_cost"] = float(sc)
    if policy == "nn":
        from beamloop.controller.estimation.canonical_grid import CanonicalEstimator, CanonicalGrid
        from beamloop.controller.estimation.inference import default_estimator

        geom = profile.camera.geometry()
        est = default_estimator(backend=estimator)
        opts["estimator"] = est if geom.is_canonical(CanonicalGrid()) else CanonicalEstimator(est, geom)
        opts["counts_per_electron"] = gain
        if sc is not None:
            opts["bo_stop_cost"] = float(sc)
        from beamloop.controller.instruments.calibration import profile_response

        cal = profile_response(profile)  # the profile's saved knob response: 0 frames (refused if stale)
        if cal is not None:
            opts.update(cal.policy_options())
    if policy_spec(policy).needs_camera:
        opts["camera"] = profile.camera.geometry()
    opts.update(profile.alignment.get(policy, {}))
    return opts
