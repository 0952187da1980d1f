"""Checks shared by the commands that serve an instrument (``beamloop serve``, ``beamloop twin``):
keys and bind addresses before anything is opened, and a bind failure as a usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, TypeVar

import typer

T = TypeVar("T")


def checked_server_keys(keys: Optional[Path], control: str, data: str):
    """The server's CURVE keys from ``--keys`` (None without), after refusing a non-loopback bind
    without keys; a bad key directory or an insecure bind is a usage error naming the options."""
    from beamloop.controller.protocol.keys import InsecureBindError, KeyFileError, check_bind, server_keys

    try:
        server_k = server_keys(keys) if keys is not None else None
        check_bind(control, server_k)
        check_bind(data, server_k)
    except (KeyFileError, InsecureBindError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--keys / --control / --data") from None
    return server_k


def start_or_exit(start: Callable[[], T], control: str, data: str) -> T:
    """``start()`` (binds the sockets); an address that cannot be bound ends the command with exit 2."""
    import zmq

    try:
        return start()
    except zmq.ZMQError as exc:
        typer.echo(f"error: cannot bind control {control!r} / data {data!r}: {exc}", err=True)
        raise typer.Exit(2) from None
