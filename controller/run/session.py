"""One ``beamloop align`` session: where the microscope is, the policy's needs, then the job.

Everything the align command does between parsing its options and printing the summary:

1. the instrument: an embedded digital twin started on loopback sockets (the default), or the
   control/data addresses of a running instrument server (``beamloop twin``, ``beamloop serve``);
2. the policy's options from its own defaults (:func:`~beamloop.controller.policies.registry.policy_options`);
3. the knobs' response calibration if the policy needs one (:class:`PolicySpec`), loaded from a
   file or measured with the network once and saved next to the record;
4. :func:`~beamloop.controller.run.job.run_job`.

The command line (``tools/align_cmd.py``) only parses, builds an :class:`AlignRequest` and
displays. Units: SI (metres) throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from beamloop.controller.core.backend import ConnectionLostError
from beamloop.controller.run.response_step import response_for_policy
from beamloop.controller.estimation.knob_calibration import CalibrationMismatchError, ResponseCalibration
from beamloop.controller.instruments.zmq_client import ZmqTwinBackend
from beamloop.controller.policies.registry import available_policies, policy_options, policy_spec
from beamloop.controller.run.job import JobConfig, JobOutcome, random_start, run_job, twin_instrument
from beamloop.controller.serve.twin_server import start_embedded_twin
from beamloop.sim.microscope import MicroscopeConfig

__all__ = ["AlignRequest", "SessionError", "DEFAULT_MISALIGN", "twin_ronchigram_options", "data_address",
           "prepare_options", "run_session", "loop_frame_cap"]

# The embedded twin's random misalignment (m): C1, A1 within +-150 nm, B2 within +-2 um.
DEFAULT_MISALIGN: dict[str, float] = {"C10": 150e-9, "C12.x": 150e-9, "C12.y": 150e-9, "C21.x": 2e-6, "C21.y": 2e-6}


class SessionError(ValueError):
    """A request that cannot be carried out; ``param`` names the option at fault."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def twin_ronchigram_options() -> dict[str, Any]:
    """Ronchigram options of the twin for alignment runs: internal oversampling up to 16 so frames
    stay free of wrap-around up to ~700 nm of C1 (beyond that the simulator warns)."""
    return {"max_oversample": 16, "on_undersampled": "warn"}


def data_address(control: str) -> str:
    """The data channel's default address: the control port + 1 (``tcp://host:5555`` -> ``...:5556``)."""
    host, _, port = control.rpartition(":")
    if not host or not port.isdigit():
        raise SessionError("--microscope", f"cannot derive a data address from {control!r}; give --data")
    return f"{host}:{int(port) + 1}"


@dataclass
class AlignRequest:
    """What the operator asked for. axes: knob names (``C10``, ``C12.x`` ...; None: the policy's
    default); max_frames / stop_cost (Fourier-ellipse cost, cycles/px) / camera_gain (counts per
    electron): None for the policy's defaults; microscope / data: instrument addresses (None:
    embedded twin); misalign: the embedded twin starts misaligned; calibration: a saved response
    calibration (JSON) for a policy that needs one."""

    policy: str = "nn"
    axes: list[str] | None = None
    max_frames: int | None = None
    stop_cost: float | None = None
    camera_gain: float | None = None
    seed: int = 0
    misalign: bool = True
    out: Path = Path("runs")
    microscope: str | None = None
    data: str | None = None
    calibration: Path | None = None
    extra_options: dict[str, Any] = field(default_factory=dict)
    keys: Path | None = None          # CURVE key directory (controller/protocol/keys.py); None: no keys (loopback)
    key_name: str = "client"          # this controller's key pair in ``keys`` (<key_name>.key_secret)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)  # record followers (live view)


