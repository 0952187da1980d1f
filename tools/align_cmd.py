"""``beamloop align`` (the main job) and ``beamloop bench align``.

Thin wiring: option parsing and the rich display. The session (embedded twin, calibration, job)
is :func:`beamloop.controller.run.session.run_session`; the benchmark is
:func:`beamloop.controller.bench.align.run_bench`; policy names and defaults come from the registry.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Optional

import typer

from beamloop.controller.policies.base import RunStatus
from beamloop.controller.policies.registry import BASELINE_POLICY, DEFAULT_POLICY


_ENDPOINT = re.compile(r"^(tcp://[^\s:/]+:(\d{1,5})|ipc://\S+)$")
MAX_FRAME_BUDGET = 100_000   # --max-frames above this is a typo, not a budget


def _finite_positive(x: float | None) -> float | None:
    """Typer callback: a finite number > 0 (or the option left out)."""
    if x is not None and not (math.isfinite(x) and x > 0):
        raise typer.BadParameter(f"must be a finite number > 0, got {x}")
    return x


def _endpoint(addr: str | None) -> str | None:
    """Typer callback: ``tcp://host:port`` (port 1-65535) or ``ipc://path`` (or the option left out)."""
    if addr is None:
        return None
    m = _ENDPOINT.match(addr)
    if m is None or (m.group(2) is not None and not 1 <= int(m.group(2)) <= 65535):
        raise typer.BadParameter(f"must be an endpoint tcp://host:port (port 1-65535) or ipc://path, got {addr!r}")
    return addr


def _nm(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e9:8.1f}"


class _Display:
    """Live rich view of a run: one row per frame (last 12), the policy's cost, best so far, knob values.

    Fits the terminal: knob values in nm/um with 3 digits, one column per axis under its knob name
    (Krivanek: C10, C12.x ...), units in the cells; the cost is named once, in the caption, with
    the tolerance/threshold it is compared against."""

    def __init__(self, axes: list[str], stop_cost: float | None, quiet: bool, policy: str = "nn"):
        from rich.console import Console

        self.axes, self.stop_cost, self.quiet, self.policy = axes, stop_cost, quiet, policy
        self.console = Console()
        self.rows: list[tuple] = []
        self.status = "starting"
        self.best: float | None = None
        self.live = None

    def _caption(self) -> str:
        if self.policy == "nn":
            return "cost: network residual/tolerance, aligned <= 1"
        if self.stop_cost:
            return f"cost: Fourier ellipse, cycles/px; stop <= {self.stop_cost:.3g}"
        return "cost = the policy's cost (lower is better)"

    def _table(self):
        from rich.table import Table

        t = Table(title=f"beamloop align ({self.policy}) - {self.status}", caption=self._caption(),
                  pad_edge=False, collapse_padding=True)
        t.add_column("frame", justify="right")
        t.add_column("cost", justify="right")
        t.add_column("best", justify="right")
        for a in self.axes:
            t.add_column(a, justify="right", overflow="fold")
        for row in self.rows[-12:]:
            t.add_row(*row)
        return t

    def __enter__(self):
        if not self.quiet:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.update(self._table())
            self.live.__exit__(*exc)

    def __call__(self, ev) -> None:
        from beamloop.sim.units import format_length

        if ev.kind == "step" and ev.report is not None:
            c = ev.report.cost
            if c is not None:
                self.best = c if self.best is None else min(self.best, c)
            self.status = f"frame {ev.step}"
            info = ev.report.info or {}
            cost = f"{c:.3g}" if c is not None else ("(pair)" if info.get("phase") == "pair" else "-")
            self.rows.append((str(ev.step), cost, "-" if self.best is None else f"{self.best:.3g}",
                              *[format_length(ev.setting.get(a)) for a in self.axes]))
        else:
            self.status = ev.kind
            msg = f"[{ev.kind}] {ev.message}"
            if self.live is not None:
                self.live.console.print(msg)
            elif ev.kind not in ("start",):
                self.console.print(msg)
        if self.live is not None:
            self.live.update(self._table())


