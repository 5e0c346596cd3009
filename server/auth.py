"""Secret hashing for staff PINs and device tokens, and ``qhall hash-secret``.

The hall configuration never holds a plaintext secret: it holds the output of
:func:`hash_secret`, a self-describing string in the spirit of the PHC format::

    scrypt$n=16384,r=8,p=1$<salt, base64>$<hash, base64>

The cost parameters travel with the hash, so :func:`verify_secret` checks old
and new hashes alike and the default cost can change without breaking a
config file. At the default cost (n=2**14, r=8, 16 MiB) one verification takes
a few tens of milliseconds: cheap for a login, expensive for a brute force.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import os
import re
import sys
from dataclasses import dataclass

__all__ = [
    "DEFAULT_N",
    "DEFAULT_P",
    "DEFAULT_R",
    "HashParams",
    "configure",
    "hash_secret",
    "parse_hash",
    "run",
    "verify_secret",
]

DEFAULT_N = 2**14
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32

# Sanity bounds for hashes read from a file: a hand-edited (or hostile)
# config must not make the server allocate gigabytes or spin for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEMORY = 256 * 1024 * 1024
_MIN_SALT = 8
_MIN_KEY = 16

_B64 = r"[A-Za-z0-9+/]+={0,2}"
_HASH_RE = re.compile(rf"scrypt\$n=(\d{{1,8}}),r=(\d{{1,3}}),p=(\d{{1,3}})\$({_B64})\$({_B64})")


@dataclass(frozen=True)
class HashParams:
    """The decoded parts of a hash string.

    Attributes:
        n: scrypt CPU/memory cost (a power of two).
        r: scrypt block size.
        p: scrypt parallelism.
        salt: the random salt.
        key: the derived key to compare against.
    """

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _memory(n: int, r: int) -> int:
    # scrypt needs about 128 * r * n bytes; hashlib refuses above maxmem.
    return 128 * r * n


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=dklen,
        maxmem=_memory(n, r) + 1024 * 1024,
    )


def _cost_ok(n: int, r: int, p: int) -> bool:
    if n < 2 or n > _MAX_N or n & (n - 1):
        return False
    return 1 <= r <= _MAX_R and 1 <= p <= _MAX_P and _memory(n, r) <= _MAX_MEMORY


def parse_hash(hashed: object) -> HashParams | None:
    """Decode a hash string made by :func:`hash_secret`.

    Args:
        hashed: the candidate string (anything is accepted).

    Returns:
        The decoded parameters, or ``None`` when ``hashed`` is not a
        well-formed scrypt hash within sane cost bounds.
    """
    if not isinstance(hashed, str):
        return None
    match = _HASH_RE.fullmatch(hashed)
    if match is None:
        return None
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if not _cost_ok(n, r, p):
        return None
    try:
        salt = _b64decode(match.group(4))
        key = _b64decode(match.group(5))
    except (binascii.Error, ValueError):
        return None
    if len(salt) < _MIN_SALT or len(key) < _MIN_KEY:
        return None
    return HashParams(n=n, r=r, p=p, salt=salt, key=key)


def hash_secret(
    secret: str,
    *,
    n: int = DEFAULT_N,
    r: int = DEFAULT_R,
    p: int = DEFAULT_P,
    salt: bytes | None = None,
) -> str:
    """Hash a PIN or token for storage in the hall configuration.

    Args:
        secret: the plaintext; must be a non-empty string.
        n: scrypt cost, a power of two (default 2**14).
        r: scrypt block size.
        p: scrypt parallelism.
        salt: the salt; a fresh random 16-byte salt when omitted. Pass a
            fixed salt only for public, deterministic secrets (the demo hall).

    Returns:
        ``scrypt$n=N,r=R,p=P$<salt b64>$<hash b64>``.

    Raises:
        TypeError: ``secret`` is not a string.
        ValueError: ``secret`` is empty, or the parameters are out of bounds.
    """
    if not isinstance(secret, str):
        raise TypeError(f"secret must be a string, got {type(secret).__name__}")
    if not secret:
        raise ValueError("secret must not be empty")
    # Never write a hash that verify_secret would later reject.
    if not all(isinstance(v, int) for v in (n, r, p)) or not _cost_ok(n, r, p):
        raise ValueError(f"scrypt parameters out of bounds: n={n}, r={r}, p={p}")
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    if len(salt) < _MIN_SALT:
        raise ValueError(f"salt must be at least {_MIN_SALT} bytes")
    key = _scrypt(secret, salt, n, r, p, KEY_BYTES)
    return f"scrypt$n={n},r={r},p={p}${_b64encode(salt)}${_b64encode(key)}"


def verify_secret(secret: object, hashed: object) -> bool:
    """Check a plaintext against a stored hash, in constant time.

    Never raises: a malformed hash, a non-string secret or an empty secret
    all simply give ``False``.

    Args:
        secret: the plaintext the client sent.
        hashed: the stored hash string.

    Returns:
        True when the secret matches.
    """
    params = parse_hash(hashed)
    if params is None or not isinstance(secret, str) or not secret:
        return False
    try:
        key = _scrypt(secret, params.salt, params.n, params.r, params.p, len(params.key))
    except (ValueError, UnicodeError, MemoryError):
        return False
    return hmac.compare_digest(key, params.key)


# ---------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``qhall hash-secret``."""
    parser.description = (
        "Hash a staff PIN or a device token for the hall configuration "
        "(pin_hash / token_hash). Reads the secret from standard input when it "
        "is piped, else asks for it twice. Prints the hash."
    )


def _read_secret() -> str:
    if not sys.stdin.isatty():
        text = sys.stdin.read()
        # Strip exactly one line ending, as `echo` or a file adds; keep the rest.
        if text.endswith("\r\n"):
            return text[:-2]
        if text.endswith("\n"):
            return text[:-1]
        return text
    first = getpass.getpass("Secret: ")
    second = getpass.getpass("Again: ")
    if first != second:
        raise ValueError("the two entries differ; nothing was hashed, try again")
    return first


def run(args: argparse.Namespace) -> int:
    """Run ``qhall hash-secret``: 0 on success, 2 on a refused secret."""
    try:
        secret = _read_secret()
    except (ValueError, UnicodeError, EOFError) as exc:
        print(f"qhall hash-secret: error: {exc}", file=sys.stderr)
        return 2
    if not secret:
        print(
            "qhall hash-secret: error: empty secret; give a PIN or token "
            "(e.g. `printf '%s' 4821 | qhall hash-secret`)",
            file=sys.stderr,
        )
        return 2
    print(hash_secret(secret))
    return 0
