"""Signed tokens for the links in emails: HMAC-SHA256, one purpose per kind of link.

A token is `payload.signature`, both URL-safe base64 without padding. The purpose is part
of what is signed, so a token made for one kind of link (unsubscribe, a vote) is refused
by every other. A previous secret is accepted for checking only, so that rotating the
secret keeps the links in mail already sent working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from digest.errors import DigestError

# 128 bits of HMAC-SHA256 keep links short and are far beyond guessing.
SIGNATURE_BYTES = 16


class TokenError(DigestError):
    """A token that is malformed, forged, or made for another purpose or installation."""


class Signer:
    """Makes and checks the tokens of one purpose."""

    def __init__(self, purpose: str, secret: str, previous: str | None = None) -> None:
        """`secret` signs and checks; `previous`, if given, only checks."""
        self.purpose = purpose
        # Keyed once: each token then costs a copy and one update, not a key schedule.
        prefix = f"digest-{purpose}\x00".encode()
        self._keys = [
            hmac.new(key.encode(), prefix, hashlib.sha256) for key in (secret, previous) if key
        ]

    def sign(self, payload: bytes) -> str:
        """A token carrying `payload`, signed with the current secret."""
        return f"{_b64(payload)}.{_b64(self._signature(0, payload))}"

    def check(self, token: str) -> bytes:
        """The payload of `token`; TokenError unless one of our secrets signed it for this
        purpose."""
        text, _, signature = token.strip().partition(".")
        try:
            payload = _unb64(text)
            given = _unb64(signature)
        except (binascii.Error, ValueError):
            raise TokenError(f"not {_article(self.purpose)} {self.purpose} token") from None
        for key in range(len(self._keys)):
            if hmac.compare_digest(given, self._signature(key, payload)):
                return payload
        raise TokenError(f"this {self.purpose} token is not valid here (wrong or forged signature)")

    def _signature(self, key: int, payload: bytes) -> bytes:
        mac = self._keys[key].copy()
        mac.update(payload)
        return mac.digest()[:SIGNATURE_BYTES]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(raw) != text:  # spare bits set in the last character: not a token we made
        raise ValueError("not canonical")
    return raw