def _summary(console, outcome, axes: list[str], elapsed: float) -> None:
    from rich.table import Table

    res = outcome.result
    from beamloop.sim.units import format_length

    t = Table(title=f"alignment {res.status}: {res.message}")
    t.add_column("knob")
    t.add_column("start", justify="right")
    t.add_column("final", justify="right")
    t.add_column("true residual", justify="right")
    left = res.start if outcome.reverted else res.final
    for a in axes:
        r = outcome.residual.get(a) if outcome.residual else None
        t.add_row(a, format_length(res.start.get(a)), format_length(left.get(a)),
                  format_length(r) if r is not None else "unknown")
    console.print(t)
    if outcome.reverted:
        console.print(f"[bold yellow]the aligned setting measured no better than the start (cost "
                      f"{outcome.start_cost:.4f} at the start): start values put back[/]")
    extra = (f" + {outcome.verification_frames} frame(s) outside the loop (reference, verification)"
             if outcome.verification_frames else "")
    cost = (f", Fourier-ellipse cost of the verification frame {outcome.final_cost:.3g} cycles/px"
            if outcome.final_cost is not None else "")
    console.print(f"frames used: {res.frames}{extra}; time {elapsed:.1f} s{cost}")
    console.print(f"record: {outcome.record}" + (f"   report: {outcome.report}" if outcome.report else ""))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("align")
    def align(
        microscope: Optional[str] = typer.Option(
            None, "--microscope", callback=_endpoint, help="Control address of a running twin/instrument (tcp://host:port). Default: start an embedded twin."
        ),
        data: Optional[str] = typer.Option(None, "--data", callback=_endpoint, help="Data (frame) address; default: the control port + 1."),
        axes: Optional[str] = typer.Option(None, "--axes", help="Axes to align, Krivanek knob names C10,C12.x,C12.y,C21.x,C21.y (aliases C1,A1x,A1y,B2x,B2y accepted). "
                                           "Default: all five with nn, C1,A1x,A1y with bo."),
        policy: str = typer.Option(DEFAULT_POLICY, "--policy", help="Alignment policy (nn: network-guided, the default; bo: Bayesian optimisation)."),
        max_frames: int = typer.Option(0, "--max-frames", min=0, max=MAX_FRAME_BUDGET, help="Frame budget (0: the policy's default for the axes)."),
        stop_cost: Optional[float] = typer.Option(None, "--stop-cost", callback=_finite_positive, help="bo: stop when a measured Fourier-ellipse cost is <= this (cycles/px). Default: the twin's calibration."),
        camera_gain: Optional[float] = typer.Option(None, "--camera-gain", callback=_finite_positive, help="bo: camera counts per electron (default: the twin's camera, 8)."),
        seed: int = typer.Option(0, "--seed", min=0, max=2**63 - 1, help="Seed of the embedded twin, its misalignment and the policy."),
        misalign: bool = typer.Option(True, "--misalign/--no-misalign", help="Embedded twin: start from a random misalignment of the knobs."),
        out: Path = typer.Option(Path("runs"), "--out", help="Directory for the run record (HDF5) and report (PNG)."),
        quiet: bool = typer.Option(False, "--quiet", help="No live display, only the summary."),
        view: bool = typer.Option(False, "--view", help="Serve the live view (web page) while the run goes."),
        view_port: int = typer.Option(8765, "--view-port", min=1, max=65535, help="Port of the live view (with --view)."),
        calibration: Optional[Path] = typer.Option(
            None, "--calibration", help="nn: knob response matrix (JSON written by an earlier nn run). Default: measure it "
            "first with the network (the frames it took are printed) and save it next to the record."),
        keys: Optional[Path] = typer.Option(
            None, "--keys", help="CURVE key directory (`beamloop keys generate`): talk to a keyed instrument "
            "(with the embedded twin: it serves with these keys too)."),
        key_name: str = typer.Option("client", "--key-name", help="This controller's key pair in --keys (<name>.key_secret)."),
        instrument: Optional[str] = typer.Option(
            None, "--instrument", help="Align the instrument an instrument profile describes, through its adapter in "
            "this process: a shipped name (twin, usim, nion, pyjem, pyjem-standin, board-usim ...) or a YAML file "
            "(docs/instruments.md). Simulators start misaligned (--no-misalign: as they are)."),
    ) -> None:
        """Align the microscope (by default an embedded digital twin over loopback sockets) and record the run.

        Ctrl-C aborts: the aligned knobs are set back to their starting values and read back.
        """
        from rich.console import Console

        from beamloop.controller.bench.align import parse_axes
        from beamloop.controller.run.instrument_session import run_instrument_session
        from beamloop.controller.run.session import AlignRequest, SessionError, prepare_options, run_session

        console = Console()
        try:
            req = AlignRequest(policy=policy, axes=parse_axes(axes) if axes else None, max_frames=max_frames or None,
                               stop_cost=stop_cost, camera_gain=camera_gain, seed=seed, misalign=misalign, out=out,
                               microscope=microscope, data=data, calibration=calibration, keys=keys, key_name=key_name)
            knob_axes, options = prepare_options(req)  # every check before anything connects or moves
        except SessionError as exc:
            raise typer.BadParameter(str(exc), param_hint=exc.param) from None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--axes") from None
        display = _Display(knob_axes, options.get("stop_cost"), quiet, policy)
        live = None
        if view:
            from beamloop.controller.serve.live_view import LiveView

            live = LiveView(port=view_port, title=f"beamloop align ({policy})")
            console.print(f"live view: {live.start()}")
            req.listeners.append(live.publish)
        t0 = time.time()
        code = 0
        from beamloop.controller.run.way_back import Interrupted, run_guarded

        try:
            with display:
                # SIGINT/SIGTERM: the first cancels the run (knobs restored and read back), later ones are ignored
                if instrument is not None:
                    outcome = run_guarded(lambda: run_instrument_session(req, instrument, on_event=display, say=console.print),
                                          say=console.print)
                else:
                    outcome = run_guarded(lambda: run_session(req, on_event=display, say=console.print), say=console.print)
            _summary(console, outcome, knob_axes, time.time() - t0)
            code = 0 if outcome.result.status in (RunStatus.CONVERGED, RunStatus.FINISHED) else 1
            if outcome.result.status == RunStatus.ABORTED:
                code = 130
        except SessionError as exc:
            raise typer.BadParameter(str(exc), param_hint=exc.param) from None
        except Interrupted as exc:
            # "restored" was printed above only if the knobs were read back at their start values
            console.print(f"[bold yellow]aborted ({exc})[/]; see the restore message above; the record is in {out}/")
            code = 130 if exc.signum == 2 else 143
        finally:
            if live is not None:
                live.stop()
        raise typer.Exit(code)

    @bench.command("align")
    def bench_align(
        policy: str = typer.Option(BASELINE_POLICY, "--policy", help="Alignment policy (bo, nn, ...), or several comma-separated "
                                   "(e.g. nn,bo) to compare them on the same seeded trials in one JSON object."),
        axes: str = typer.Option("C1,A1x", "--axes", help="Axes: C1,A1x,A1y,B2x,B2y."),
        trials: int = typer.Option(100, "--trials", help="Number of random misalignments."),
        seed: int = typer.Option(0, "--seed", help="Seed: the same seed repeats the same trials."),
        noise: bool = typer.Option(True, "--noise/--no-noise", help="Shot noise on the twin's frames."),
        drift: bool = typer.Option(True, "--drift/--no-drift", help="Aberration drift on the twin."),
        max_frames: int = typer.Option(0, "--max-frames", min=0, max=MAX_FRAME_BUDGET, help="Frame budget per trial (0: the policy's default for the axes)."),
        stop_cost: Optional[float] = typer.Option(None, "--stop-cost", callback=_finite_positive, help="bo: stop threshold (default: calibrated on the twin before the trials)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        out: Optional[Path] = typer.Option(None, "--out", help="Result file (default bench_results/align_<policy>_<axes>.json)."),
        misalign_scale: float = typer.Option(1.0, "--misalign-scale", help="Scale the misalignment windows (default C1/A1 +-150 nm, B2 +-2 um)."),
        instrument: Optional[str] = typer.Option(None, "--instrument", help="Bench another instrument through its adapter: "
                                                 "a profile name (usim, pyjem-standin, board-usim ...) or YAML file (docs/instruments.md)."),
        bridge: bool = typer.Option(False, "--bridge", help="With --instrument: serve it over the ZeroMQ protocol on "
                                    "tcp://127.0.0.1 (the `beamloop serve` bridge) and align through it."),
    ) -> None:
        """Success rate and frames needed over many random misalignments of the in-process twin
        (or, with --instrument, of another simulator through its adapter)."""
        import warnings

        from rich.console import Console

        from beamloop.controller.bench.align import DEFAULT_MISALIGN, BenchConfig, parse_axes, run_bench
        from beamloop.controller.policies.registry import policy_options, policy_spec
        from beamloop.tools.benchio import emit

        warnings.filterwarnings("ignore", message="aberrations too large")
        if not 0 < misalign_scale <= 3:
            raise typer.BadParameter(f"must be in (0, 3], got {misalign_scale}", param_hint="--misalign-scale")
        try:
            knob_axes = parse_axes(axes)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--axes") from None
        policies = [p.strip() for p in policy.split(",") if p.strip()]
        from beamloop.controller.policies.registry import available_policies

        unknown = [p for p in policies if p not in available_policies()]
        if not policies or unknown or len(set(policies)) != len(policies):
            raise typer.BadParameter(f"give one or more distinct policies of {', '.join(available_policies())}, "
                                     f"comma-separated; got {policy!r}", param_hint="--policy")
        console = Console(stderr=True)
        if instrument is not None:
            from beamloop.tools.instrument_cmd import bench_instrument

            bench_instrument(instrument, policies, knob_axes, trials, seed, None if noise else False, max_frames or None,
                             stop_cost, {a: misalign_scale * DEFAULT_MISALIGN[a] for a in knob_axes}, bridge, as_json, out,
                             console)
            return
        if bridge:
            raise typer.BadParameter("--bridge needs --instrument", param_hint="--bridge")
        results = {}
        for pol in policies:
            options = policy_options(pol, knob_axes, max_frames or None, stop_cost)
            cfg = BenchConfig(policy=pol, axes=knob_axes, trials=trials, seed=seed, noise=noise, drift=drift,
                              policy_options=options,
                              calibrate_stop=(policy_spec(pol).calibrates_stop_cost and stop_cost is None),
                              calibrate_response=policy_spec(pol).needs_response_calibration,
                              misalign={a: misalign_scale * DEFAULT_MISALIGN[a] for a in knob_axes})
            t0 = time.perf_counter()

            def progress(i, trial, pol=pol, t0=t0):
                resid = ", ".join(f"{k} {v * 1e9:.1f} nm" for k, v in trial["residual"].items())
                console.print(f"[{pol}] trial {i + 1}/{trials}: {trial['frames']} frames, success={trial['success']} "
                              f"({time.perf_counter() - t0:.0f} s) residual {resid}")

            result = run_bench(cfg, progress=progress)
            result["policy_options"] = {k: v for k, v in cfg.policy_options.items() if isinstance(v, (int, float, str, type(None)))}
            results[pol] = result
        axes_tag = '_'.join(a.replace('.', '') for a in knob_axes)
        if len(policies) == 1:
            emit(f"align_{policies[0]}_{axes_tag}", results[policies[0]], as_json, out)
            return
        # several policies on the same seeded trials: one object, one entry per policy
        combined = {
            "axes": knob_axes, "trials": trials, "seed": seed, "policies": policies,
            "success_criterion": results[policies[0]]["success_criterion"],
            "summary": {p: {k: r[k] for k in ("success_rate", "frames_median", "frames_mean", "frames_std", "wall_s")}
                        for p, r in results.items()},
            "results": results,
        }
        emit(f"align_{'_vs_'.join(policies)}_{axes_tag}", combined, as_json, out)
