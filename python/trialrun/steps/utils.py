"""prometheus-test's `utils`: keypairs and payload signatures, signed in Rust (ed25519,
base58), so no PyNaCl or base58 package is needed.

    from trialrun.steps.utils import create_signature, load_keypair

    signing_key, public_key = load_keypair("keys/staking.json")
    signature = create_signature(signing_key, {"taskId": "t", "roundNumber": 1})

`create_signature` gives what the package's gives (and Koii's namespaceWrapper.payloadSigning
expects): base58 of the ed25519 signature followed by the payload's JSON with sorted keys.
`verify_signature` reads one back (for the middle-server stubs tests write).
"""

from __future__ import annotations

import json
import os
from typing import Any

from trialrun import _core

__all__ = [
    "SignedMessage",
    "SigningKey",
    "create_signature",
    "load_keypair",
    "public_key_of",
    "verify_signature",
]


class SignedMessage(bytes):
    """signature || message, as PyNaCl's `SigningKey.sign` returns it."""

    @property
    def signature(self) -> bytes:
        return bytes(self[:64])

    @property
    def message(self) -> bytes:
        return bytes(self[64:])


class SigningKey:
    """An ed25519 signing key from its 32-byte seed (PyNaCl's `SigningKey` surface that
    stage code uses: `bytes(key)`, `verify_key`, `sign(message)`)."""

    def __init__(self, seed: bytes) -> None:
        seed = bytes(seed)
        if len(seed) not in (32, 64):
            raise ValueError(f"a signing key is a 32-byte seed, got {len(seed)} bytes")
        self._seed = seed[:32]

    def __bytes__(self) -> bytes:
        return self._seed

    @property
    def verify_key(self) -> bytes:
        """The 32-byte public key."""
        return bytes(_core.keys_public_key(self._seed))

    def sign(self, message: bytes) -> SignedMessage:
        return SignedMessage(bytes(_core.keys_sign(self._seed, bytes(message))) + bytes(message))

    def __repr__(self) -> str:  # never the seed
        return f"SigningKey(public={public_key_of(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningKey) and other._seed == self._seed

    def __hash__(self) -> int:
        return hash(self.verify_key)


def _seed_of(signing_key: Any) -> bytes:
    if signing_key is None:
        raise ValueError(
            "create_signature: the signing key is None (is the keypair configured for this "
            "worker in workers.json's keypairs?)"
        )
    try:
        seed = bytes(signing_key)  # ours, PyNaCl's SigningKey, or raw bytes
    except TypeError:
        raise TypeError(
            f"create_signature: expected a signing key, got {type(signing_key).__name__}"
        ) from None
    if len(seed) not in (32, 64):
        raise ValueError(f"create_signature: a signing key is 32 bytes, got {len(seed)}")
    return seed[:32]


def public_key_of(signing_key: Any) -> str:
    """The base58 public key of a signing key (or 32-byte seed)."""
    return _core.keys_b58encode(bytes(_core.keys_public_key(_seed_of(signing_key))))


def load_keypair(keypair_path: str | os.PathLike[str]) -> tuple[SigningKey, str]:
    """(signing key, base58 public key) of a keypair file: a JSON array of 64 bytes (Solana
    and Koii's format) or of the 32-byte seed, or {"private": base58 seed}."""
    seed = bytes(_core.keys_read_keypair(os.fspath(keypair_path)))
    key = SigningKey(seed)
    return key, public_key_of(key)


def create_signature(signing_key: Any, payload: dict[str, Any]) -> str:
    """base58(ed25519 signature || JSON of payload with sorted keys)."""
    message = json.dumps(payload, sort_keys=True).encode()
    return _core.keys_signed_message(_seed_of(signing_key), message)


def verify_signature(signature: str, public_key: str) -> Any:
    """The payload inside a `create_signature` result when `public_key` (base58) signed
    it; ValueError otherwise."""
    return json.loads(bytes(_core.keys_open_signed_message(signature, public_key)))
