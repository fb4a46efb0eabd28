"""Cryptographic primitives of the MTProto server side.

Everything here follows the public protocol description at
https://core.telegram.org/mtproto (auth key exchange, MTProto 2.0 message keys)
and is written independently of the client library, so that a client bug is not
mirrored by the server.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import struct

import cryptg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from telethon.tl.tlobject import TLObject

# The 2048-bit safe prime Telegram publishes for DH and SRP (g = 3). Clients have it
# built in and skip the slow primality check for it, so both the auth key exchange
# and 2FA use it.
DH_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B",
    16,
)
DH_G = 3


def sha1(*parts: bytes) -> bytes:
    """SHA-1 over the concatenation of ``parts``."""
    return hashlib.sha1(b"".join(parts)).digest()


def sha256(*parts: bytes) -> bytes:
    """SHA-256 over the concatenation of ``parts``."""
    return hashlib.sha256(b"".join(parts)).digest()


def int_to_bytes(value: int) -> bytes:
    """Minimal big-endian encoding, as used for ``pq``, ``g_a`` and the auth key."""
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def auth_key_bytes(g_ab: int) -> bytes:
    """The auth key made of the shared DH secret: always 256 bytes, leading zeros kept.

    Telethon encodes ``g_ab`` minimally, so in 1 exchange of 256 its key is one byte
    short; the new-nonce hash then fails its check and it starts a new exchange, as
    against Telegram. Accepting the short key instead would break saved sessions:
    ``StringSession`` stores keys as 256 bytes, padding a short one with a zero at
    the end, which makes it another key.
    """
    return g_ab.to_bytes(256, "big")


def aes_ige_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-256-IGE encryption; ``data`` must be a multiple of 16 bytes."""
    return bytes(cryptg.encrypt_ige(data, key, iv))


def aes_ige_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-256-IGE decryption; ``data`` must be a multiple of 16 bytes."""
    return bytes(cryptg.decrypt_ige(data, key, iv))


class ServerRsaKey:
    """The server's RSA key pair, as used in ``req_DH_params``.

    ``public_pem`` is the PKCS#1 PEM that a client registers, for Telethon with
    ``telethon.crypto.rsa.add_key(pem, old=False)``.
    """

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        numbers = private_key.private_numbers()
        self.n: int = numbers.public_numbers.n
        self.e: int = numbers.public_numbers.e
        self._d: int = numbers.d
        self.public_pem: str = (
            private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
            .decode("ascii")
        )
        self.fingerprint: int = _fingerprint(self.n, self.e)

    def decrypt_raw(self, ciphertext: bytes) -> bytes:
        """Textbook RSA (``c^d mod n``) into 256 big-endian bytes; MTProto pads itself."""
        value = pow(int.from_bytes(ciphertext, "big"), self._d, self.n)
        return value.to_bytes(256, "big")


def _fingerprint(n: int, e: int) -> int:
    digest = sha1(
        TLObject.serialize_bytes(int_to_bytes(n)), TLObject.serialize_bytes(int_to_bytes(e))
    )
    return struct.unpack("<q", digest[-8:])[0]


@functools.cache
def shared_rsa_key() -> ServerRsaKey:
    """One 2048-bit key per process: generating it costs ~0.1 s, servers may share it."""
    return ServerRsaKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    # These bases make Miller-Rabin deterministic below 3.3e24, far above our range.
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(bits: int) -> int:
    """A random prime with exactly ``bits`` bits."""
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if _is_probable_prime(candidate):
            return candidate


def random_pq() -> tuple[int, int, int]:
    """``(pq, p, q)`` with ``p < q`` primes of ~31 bits, as the server sends in resPQ."""
    while True:
        p, q = random_prime(31), random_prime(31)
        if p != q:
            p, q = min(p, q), max(p, q)
            return p * q, p, q


def auth_key_id(auth_key: bytes) -> int:
    """The 64 low-order bits of SHA1(auth_key), read little-endian (unsigned)."""
    return int.from_bytes(sha1(auth_key)[12:20], "little")


def auth_key_aux_hash(auth_key: bytes) -> bytes:
    """The 64 higher-order bits of SHA1(auth_key), used in the new_nonce hashes."""
    return sha1(auth_key)[:8]


def message_aes_key_iv(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    """MTProto 2.0 AES key and IV; ``x`` is 0 for client→server and 8 for server→client."""
    a = sha256(msg_key, auth_key[x : x + 36])
    b = sha256(auth_key[40 + x : 76 + x], msg_key)
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


def message_key(auth_key: bytes, plaintext: bytes, x: int) -> bytes:
    """MTProto 2.0 msg_key of a padded plaintext."""
    return sha256(auth_key[88 + x : 120 + x], plaintext)[8:24]
