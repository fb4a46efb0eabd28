"""TLS (verification, opt-out, client certificates with SASL EXTERNAL) and SOCKS5."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridges.irc.protocol import (
    ClientCertificate,
    ConnectedEvent,
    FatalErrorEvent,
    FatalReason,
    SaslCredentials,
)

from .conftest import ConnFactory, expect
from .scripted import Peer, ScriptedServer


def _self_signed(directory: Path, name: str, san_ip: str | None) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if san_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]),
            critical=False,
        )
    cert = builder.sign(key, hashes.SHA256())
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("certs")
    server_cert, server_key = _self_signed(directory, "server", "127.0.0.1")
    client_cert, client_key = _self_signed(directory, "client", None)
    return {
        "server_cert": server_cert,
        "server_key": server_key,
        "client_cert": client_cert,
        "client_key": client_key,
    }


def _server_context(certs: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server_cert"], certs["server_key"])
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(certs["client_cert"])
    return context


def _fingerprint(peer: Peer) -> str | None:
    ssl_object = peer.writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    return hashlib.sha256(der).hexdigest() if der else None


def _pem_fingerprint(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


async def _welcome(peer: Peer) -> None:
    await peer.negotiate()
    peer.welcome()
    await peer.closed()


async def test_tls_verification_failure_is_fatal(
    irc_connect: ConnFactory, certs: dict[str, Path]
) -> None:
    async with ScriptedServer(_welcome, _server_context(certs)) as server:
        conn = irc_connect("127.0.0.1", server.port, "tlsbad", tls=True)
        fatal = await expect(conn, FatalErrorEvent)
        assert fatal.reason is FatalReason.TLS_ERROR
        assert "certificate" in fatal.message


@pytest.mark.parametrize("mode", ["ca_file", "no_verify"])
async def test_tls_with_trusted_ca_or_verification_off(
    irc_connect: ConnFactory, certs: dict[str, Path], mode: str
) -> None:
    options = (
        {"tls_ca_file": str(certs["server_cert"])} if mode == "ca_file" else {"tls_verify": False}
    )
    async with ScriptedServer(_welcome, _server_context(certs)) as server:
        conn = irc_connect("127.0.0.1", server.port, "tlsok", tls=True, **options)
        event = await expect(conn, ConnectedEvent)
        assert event.server == f"127.0.0.1:+{server.port}"
        assert _fingerprint(server.peers[0]) is None  # no client certificate configured
    assert not server.errors


async def test_client_certificate_and_sasl_external(
    irc_connect: ConnFactory, certs: dict[str, Path]
) -> None:
    expected = _pem_fingerprint(certs["client_cert"])

    async def script(peer: Peer) -> None:
        await peer.negotiate("sasl=EXTERNAL server-time")
        assert peer.received[-1].params == ["EXTERNAL"]
        peer.send("AUTHENTICATE +")
        response = await peer.until("AUTHENTICATE")
        if response.params != ["+"] or _fingerprint(peer) != expected:
            peer.send(":srv 904 * :SASL authentication failed")
            return
        peer.send(":srv 900 * * certuser :You are now logged in", ":srv 903 * :SASL successful")
        await peer.until("CAP")
        peer.welcome()
        await peer.closed()

    async with ScriptedServer(script, _server_context(certs)) as server:
        conn = irc_connect(
            "127.0.0.1",
            server.port,
            "certfp",
            tls=True,
            tls_ca_file=str(certs["server_cert"]),
            client_cert=ClientCertificate(str(certs["client_cert"]), str(certs["client_key"])),
            sasl=SaslCredentials("EXTERNAL"),
        )
        await expect(conn, ConnectedEvent)
    assert not server.errors


class Socks5Proxy:
    """A minimal SOCKS5 (no auth, CONNECT only) proxy that records destinations."""

    def __init__(self) -> None:
        self.destinations: list[tuple[str, int]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Socks5Proxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        await reader.readexactly(count)
        writer.write(bytes([5, 0]))
        _, command, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = str(ipaddress.ip_address(await reader.readexactly(4)))
        else:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        assert version == 5 and command == 1
        self.destinations.append((host, port))
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        writer.write(bytes([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.fixture
async def socks_proxy() -> AsyncIterator[Socks5Proxy]:
    async with Socks5Proxy() as proxy:
        yield proxy


async def test_connects_through_a_socks5_proxy(
    irc_connect: ConnFactory, socks_proxy: Socks5Proxy
) -> None:
    async with ScriptedServer(_welcome) as server:
        conn = irc_connect(
            "127.0.0.1", server.port, "socks", proxy=f"socks5://127.0.0.1:{socks_proxy.port}"
        )
        await expect(conn, ConnectedEvent)
        assert socks_proxy.destinations == [("127.0.0.1", server.port)]
    assert not server.errors
