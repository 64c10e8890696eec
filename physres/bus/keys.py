"""CURVE key pairs for an encrypted bus (``physres keys``).

A key pair is two files written by pyzmq's ``zmq.auth.create_certificates``:
``NAME.key`` (public: copy it to the broker's ``curve_allowed`` folder, or,
for the broker's own pair, to every client as ``curve_broker``) and
``NAME.key_secret`` (secret: stays on its machine, mode 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

import zmq.auth

from physres.bus.nodetable import check_name
from physres.errors import BusError

__all__ = ["allow_key", "new_keys", "revoke_key"]


def new_keys(folder: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` and ``NAME.key_secret`` in ``folder``; never overwrites a pair."""
    try:
        check_name(name)
    except ValueError as e:
        raise BusError(f"key name: {e}") from None
    d = Path(folder)
    public, secret = d / f"{name}.key", d / f"{name}.key_secret"
    if public.exists() or secret.exists():
        raise BusError(f"keys {name!r} already exist in {d}: remove them first to replace them")
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    pub, sec = zmq.auth.create_certificates(d, name)
    os.chmod(sec, 0o600)
    return Path(pub), Path(sec)


def allow_key(public: str | os.PathLike[str], allowed: str | os.PathLike[str]) -> Path:
    """Copy a public key file into a broker's ``curve_allowed`` folder (refuses secret keys)."""
    src = Path(public)
    try:
        _, sec = zmq.auth.load_certificate(src)
    except (OSError, ValueError) as e:
        raise BusError(f"{src}: not a readable key file ({e})") from None
    if sec is not None:
        raise BusError(f"{src} holds a secret key: allow the public one ({src.stem}.key)")
    d = Path(allowed)
    d.mkdir(parents=True, exist_ok=True)
    dst = d / f"{src.stem}.key"
    dst.write_bytes(src.read_bytes())
    return dst


def revoke_key(name: str, allowed: str | os.PathLike[str]) -> Path:
    """Remove ``NAME.key`` from ``allowed``: the broker refuses it from the next connection on."""
    f = Path(allowed) / f"{name}.key"
    if not f.is_file():
        raise BusError(f"no key {name!r} in {allowed} (its .key files are what is allowed)")
    f.unlink()
    return f