def check_request_values(req: AlignRequest) -> None:
    """Refuse numbers no run can use (the command line checks them too): :class:`SessionError`
    naming the option. max_frames an integer >= 0; stop_cost (cycles/px) and camera_gain (counts
    per electron) finite and > 0; seed an integer >= 0."""
    mf = req.max_frames
    if mf is not None and (isinstance(mf, bool) or not isinstance(mf, int) or mf < 0):
        raise SessionError("--max-frames", f"must be an integer >= 0 (0: the policy's default), got {mf!r}")
    for param, v in (("--stop-cost", req.stop_cost), ("--camera-gain", req.camera_gain)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
            raise SessionError(param, f"must be a finite number > 0, got {v!r}")
    if isinstance(req.seed, bool) or not isinstance(req.seed, int) or req.seed < 0:
        raise SessionError("--seed", f"must be an integer >= 0, got {req.seed!r}")


def prepare_options(req: AlignRequest) -> tuple[list[str], dict[str, Any]]:
    """Check the request (before anything connects or moves) and return (axes, policy options)."""
    check_request_values(req)
    if req.policy not in available_policies():
        raise SessionError("--policy", f"unknown policy {req.policy!r}; available: {', '.join(available_policies())}")
    spec = policy_spec(req.policy)
    from beamloop.controller.run.nexus import OutputLocationError, check_output_location

    try:
        check_output_location(req.out)  # before anything connects or moves
    except OutputLocationError as exc:
        raise SessionError("--out", str(exc)) from None
    if req.keys is not None:   # key files read now: a missing or bad one is a usage error, nothing has connected
        from beamloop.controller.protocol.keys import KeyFileError, client_keys, server_keys

        try:
            client_keys(req.keys, req.key_name)
            if req.microscope is None:
                server_keys(req.keys)   # the embedded twin serves with the same directory
        except KeyFileError as exc:
            raise SessionError("--keys", str(exc)) from None
    axes = list(req.axes or spec.default_axes)
    options = {**policy_options(req.policy, axes, req.max_frames, req.stop_cost, req.camera_gain), **req.extra_options}
    if req.calibration is not None:
        if not spec.needs_response_calibration:
            raise SessionError("--calibration", f"the {req.policy} policy takes no response calibration")
        try:
            loaded = ResponseCalibration.load(req.calibration)
        except (OSError, ValueError) as exc:
            raise SessionError("--calibration", str(exc)) from None
        options["calibration"], options["play"] = loaded.gain, loaded.play_m
    return axes, options


def loop_frame_cap(req: AlignRequest, options: dict[str, Any]) -> int:
    """The loop's hard frame cap: the policy's budget (or the request's), plus 5 frames of slack
    for the policy's own final moves (approach waypoints, a last pair)."""
    return max(options.get("max_frames") or 0, req.max_frames or 0, 1) + 5


async def run_session(req: AlignRequest, on_event: Callable | None = None,
                      say: Callable[[str], None] = print) -> JobOutcome:
    """Carry out ``req``: start or reach the instrument, calibrate if needed, align, record."""
    axes, options = prepare_options(req)
    stop = None
    if req.microscope is None:
        say("starting the embedded twin (loopback sockets) ...")
        mc = MicroscopeConfig(ronchigram=twin_ronchigram_options())
        ctrl, data, stop = start_embedded_twin(mc, seed=req.seed, keys_dir=req.keys)  # CURVE too with --keys
        source = f"embedded twin (seed {req.seed}) at {ctrl}"
        instrument = twin_instrument(mc, name=source)
        offsets = random_start(np.random.default_rng(req.seed), axes, DEFAULT_MISALIGN) if req.misalign else {}
    else:
        ctrl, data = req.microscope, req.data or data_address(req.microscope)
        source, offsets = f"instrument at {req.microscope}", {}
        instrument = {"name": source}
    cfg = JobConfig(axes=axes, policy=req.policy, policy_options=options,
                    max_frames=loop_frame_cap(req, options), out_dir=req.out,
                    start_offsets=offsets, source=source, seed=req.seed, instrument=instrument,
                    listeners=list(req.listeners))
    try:
        from beamloop.controller.run.way_back import WayBack

        client_keys = None
        if req.keys is not None:
            from beamloop.controller.protocol.keys import client_keys as load_client_keys

            client_keys = load_client_keys(req.keys, req.key_name)
        backend = ZmqTwinBackend(ctrl, data, keys=client_keys)
        try:
            await backend.connect()   # nothing has moved yet: a dead address is a usage error
        except ConnectionLostError as exc:
            await backend.close()
            if req.microscope is None:
                raise
            raise SessionError("--microscope", f"no instrument answers at {ctrl} ({exc}); nothing was moved. "
                               "Start one (`beamloop twin`, `beamloop serve`) or check the address") from None
        try:
            async with WayBack(backend, say=say):  # any error or signal from here on: knobs back, read back
                # the embedded twin is the instrument of the shipped ``twin`` profile; a remote one is unnamed
                try:
                    await response_for_policy(backend, cfg, options, req.calibration, req.out, say,
                                              instrument="twin" if req.microscope is None else None)
                except CalibrationMismatchError as exc:   # nothing has moved yet
                    raise SessionError("--calibration", str(exc)) from None
                return await run_job(backend, cfg, on_event=on_event)
        finally:
            await backend.close()
    finally:
        if stop is not None:
            stop()
