"""``beamloop keys generate|list``: CURVE key files for the instrument link (controller/protocol/keys.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    keys = typer.Typer(help="CURVE keys of the instrument link: generate, list.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    def _dir(d: Optional[Path]) -> Path:
        from beamloop.controller.protocol.keys import DEFAULT_KEYS_DIR

        return d or DEFAULT_KEYS_DIR

    @keys.command("generate")
    def generate(
        keys_dir: Optional[Path] = typer.Option(None, "--dir", help="Key directory (default ~/.beamloop/keys or $BEAMLOOP_KEYS)."),
        name: str = typer.Option("client", "--name", help="Name of the client key pair to create and authorise."),
    ) -> None:
        """Create a client key pair (authorised on the server) and, if missing, the server pair."""
        from beamloop.controller.protocol.keys import KeyFileError, generate as gen

        try:
            written = gen(_dir(keys_dir), name)
        except KeyFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--name") from None
        for p in written:
            typer.echo(f"wrote {p}")
        typer.echo("server: `beamloop twin --keys DIR` (needs server.key_secret and authorized/); "
                   "client: `beamloop align --keys DIR` (needs <name>.key_secret and server.key)")

    @keys.command("list")
    def list_(keys_dir: Optional[Path] = typer.Option(None, "--dir", help="Key directory.")) -> None:
        """List the key files: name, role, public key, whether the secret is here, whether authorised."""
        from beamloop.controller.protocol.keys import KeyFileError, list_keys

        d = _dir(keys_dir)
        try:
            rows = list_keys(d)
        except KeyFileError as exc:
            raise typer.BadParameter(str(exc), param_hint="--dir") from None
        if not rows:
            typer.echo(f"no keys in {d} (create them with `beamloop keys generate --dir {d}`)")
        for r in rows:
            typer.echo(f"{r['name']:<16} {r['role']:<7} {r['public']}  secret={'yes' if r['secret'] else 'no '}  "
                       f"authorized={'yes' if r['authorized'] else 'no'}")
