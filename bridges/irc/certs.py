"""Client certificates for CertFP: a login's own TLS certificate, made by the bridge.

IRC services identify a user by the fingerprint of the TLS client certificate their
connection presents (CertFP), which also allows SASL EXTERNAL: logging in without a
password. The bridge makes one self-signed certificate per login (an EC P-256 key,
valid for ten years), keeps it with the login, and hands the TLS layer a private file
of it while connecting (Python's ``ssl`` loads certificates only from files).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import tempfile
from pathlib import Path

_VALID_FOR = datetime.timedelta(days=3650)
_directory: Path | None = None


def new_certificate(name: str) -> str:
    """A new self-signed client certificate and its key, as one PEM text."""
    # cryptography is imported when it is needed: most bridges never make a certificate.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or "bridgekit")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID_FOR)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (cert.public_bytes(serialization.Encoding.PEM) + key_pem).decode()


def fingerprints(pem: str) -> tuple[str, str]:
    """The certificate's SHA-256 and SHA-512 fingerprints (lowercase hex), the two
    that IRC services use."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest(), hashlib.sha512(der).hexdigest()


def certificate_file(pem: str) -> str:
    """A file holding ``pem``, readable by this process only, for the TLS layer; one
    per certificate, in a private directory of this process."""
    global _directory
    if _directory is None:
        _directory = Path(tempfile.mkdtemp(prefix="bridgekit-irc-certs-"))
    path = _directory / f"{hashlib.sha256(pem.encode()).hexdigest()[:32]}.pem"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(pem)
    return str(path)
