"""``beamloop align --instrument PROFILE``: align the instrument a profile describes, in-process.

The same job as the default session (:mod:`.session`), on the adapter
:func:`~beamloop.controller.instruments.open.open_instrument` builds from a validated instrument
profile (the twin, Nion Swift / nionswift-usim, JEOL PyJEM or its stand-in, the board with a
detector): the policy's options for that instrument (camera gain, stop cost, canonical-grid
estimator: :func:`~.instrument_options.policy_options_for`), the knobs' response calibration if
the policy needs one, then :func:`~.job.run_job` inside a :class:`~.way_back.WayBack` (any error
or signal puts every knob back and reads it back).

A bad profile fails before anything is opened (:class:`~beamloop.controller.instruments.profile.ProfileError`
naming the field). On a *simulator* (twin, usim, stand-in: the profile's oracle) with ``misalign``,
a random misalignment is hidden in the simulator first, so there is something to align, and the
oracle's truth after the run is the residual; on a real column nothing is hidden and the residual
is unknown. Units: SI (metres).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from beamloop.controller.estimation.knob_calibration import CalibrationMismatchError
from beamloop.controller.instruments.open import open_instrument
from beamloop.controller.instruments.profile import ProfileError, load_profile
from beamloop.controller.policies.registry import policy_spec
from beamloop.controller.run.instrument_options import policy_options_for
from beamloop.controller.run.job import JobConfig, JobOutcome, random_start, run_job
from beamloop.controller.run.response_step import response_for_policy
from beamloop.controller.run.session import (DEFAULT_MISALIGN, AlignRequest, SessionError, loop_frame_cap,
                                             prepare_options)
from beamloop.controller.run.way_back import WayBack

__all__ = ["run_instrument_session", "instrument_record"]


def instrument_record(profile, note: str = "") -> dict[str, Any]:
    """The record's ``instrument`` description from a profile (optics, camera pitch, the profile)."""
    return {"name": f"{profile.name} ({profile.kind}{': ' + note if note else ''})",
            "beam_energy_eV": float(profile.beam_energy_eV),
            "convergence_semiangle_rad": float(profile.convergence_semiangle_rad),
            "rad_per_px": float(profile.camera.rad_per_px), "profile": profile.model_dump(mode="json")}


async def run_instrument_session(req: AlignRequest, instrument: str | Path, on_event: Callable | None = None,
                                 say: Callable[[str], None] = print) -> JobOutcome:
    """Carry out ``req`` on the instrument profile ``instrument`` (shipped name or YAML file)."""
    if req.microscope is not None:
        raise SessionError("--instrument", "give either --instrument (an adapter in this process) or --microscope "
                           "(an instrument server), not both")
    try:
        profile = load_profile(instrument)
    except (ProfileError, OSError, ValueError) as exc:
        raise SessionError("--instrument", str(exc)) from None
    axes, options = prepare_options(req)   # checks values and the output location: nothing opened yet
    try:   # a stale response calibration named by the profile is refused here, before anything opens
        for_profile = policy_options_for(profile, req.policy, axes, req.max_frames, req.stop_cost)
    except ValueError as exc:
        raise SessionError("--instrument", str(exc)) from None
    keep = set(req.extra_options) | ({"calibration", "play"} if req.calibration is not None else set())
    options.update({k: v for k, v in for_profile.items() if k not in keep})   # --calibration FILE wins
    say(f"opening instrument {profile.name!r} ({profile.kind}) ...")
    opened = open_instrument(profile, seed=req.seed)
    try:
        backend, oracle = opened.backend, opened.oracle
        offsets: dict[str, float] = {}
        if oracle is not None and req.misalign:
            offsets = random_start(np.random.default_rng(req.seed), axes, DEFAULT_MISALIGN)
            oracle.misalign(offsets)
            say(f"simulator: misalignment hidden in the instrument {({a: f'{v * 1e9:.1f} nm' for a, v in offsets.items()})}")
        cfg = JobConfig(axes=axes, policy=req.policy, policy_options=options,
                        max_frames=loop_frame_cap(req, options), out_dir=req.out,
                        source=f"instrument profile {profile.name} ({opened.note or profile.kind})", seed=req.seed,
                        instrument=instrument_record(profile, opened.note), listeners=list(req.listeners),
                        keep_if_better=not policy_spec(req.policy).measures_residual)
        if offsets:
            cfg.events.append({"kind": "misaligned_start", "message": "simulator misalignment hidden (oracle)",
                               "offsets": offsets})
        await backend.connect()
        try:
            async with WayBack(backend, say=say):
                cal_file = req.calibration or (Path(profile.response_calibration) if profile.response_calibration
                                               and "calibration" not in req.extra_options else None)
                try:
                    await response_for_policy(backend, cfg, options, cal_file, req.out, say, instrument=profile.name)
                except CalibrationMismatchError as exc:   # nothing has moved yet
                    raise SessionError("--calibration", str(exc)) from None
                outcome = await run_job(backend, cfg, on_event=on_event)
        finally:
            await backend.close()
        if outcome.residual is None and oracle is not None:
            truth = oracle.true_aberrations()
            outcome.residual = {a: float(truth[a]) for a in axes if a in truth}
        return outcome
    finally:
        opened.close()
