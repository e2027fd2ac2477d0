"""Ed25519 keys that sign audit checkpoints (:mod:`goldenpath.store.checkpoints`).

The private key is a PEM file (PKCS #8, unencrypted) that only its owner can read (mode
0600, refused when group or others may read it, as ``ssh`` refuses such keys); its public key
sits next to it as ``FILE.pub`` (PEM). A key is named by its **fingerprint**,
``sha256:`` and the hex SHA-256 of the 32 raw bytes of the public key. Keep the private key
away from the store's database and its writers: whoever holds it can sign any head.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from goldenpath.errors import AuthenticationFailed, DestinationExists

__all__ = [
    "GeneratedKey",
    "fingerprint",
    "generate_key",
    "read_private_key",
    "read_public_key",
    "sign",
    "signature_holds",
]


@dataclass(frozen=True)
class GeneratedKey:
    """A new key pair: where each half was written, and the public key's fingerprint."""

    private_key: str
    public_key: str
    fingerprint: str
    public_key_pem: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def fingerprint(key: Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of the public key's 32 raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def generate_key(path: Path) -> GeneratedKey:
    """Write a new private key to ``path`` (mode 0600, created, never overwritten) and its
    public key to ``path.pub``."""
    public_path = path.with_name(path.name + ".pub")
    for target in (path, public_path):
        if target.exists() or target.is_symlink():
            raise DestinationExists(
                f"{target} already exists; a key is never overwritten",
                hint="choose another --out, or remove the old key once nothing needs it "
                "(checkpoints it signed are verified with its public key)",
            )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)  # whatever the umask
    public_pem = _public_pem(key.public_key())
    public_path.write_text(public_pem, encoding="ascii")
    return GeneratedKey(str(path), str(public_path), fingerprint(key.public_key()), public_pem)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuthenticationFailed(
            f"cannot read the {what} {path}: {exc.strerror or exc}",
            hint="give the file goldenpath audit keygen wrote",
        ) from None


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM), refused when others may read the file."""
    data = _read(path, "checkpoint key")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AuthenticationFailed(
            f"the checkpoint key {path} can be read by others (mode {mode:04o})",
            hint=f"chmod 600 {path}, and keep it away from whoever can write the store",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AuthenticationFailed(
            f"{path} is not an unencrypted PEM private key ({exc})",
            hint="create one with: goldenpath audit keygen --out FILE",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthenticationFailed(
            f"{path} holds a {type(key).__name__.removeprefix('_')}, not an Ed25519 key",
            hint="create one with: goldenpath audit keygen --out FILE",
        )
    return key


def read_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path`` (PEM, as ``audit keygen`` writes ``FILE.pub``)."""
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise AuthenticationFailed(
            f"{path} is not a PEM public key ({exc})",
            hint="give the FILE.pub that goldenpath audit keygen wrote next to the key",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuthenticationFailed(
            f"{path} holds a {type(key).__name__.removeprefix('_')}, not an Ed25519 public key",
            hint="give the FILE.pub that goldenpath audit keygen wrote next to the key",
        )
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """The Ed25519 signature of ``message``, base64."""
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_holds(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``key``'s signature of ``message``."""
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
