"""The server side of Telegram's 2FA password check (SRP-6a with SHA-256 and PBKDF2).

Follows https://core.telegram.org/api/srp: the server keeps only the verifier
``v = g^x mod p`` with ``x = PH2(password, salt1, salt2)``; ``account.getPassword``
hands out ``B = k*v + g^b`` with a one-time ``srp_id``; ``auth.checkPassword``
recomputes the client's proof ``M1`` from ``A`` and compares.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from telethon.tl import types

from .crypto import DH_G, DH_PRIME
from .world import SrpPassword

_P_BYTES = DH_PRIME.to_bytes(256, "big")


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _pad(value: int) -> bytes:
    return value.to_bytes(256, "big")


def _ph2(password: str, salt1: bytes, salt2: bytes) -> bytes:
    ph1 = _h(salt2, _h(salt1, password.encode("utf-8"), salt1), salt2)
    return _h(salt2, hashlib.pbkdf2_hmac("sha512", ph1, salt1, 100000), salt2)


def make_password(password: str, hint: str = "") -> SrpPassword:
    """Derive the stored verifier for ``password`` (costs one 100k-round PBKDF2)."""
    salt1 = secrets.token_bytes(40)
    salt2 = secrets.token_bytes(16)
    x = int.from_bytes(_ph2(password, salt1, salt2), "big")
    return SrpPassword(salt1=salt1, salt2=salt2, verifier=pow(DH_G, x, DH_PRIME), hint=hint)


def kdf_algo(
    stored: SrpPassword | None,
) -> types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow:
    """The algorithm description sent in ``account.password`` (fresh salt1 if no password)."""
    salt1 = stored.salt1 if stored else secrets.token_bytes(8)
    salt2 = stored.salt2 if stored else secrets.token_bytes(16)
    return types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
        salt1=salt1, salt2=salt2, g=DH_G, p=_P_BYTES
    )


@dataclass
class SrpChallenge:
    """One ``account.getPassword`` answer's secret half."""

    srp_id: int
    b: int
    big_b: int


def new_challenge(stored: SrpPassword) -> SrpChallenge:
    """Pick ``b`` and compute ``B = k*v + g^b mod p``."""
    k = int.from_bytes(_h(_P_BYTES, _pad(DH_G)), "big")
    while True:
        b = secrets.randbits(2048) % DH_PRIME
        big_b = (k * stored.verifier + pow(DH_G, b, DH_PRIME)) % DH_PRIME
        if big_b > 0:
            return SrpChallenge(srp_id=secrets.randbits(63), b=b, big_b=big_b)


def check(stored: SrpPassword, challenge: SrpChallenge, a_bytes: bytes, m1: bytes) -> bool:
    """Whether ``(A, M1)`` proves knowledge of the password behind ``stored``."""
    big_a = int.from_bytes(a_bytes, "big")
    if not 0 < big_a < DH_PRIME:
        return False
    u = int.from_bytes(_h(_pad(big_a), _pad(challenge.big_b)), "big")
    if u == 0:
        return False
    s = pow(big_a * pow(stored.verifier, u, DH_PRIME) % DH_PRIME, challenge.b, DH_PRIME)
    k_session = _h(_pad(s))
    hp, hg = _h(_P_BYTES), _h(_pad(DH_G))
    expected = _h(
        bytes(x ^ y for x, y in zip(hp, hg, strict=True)),
        _h(stored.salt1),
        _h(stored.salt2),
        _pad(big_a),
        _pad(challenge.big_b),
        k_session,
    )
    return hmac.compare_digest(expected, m1)
