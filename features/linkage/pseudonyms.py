"""Keyed pseudonyms: HMAC-SHA256 of a stable anchor, so IDs never reveal a 宛名番号.

Without the key nobody can recompute a pseudonym from a source ID, and a different key gives
unrelated pseudonyms, so the same data linked for two purposes cannot be joined on person_id.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["MIN_KEY_BYTES", "check_key", "pseudonym"]

# Source IDs are short (10 digits); a short key would let anyone holding a few pairs of
# (宛名番号, person_id) brute-force it.
MIN_KEY_BYTES: Final = 16
_DIGEST_HEX_CHARS: Final = 24  # 96 bits: no collision in any municipality's population


def check_key(key: bytes) -> None:
    """Raise ValueError unless `key` is bytes of at least MIN_KEY_BYTES."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key must be at least {MIN_KEY_BYTES} bytes")


def pseudonym(key: bytes, domain: str, anchor: str) -> str:
    """Hex pseudonym of `anchor` in `domain` ("person", "household"), keyed with `key`."""
    message = f"{domain}\x00{anchor}".encode()
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()[:_DIGEST_HEX_CHARS]
