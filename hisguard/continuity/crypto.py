"""Patient data at rest: AES-256-GCM with a key id, so keys can be rotated.

A sealed blob is ``MAGIC | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``; the
plaintext is zlib-compressed first (packets are JSON and shrink ~8×). The associated data
binds a blob to the row or file it belongs to, so a blob copied into another row (another
ward's packet) fails to open instead of showing the wrong ward's patients.

This module has no Django dependency at import time: the downtime node uses it too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import zlib
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"HGC1"
KEY_BYTES = 32
_HEADER = len(MAGIC) + 8 + 12


class SealError(Exception):
    """A blob could not be opened: wrong key, tampered with, or not a sealed blob."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"hisguard-key-id:" + key).digest()[:8]


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode() + b"=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError) as exc:
        raise SealError("the key is not base64") from exc
    if len(key) != KEY_BYTES:
        raise SealError(f"the key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return key


def seal(key: bytes, plaintext: bytes, aad: bytes = b"", *, compress: bool = True) -> bytes:
    nonce = secrets.token_bytes(12)
    body = zlib.compress(plaintext, 6) if compress else plaintext
    flag = b"z" if compress else b"-"
    return MAGIC + key_id(key) + nonce + AESGCM(key).encrypt(nonce, flag + body, aad)


def unseal(keys: Iterable[bytes], blob: bytes, aad: bytes = b"") -> bytes:
    """Open a blob with whichever of `keys` sealed it."""
    blob = bytes(blob)
    if len(blob) < _HEADER + 17 or not blob.startswith(MAGIC):
        raise SealError("not a sealed blob (truncated or replaced)")
    wanted = blob[len(MAGIC) : len(MAGIC) + 8]
    nonce = blob[len(MAGIC) + 8 : _HEADER]
    for key in keys:
        if key_id(key) != wanted:
            continue
        try:
            data = AESGCM(key).decrypt(nonce, blob[_HEADER:], aad)
        except InvalidTag as exc:
            raise SealError("integrity check failed: the data was modified or belongs elsewhere") from exc
        flag, body = data[:1], data[1:]
        return zlib.decompress(body) if flag == b"z" else body
    raise SealError("sealed with a key this installation does not have")


def sealed_key_id(blob: bytes) -> bytes:
    return bytes(blob)[len(MAGIC) : len(MAGIC) + 8]


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


# --- The server's keyring -------------------------------------------------------------------

_server_keys: list[bytes] | None = None


def server_keys() -> list[bytes]:
    """The current data key first, then retired ones (still accepted for reading).

    HISGUARD_DATA_KEY (base64 of 32 bytes) sets it; otherwise, for the embedded single-machine
    setup, a key is generated on first use into var/continuity-data.key (mode 0600).
    """
    global _server_keys
    if _server_keys is None:
        from django.conf import settings

        configured = settings.HISGUARD_DATA_KEY
        if configured:
            current = decode_key(configured)
        else:
            path = Path(settings.VAR_DIR) / "continuity-data.key"
            if path.exists():
                current = decode_key(path.read_text())
            else:
                current = new_key()
                write_private(path, encode_key(current).encode())
        _server_keys = [current] + [decode_key(old) for old in settings.HISGUARD_DATA_KEYS_OLD]
    return _server_keys


def reset_server_keys() -> None:
    global _server_keys
    _server_keys = None


def seal_for_server(plaintext: bytes, aad: bytes) -> bytes:
    return seal(server_keys()[0], plaintext, aad)


def unseal_on_server(blob: bytes, aad: bytes) -> bytes:
    return unseal(server_keys(), blob, aad)
