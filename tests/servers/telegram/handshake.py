"""The unencrypted auth key exchange (https://core.telegram.org/mtproto/auth_key), server side.

Only the legacy RSA padding is accepted (``sha1(data) + data + random`` encrypted
as textbook RSA), which is what Telethon 1.x sends; RSA_PAD is not implemented.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from .crypto import (
    DH_G,
    DH_PRIME,
    ServerRsaKey,
    aes_ige_decrypt,
    aes_ige_encrypt,
    auth_key_aux_hash,
    auth_key_bytes,
    int_to_bytes,
    random_pq,
    sha1,
)

log = logging.getLogger("bridgekit.tests.telegram_server.handshake")

_SAFETY = 2 ** (2048 - 64)


class HandshakeError(Exception):
    """The client broke the key exchange; the connection is dropped."""


@dataclass
class NewAuthKey:
    """The outcome of a completed exchange."""

    key: bytes
    server_salt: int


def _nonce_bytes(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little", signed=True)


def _tmp_aes(new_nonce: bytes, server_nonce: bytes) -> tuple[bytes, bytes]:
    a = sha1(new_nonce, server_nonce)
    b = sha1(server_nonce, new_nonce)
    c = sha1(new_nonce, new_nonce)
    return a + b[:12], b[12:20] + c + new_nonce[:4]


def dh_private_exponent() -> int:
    """The server's secret ``a`` of a key exchange (``g_a`` within the safe range)."""
    while True:
        a = secrets.randbits(2048)
        if _SAFETY <= pow(DH_G, a, DH_PRIME) <= DH_PRIME - _SAFETY:
            return a


class KeyExchange:
    """One client's run through req_pq_multi → req_DH_params → set_client_DH_params.

    ``handle`` takes a parsed plaintext request and returns the response object, or
    the created key as ``(response, NewAuthKey)`` after the last step.
    """

    def __init__(self, rsa_key: ServerRsaKey) -> None:
        self._rsa = rsa_key
        self._nonce: int | None = None
        self._server_nonce: int | None = None
        self._pq: tuple[int, int, int] | None = None
        self._new_nonce: bytes | None = None
        self._a: int | None = None
        self._tmp: tuple[bytes, bytes] | None = None

    def handle(self, request: Any) -> tuple[Any, NewAuthKey | None]:
        """Answer one step of the exchange."""
        if isinstance(request, functions.ReqPqMultiRequest | functions.ReqPqRequest):
            return self._req_pq(request), None
        if isinstance(request, functions.ReqDHParamsRequest):
            return self._req_dh_params(request), None
        if isinstance(request, functions.SetClientDHParamsRequest):
            return self._set_client_dh_params(request)
        raise HandshakeError(f"unexpected unencrypted message {type(request).__name__}")

    def _check_nonces(self, request: Any) -> None:
        if request.nonce != self._nonce or request.server_nonce != self._server_nonce:
            raise HandshakeError("nonce mismatch")

    def _req_pq(self, request: Any) -> Any:
        self._nonce = request.nonce
        self._server_nonce = int.from_bytes(secrets.token_bytes(16), "little", signed=True)
        self._pq = random_pq()
        return types.ResPQ(
            nonce=request.nonce,
            server_nonce=self._server_nonce,
            pq=int_to_bytes(self._pq[0]),
            server_public_key_fingerprints=[self._rsa.fingerprint],
        )

    def _req_dh_params(self, request: Any) -> Any:
        self._check_nonces(request)
        assert self._pq is not None
        if request.public_key_fingerprint != self._rsa.fingerprint:
            raise HandshakeError("unknown RSA key fingerprint")
        if (
            int.from_bytes(request.p, "big") != self._pq[1]
            or int.from_bytes(request.q, "big") != self._pq[2]
        ):
            raise HandshakeError("wrong factorization of pq")
        plain = self._rsa.decrypt_raw(request.encrypted_data)[1:]
        digest, data = plain[:20], plain[20:]
        inner = BinaryReader(data).tgread_object()
        if sha1(bytes(inner)) != digest:
            raise HandshakeError(
                "bad SHA1 in p_q_inner_data (only legacy RSA padding is supported)"
            )
        if inner.nonce != self._nonce or inner.server_nonce != self._server_nonce:
            raise HandshakeError("nonce mismatch in p_q_inner_data")
        self._new_nonce = _nonce_bytes(inner.new_nonce, 32)
        assert self._server_nonce is not None
        self._tmp = _tmp_aes(self._new_nonce, _nonce_bytes(self._server_nonce, 16))
        a = dh_private_exponent()
        g_a = pow(DH_G, a, DH_PRIME)
        self._a = a
        answer = bytes(
            types.ServerDHInnerData(
                nonce=self._nonce,
                server_nonce=self._server_nonce,
                g=DH_G,
                dh_prime=int_to_bytes(DH_PRIME),
                g_a=int_to_bytes(g_a),
                server_time=int(time.time()),
            )
        )
        with_hash = sha1(answer) + answer
        with_hash += secrets.token_bytes(-len(with_hash) % 16)
        return types.ServerDHParamsOk(
            nonce=self._nonce,
            server_nonce=self._server_nonce,
            encrypted_answer=aes_ige_encrypt(with_hash, *self._tmp),
        )

    def _set_client_dh_params(self, request: Any) -> tuple[Any, NewAuthKey]:
        self._check_nonces(request)
        if self._tmp is None or self._a is None or self._new_nonce is None:
            raise HandshakeError("set_client_DH_params before req_DH_params")
        plain = aes_ige_decrypt(request.encrypted_data, *self._tmp)
        reader = BinaryReader(plain[20:])
        inner = reader.tgread_object()
        if sha1(plain[20 : 20 + reader.tell_position()]) != plain[:20]:
            raise HandshakeError("bad SHA1 in client_DH_inner_data")
        if not isinstance(inner, types.ClientDHInnerData):
            raise HandshakeError("expected client_DH_inner_data")
        g_b = int.from_bytes(inner.g_b, "big")
        if not 1 < g_b < DH_PRIME - 1:
            raise HandshakeError("g_b out of range")
        key = auth_key_bytes(pow(g_b, self._a, DH_PRIME))
        hash1 = sha1(self._new_nonce, b"\x01", auth_key_aux_hash(key))[4:20]
        assert self._server_nonce is not None
        salt = bytes(
            x ^ y
            for x, y in zip(
                self._new_nonce[:8], _nonce_bytes(self._server_nonce, 16)[:8], strict=True
            )
        )
        response = types.DhGenOk(
            nonce=self._nonce,
            server_nonce=self._server_nonce,
            new_nonce_hash1=int.from_bytes(hash1, "little", signed=True),
        )
        log.debug("auth key exchange complete")
        return response, NewAuthKey(key, int.from_bytes(salt, "little", signed=True))
