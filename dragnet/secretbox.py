"""Secrets at rest (webhook signing secrets): sealed with Fernet (AES-128-CBC + HMAC-SHA256)
under a key from settings (``secrets_key``) or, without one, a key created on first use in the
data directory, readable by its owner only.

Why: a copy of the database (a backup, a support bundle, a stolen disk image) must not hand out
the secrets that let anyone forge Dragnet's webhook deliveries.  Sealed values are prefixed
``enc:v1:``; a value without the prefix was written before sealing existed and is read as it is
(and sealed the next time it is written).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from dragnet.settings import DragnetSettings, get_settings

PREFIX = "enc:v1:"


class SecretKeyError(RuntimeError):
    """The sealing key is missing or wrong for a sealed value (the message says which)."""


def key_path(settings: DragnetSettings) -> Path:
    return settings.paths.data_dir / "keys" / "secrets.key"


def _fernet(settings: DragnetSettings) -> Fernet:
    configured = settings.secrets_key
    if configured is not None and configured.get_secret_value():
        try:
            return Fernet(configured.get_secret_value().encode())
        except ValueError as exc:
            raise SecretKeyError("secrets_key must be a Fernet key (32 url-safe base64 bytes)") from exc
    path = key_path(settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
        try:
            os.link(partial, path)  # the first process to get here wins; others read its key
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return Fernet(path.read_bytes().strip())


def seal(plaintext: str, settings: DragnetSettings | None = None) -> str:
    return PREFIX + _fernet(settings or get_settings()).encrypt(plaintext.encode()).decode()


def unseal(stored: str, settings: DragnetSettings | None = None) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before secrets were sealed
    try:
        return _fernet(settings or get_settings()).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SecretKeyError("a stored secret cannot be opened: the secrets key changed or was lost") from exc
