"""The notebook API: ``beamloop.Twin(...)``, ``beamloop.align(...)`` and its result.

::

    import beamloop
    twin = beamloop.Twin(seed=1)                                   # a misaligned digital twin
    result = beamloop.align(twin, axes="C1,A1x,A1y", out_dir="runs")  # nn policy, like the CLI
    result.plot()                                                  # the report figure
    result                                                         # a table in Jupyter

``align`` is synchronous and also works inside a running event loop (Jupyter): the run then goes
in a worker thread with its own loop. Defaults are the CLI's (policy ``nn``, its axes and frame
budget); the twin starts misaligned (hidden offsets within +-150 nm for C1/A1, +-2 um for B2)
unless ``misalign=False``; ``out_dir`` must be given (no silent ``./runs``). Units: SI in and
out; ``"50nm"``-style strings are accepted wherever a length is typed.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beamloop.controller.bench.align import DEFAULT_MISALIGN, BenchConfig, make_twin, measure_twin_response, parse_axes
from beamloop.controller.instruments.local_twin import LocalTwinBackend
from beamloop.controller.policies.registry import DEFAULT_POLICY, policy_options, policy_spec
from beamloop.controller.run.job import JobConfig, JobOutcome, run_job, twin_instrument
from beamloop.sim.units import format_length, parse_length

__all__ = ["Twin", "align", "AlignResult"]


class Twin:
    """An in-process digital twin for notebooks.

    seed: the twin's noise and its hidden misalignment; misalign: start misaligned (default);
    windows: half-widths (m or ``"150nm"``) of the misalignment per aberration (default +-150 nm
    C1/A1, +-2 um B2); noise/drift: shot noise and aberration drift. ``truth()``: the true
    aberrations now (m).
    """

    def __init__(self, seed: int = 0, misalign: bool = True, windows: dict[str, Any] | None = None,
                 noise: bool = True, drift: bool = True):
        self.seed = int(seed)
        self.windows = ({k: parse_length(v, f"window {k}") for k, v in windows.items()} if windows is not None
                        else dict(DEFAULT_MISALIGN)) if misalign else {}
        self.microscope = make_twin(BenchConfig(axes=list(DEFAULT_MISALIGN), noise=noise, drift=drift), self.seed)
        self._misalign()

    def _misalign(self) -> None:
        self.microscope.set_knobs({a: 0.0 for a in self.microscope.knob_specs()})
        self.microscope.misalign(self.seed, self.windows)

    def truth(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.microscope.true_aberration_dict().items() if k in DEFAULT_MISALIGN}

    def __repr__(self) -> str:
        t = ", ".join(f"{k} {format_length(v)}" for k, v in self.truth().items())
        return f"Twin(seed={self.seed}; true aberrations {t})"


@dataclass
class AlignResult:
    """What :func:`align` returns: ``status``, ``frames``, ``start``/``final`` knob values (m),
    ``residual`` (true aberrations after, m; the twin knows them), ``record``/``report`` paths
    and the full :class:`~beamloop.controller.run.job.JobOutcome` as ``outcome``."""

    outcome: JobOutcome
    axes: list[str]

    @property
    def status(self) -> str:
        return str(self.outcome.result.status)

    @property
    def frames(self) -> int:
        return int(self.outcome.result.frames)

    @property
    def start(self) -> dict[str, float]:
        return dict(self.outcome.result.start)

    @property
    def final(self) -> dict[str, float]:
        return dict(self.outcome.result.final)

    @property
    def residual(self) -> dict[str, float] | None:
        return self.outcome.residual

    @property
    def record(self) -> Path:
        return Path(self.outcome.record)

    @property
    def report(self) -> Path | None:
        return self.outcome.report

    def run(self) -> dict[str, Any]:
        """The record as Python/numpy (:func:`~beamloop.controller.run.record.read_run`)."""
        from beamloop.controller.run.record import read_run

        return read_run(self.record)

    def plot(self):
        """The report as a matplotlib figure (the PNG the run wrote)."""
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt

        img = mpimg.imread(self.report)
        fig = plt.figure(figsize=(img.shape[1] / 100, img.shape[0] / 100))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(img)
        ax.axis("off")
        return fig

    def _rows(self) -> list[tuple[str, str, str, str]]:
        res = self.residual or {}
        return [(a, format_length(self.start.get(a)), format_length(self.final.get(a)),
                 format_length(res[a]) if a in res else "unknown") for a in self.axes]

    def __repr__(self) -> str:
        lines = [f"AlignResult: {self.status} after {self.frames} frames ({self.outcome.result.message})"]
        lines += [f"  {a:6s} start {s:>10s}  final {f:>10s}  true residual {r:>10s}" for a, s, f, r in self._rows()]
        lines.append(f"  record {self.record}" + (f", report {self.report}" if self.report else ""))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{a}</td><td>{s}</td><td>{f}</td><td>{r}</td></tr>" for a, s, f, r in self._rows())
        img = ""
        if self.report and Path(self.report).exists():
            b64 = base64.b64encode(Path(self.report).read_bytes()).decode()
            img = f'<br><img style="max-width:100%" src="data:image/png;base64,{b64}">'
        return (f"<b>beamloop align: {self.status}</b> after {self.frames} frames ({self.outcome.result.message})"
                f"<table><tr><th>knob</th><th>start</th><th>final</th><th>true residual</th></tr>{rows}</table>"
                f"<small>record <code>{self.record}</code></small>{img}")


def _run_sync(coro_fn):
    """Run ``coro_fn()`` to completion, also from inside a running event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_fn())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


