"""Shared output for ``beamloop bench ...``: one JSON object on stdout, also written to a file."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import typer

DEFAULT_DIR = Path("bench_results")


def emit(name: str, result: dict[str, Any], as_json: bool, out: Path | None = None) -> Path:
    """Print ``result`` (JSON if ``as_json`` else a readable table) and write it to ``out``.

    The file defaults to ``bench_results/<name>.json`` in the working directory. Machine
    facts (host, cores, python) and a timestamp are added under ``"_meta"`` in the file.
    """
    import os

    meta = {
        "benchmark": name,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    path = out or DEFAULT_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "_meta": meta}, indent=2, default=float) + "\n")
    if as_json:
        typer.echo(json.dumps(result, default=float))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"beamloop bench {name}")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(key, json.dumps(value, default=float) if not isinstance(value, str) else value)
        Console().print(table)
        typer.echo(f"written to {path}")
    return path
