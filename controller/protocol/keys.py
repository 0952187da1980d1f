"""CURVE key files for the instrument link, and the bind-address rule.

Layout of a key directory (``beamloop keys generate --dir D``; default ``~/.beamloop/keys``)::

    D/server.key          server public key   (give it to every client)
    D/server.key_secret   server secret key   (only on the instrument host)
    D/<name>.key          a client's public key
    D/<name>.key_secret   a client's secret key (only on that client's host)
    D/authorized/*.key    public keys of the clients the server accepts

Files are ZeroMQ's own certificate format (``zmq.auth.create_certificates``), secret files
mode 0600. The server authenticates every connection on both channels with a ZAP handler
that accepts exactly the public keys in ``authorized/`` (a stranger, even one that knows the
server's public key, is refused during the CURVE handshake and never reaches the sockets).

Without keys the server may only bind loopback (``127.0.0.0/8``, ``::1``, ``localhost``),
``ipc://`` or ``inproc://`` endpoints: :func:`check_bind` refuses anything else.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

DEFAULT_KEYS_DIR = Path(os.environ.get("BEAMLOOP_KEYS", str(Path.home() / ".beamloop" / "keys")))
SERVER_NAME = "server"
AUTHORIZED = "authorized"


class KeyFileError(ValueError):
    """A key file is missing or malformed (the message names the file)."""


class InsecureBindError(ValueError):
    """Binding a non-loopback address without CURVE keys."""


@dataclass(frozen=True)
class ServerKeys:
    """The server's key pair and the directory of authorised client public keys."""

    public: bytes
    secret: bytes
    authorized_dir: Path


@dataclass(frozen=True)
class ClientKeys:
    """A client's key pair and the server public key it expects."""

    public: bytes
    secret: bytes
    server_public: bytes


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise KeyFileError(f"key file {path} does not exist (create keys with `beamloop keys generate --dir {path.parent}`)")
    try:
        pub, sec = zmq.auth.load_certificate(str(path))
    except Exception as exc:  # noqa: BLE001 - zmq raises ValueError / OSError variants
        raise KeyFileError(f"key file {path} is not a ZeroMQ CURVE certificate: {exc}") from None
    if secret and not sec:
        raise KeyFileError(f"key file {path} holds no secret key")
    if len(pub) != 40 or (sec is not None and len(sec) != 40):
        raise KeyFileError(f"key file {path}: keys must be 40 Z85 characters")
    return pub, sec


def generate(keys_dir: Path, name: str = "client", *, server: bool = True) -> list[Path]:
    """Create ``name``'s key pair in ``keys_dir`` and authorise it; also the server pair if
    ``server`` and it does not exist yet. Returns the files written. Existing keys are never overwritten."""
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name in (SERVER_NAME, AUTHORIZED):
        raise KeyFileError(f"key name must be letters, digits, '-' or '_' and not {SERVER_NAME!r}; got {name!r}")
    keys_dir = Path(keys_dir)
    (keys_dir / AUTHORIZED).mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    written: list[Path] = []
    names = ([SERVER_NAME] if server and not (keys_dir / f"{SERVER_NAME}.key_secret").exists() else []) + [name]
    for n in names:
        if (keys_dir / f"{n}.key_secret").exists():
            raise KeyFileError(f"{keys_dir / (n + '.key_secret')} already exists; not overwritten")
        pub, sec = zmq.auth.create_certificates(str(keys_dir), n)
        os.chmod(sec, 0o600)
        written += [Path(pub), Path(sec)]
        if n != SERVER_NAME:
            dst = keys_dir / AUTHORIZED / f"{n}.key"
            shutil.copyfile(pub, dst)
            written.append(dst)
    return written


def list_keys(keys_dir: Path) -> list[dict]:
    """Every key file in ``keys_dir``: name, role, public key (Z85), has secret, authorised."""
    keys_dir = Path(keys_dir)
    out = []
    authorized = {p.stem for p in (keys_dir / AUTHORIZED).glob("*.key")} if (keys_dir / AUTHORIZED).is_dir() else set()
    for p in sorted(keys_dir.glob("*.key")):
        pub, _ = _load(p, secret=False)
        out.append({"name": p.stem, "role": "server" if p.stem == SERVER_NAME else "client",
                    "public": pub.decode(), "secret": (keys_dir / f"{p.stem}.key_secret").exists(),
                    "authorized": p.stem in authorized})
    return out


def server_keys(keys_dir: Path) -> ServerKeys:
    keys_dir = Path(keys_dir)
    pub, sec = _load(keys_dir / f"{SERVER_NAME}.key_secret", secret=True)
    auth = keys_dir / AUTHORIZED
    if not auth.is_dir() or not any(auth.glob("*.key")):
        raise KeyFileError(f"{auth} holds no authorised client keys (*.key): nobody could connect")
    for p in auth.glob("*.key"):
        _load(p, secret=False)
    return ServerKeys(pub, sec, auth)


def client_keys(keys_dir: Path, name: str = "client") -> ClientKeys:
    keys_dir = Path(keys_dir)
    pub, sec = _load(keys_dir / f"{name}.key_secret", secret=True)
    spub, _ = _load(keys_dir / f"{SERVER_NAME}.key", secret=False)
    return ClientKeys(pub, sec, spub)


def apply_server(sock: zmq.Socket, keys: ServerKeys) -> None:
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_server = True


def apply_client(sock: zmq.Socket, keys: ClientKeys) -> None:
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = keys.server_public


def start_authenticator(ctx: zmq.Context, keys: ServerKeys):
    """A ZAP handler on ``ctx`` accepting exactly the authorised client keys."""
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(keys.authorized_dir))
    return auth


def is_loopback(addr: str) -> bool:
    """True for ``ipc://``, ``inproc://`` and TCP endpoints on a loopback host."""
    if addr.startswith(("ipc://", "inproc://")):
        return True
    if not addr.startswith("tcp://"):
        return False
    host = addr[len("tcp://"):].rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # "*", an interface name, a host name: not provably loopback
        return False


def check_bind(addr: str, keys: ServerKeys | None) -> None:
    """Refuse a non-loopback bind without keys (raise :class:`InsecureBindError`)."""
    if keys is None and not is_loopback(addr):
        raise InsecureBindError(
            f"refusing to bind {addr!r} without CURVE keys: anyone on the network could drive the lenses. "
            "Bind 127.0.0.1, or create keys (`beamloop keys generate`) and pass --keys")