def align(twin: Twin | None = None, *, out_dir: str | Path, axes: str | list[str] | None = None,
          policy: str = DEFAULT_POLICY, max_frames: int | None = None, seed: int = 0, view: bool = False,
          **policy_overrides: Any) -> AlignResult:
    """Align ``twin`` (default: ``Twin(seed)``) and return an :class:`AlignResult`.

    out_dir: where the record (NeXus/HDF5) and report (PNG) go - required; axes: ``"C1,A1x"`` or
    knob names (default: the policy's, as in the CLI); policy: ``nn`` (default) or ``bo``;
    max_frames: frame budget (default: the policy's); view: serve the live view while it runs
    (prints the URL); policy_overrides: options of the policy. The ``nn`` policy's knob response
    is measured first on the twin (20 frames, not counted in the run).
    """
    twin = twin if twin is not None else Twin(seed)
    spec = policy_spec(policy)
    knob_axes = parse_axes(axes) if axes else list(spec.default_axes)
    options = {**policy_options(policy, knob_axes, max_frames), **policy_overrides}
    events = []
    if spec.needs_response_calibration and "calibration" not in options:
        cal = measure_twin_response(BenchConfig(policy=policy, axes=knob_axes, policy_options=options), twin.microscope)
        options["calibration"], options["play"] = cal.gain, cal.play_m
        events.append({"kind": "calibration", "frames": int(cal.frames),
                       "message": f"knob response measured on the aligned twin in {cal.frames} frames"})
        twin._misalign()  # the calibration ran on the aligned twin; put the same misalignment back
    listeners = []
    live = None
    if view:
        from beamloop.controller.serve.live_view import LiveView

        live = LiveView(port=0, title=f"beamloop align ({policy})")
        print(f"live view: {live.start()}")
        listeners.append(live.publish)
    cfg = JobConfig(axes=knob_axes, policy=policy, policy_options=options,
                    max_frames=max(options.get("max_frames") or 0, max_frames or 0, 1) + 5, out_dir=Path(out_dir),
                    source=f"notebook twin (seed {twin.seed})", seed=seed, listeners=listeners, events=events,
                    instrument=twin_instrument(twin.microscope.config, name=f"notebook twin (seed {twin.seed})"))
    try:
        outcome = _run_sync(lambda: run_job(LocalTwinBackend(twin.microscope), cfg))
    finally:
        if live is not None:
            live.stop()
    return AlignResult(outcome, knob_axes)
