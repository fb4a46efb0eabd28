"""IRCv3 capability negotiation decisions and SASL payloads.

ircstates keeps the capability *state* (``available_caps`` from LS/NEW/DEL,
``agreed_caps`` from ACK); what it does not do is decide what to request, retry a
rejected REQ, or know when registration may end, which is this module's job.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

# Servers must accept REQ lines up to 512 bytes; staying well under leaves room for the
# "CAP REQ :" framing and long cap names with values.
_MAX_REQ_BYTES = 400
# AUTHENTICATE payloads travel in chunks of exactly this many bytes of base64.
SASL_CHUNK = 400


class CapNegotiator:
    """Decides which capabilities to request and when negotiation is complete.

    The connection feeds it the server's CAP replies and sends the ``CAP REQ`` payloads
    it returns. A multi-capability REQ that is NAKed is retried one capability at a time
    (a NAK rejects the whole request, even if only one capability was refused).
    """

    def __init__(self, wanted: Iterable[str]) -> None:
        self.wanted = frozenset(wanted)
        self.pending: set[str] = set()
        self._nak_retried: set[str] = set()

    def to_request(self, available: Mapping[str, str], enabled: Iterable[str]) -> list[str]:
        """``CAP REQ`` payloads for wanted caps that are offered and not yet enabled."""
        enabled_set = set(enabled)
        caps = sorted(
            cap
            for cap in self.wanted & set(available)
            if cap not in enabled_set and cap not in self.pending
        )
        return self._pack(caps)

    def _pack(self, caps: list[str]) -> list[str]:
        payloads: list[str] = []
        current: list[str] = []
        for cap in caps:
            if current and len(" ".join([*current, cap]).encode()) > _MAX_REQ_BYTES:
                payloads.append(" ".join(current))
                current = []
            current.append(cap)
        if current:
            payloads.append(" ".join(current))
        self.pending.update(caps)
        return payloads

    def acknowledged(self, caps: Iterable[str]) -> None:
        """The server ACKed ``caps`` (ircstates records them as agreed)."""
        for cap in caps:
            self.pending.discard(cap.lstrip("-"))

    def rejected(self, caps: Iterable[str]) -> list[str]:
        """The server NAKed one REQ; returns single-cap REQ payloads to retry."""
        caps = [cap for cap in caps if cap]
        for cap in caps:
            self.pending.discard(cap)
        if len(caps) < 2:
            return []
        retry = [cap for cap in caps if cap not in self._nak_retried]
        self._nak_retried.update(retry)
        self.pending.update(retry)
        return retry

    @property
    def settled(self) -> bool:
        """Whether no REQ is waiting for an answer."""
        return not self.pending


def sasl_mechanisms(available: Mapping[str, str]) -> set[str] | None:
    """Mechanisms the ``sasl`` cap advertises (``None`` when it lists none, which means
    "ask and see", as CAP LS 301 servers do)."""
    value = available.get("sasl", "")
    if not value:
        return None
    return {mech.upper() for mech in value.split(",") if mech}


def sasl_plain_payload(username: str, password: str, authzid: str = "") -> bytes:
    """The PLAIN message: ``authzid NUL authcid NUL password`` (RFC 4616)."""
    return f"{authzid}\0{username}\0{password}".encode()


def authenticate_chunks(payload: bytes) -> list[str]:
    """Split a SASL payload into AUTHENTICATE arguments.

    Base64 is cut into 400-byte chunks; an empty payload, or one whose encoding is an
    exact multiple of 400 bytes, ends with ``+`` so the server knows it is complete.
    """
    encoded = base64.b64encode(payload).decode("ascii")
    chunks = [encoded[i : i + SASL_CHUNK] for i in range(0, len(encoded), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks
