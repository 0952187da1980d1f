"""``beamloop eval foreign``: the estimator on foreign physics (abTEM, nionswift-usim) next to the twin.

Generates (first run) and caches the validation pairs under ``--data-dir`` (default
``data/validation``), reports per-axis RMSE per source on the same labels and the closed loop
(start / after 1, 2, 3 pair-steps) on the twin and usim; one JSON object, also written to
``bench_results/eval_foreign.json`` (tools/benchio.py). Foreign simulators are validation only.
Heavy (abTEM ~1-3 s and usim ~1.7 s per frame): run under ``flock /tmp/beamloop-heavy.lock``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    ev = typer.Typer(help="Evaluations of the alignment estimator (validation only).", no_args_is_help=True)
    app.add_typer(ev, name="eval")

    @ev.command("foreign")
    def foreign(
        sources: str = typer.Option("twin,abtem,usim", help="comma list of twin, abtem, usim"),
        pairs: int = typer.Option(200, help="validation pairs per source (same labels for every source)"),
        seed: int = typer.Option(0, help="labels / sample seed"),
        loop_trials: int = typer.Option(50, help="closed-loop trials (first labels of the set); 0: no closed loop"),
        loop_sources: str = typer.Option("twin,usim", help="closed loop on these (twin, usim)"),
        steps: int = typer.Option(3, help="pair-steps of the closed loop"),
        data_dir: Optional[Path] = typer.Option(None, help="cache dir (default data/validation or $BEAMLOOP_DATA/validation)"),
        weights_dir: Optional[Path] = typer.Option(None, help="alignment weights (default: the committed ones)"),
        generate_only: bool = typer.Option(False, help="only generate/cache the sets"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
        out: Optional[Path] = typer.Option(None, help="result file (default bench_results/eval_foreign.json)"),
    ) -> None:
        """Per-axis RMSE (nm) per source and closed-loop success on foreign validation pairs."""
        import os
        import sys

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from beamloop.models.validation.common import SOURCES, ValidationSpec
        from beamloop.models.validation.evaluate import foreign_report, format_report, load_source
        from beamloop.tools.benchio import emit

        src = tuple(s.strip() for s in sources.split(",") if s.strip())
        bad = [s for s in src if s not in SOURCES]
        if bad:
            raise typer.BadParameter(f"unknown source(s) {bad}; known {SOURCES}", param_hint="--sources")
        loops = tuple(s.strip() for s in loop_sources.split(",") if s.strip()) if loop_trials > 0 else ()
        if any(s not in ("twin", "usim") for s in loops):
            raise typer.BadParameter("closed loop runs on twin and/or usim", param_hint="--loop-sources")
        spec = ValidationSpec(n_pairs=pairs, seed=seed)

        def progress(i, n):
            if i % 20 == 0 or i == n:
                print(f"  {i}/{n} pairs", file=sys.stderr, flush=True)

        if generate_only:
            for s in src:
                load_source(s, spec, data_dir, progress=progress)
            typer.echo(f"cached {src} ({pairs} pairs, seed {seed})")
            return
        from beamloop.controller.estimation.inference import default_estimator

        est = default_estimator(weights_dir)
        report = foreign_report(est, src, spec, data_dir, loop_sources=loops, loop_trials=loop_trials, steps=steps,
                                progress=progress)
        report["estimator"] = type(est).__name__
        if not as_json:
            typer.echo(format_report(report))
        emit("eval_foreign", report, as_json, out)
