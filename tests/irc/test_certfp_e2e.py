"""CertFP and SASL EXTERNAL: the bridge makes a login its own TLS client certificate,
its connection presents it, and with ``certfp external`` it logs in with it instead of
a password — against a TLS server that checks the certificate."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path
from typing import Any

from bridgekit.testing.bridge import BridgeSetup, run_bridge
from bridgekit.testing.synapse import SynapseServer
from bridges.irc.certs import new_certificate
from bridges.irc.connector import IRCConnector

from .conftest import (
    NETWORK,
    IRCHarness,
    eventually,
    irc_log_in,
    irc_overrides,
    unique,
    wait_notice,
)
from .scripted import Peer, ScriptedServer


class CertNetwork:
    """A TLS IRC server that asks for client certificates and offers SASL EXTERNAL and
    PLAIN; it notes each connection's certificate fingerprint and SASL mechanism."""

    def __init__(self, directory: Path) -> None:
        server_pem = directory / "server.pem"
        server_pem.write_text(new_certificate("server"))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(server_pem)
        self.context.verify_mode = ssl.CERT_OPTIONAL
        self.server = ScriptedServer(self._serve, self.context)
        self.host = "127.0.0.1"
        #: (SHA-256 fingerprint of the client certificate or None, SASL mechanism or None)
        self.connections: list[tuple[str | None, str | None]] = []

    @property
    def port(self) -> int:
        return self.server.port

    def trust(self, pem: str) -> None:
        """Accept this client certificate from now on (IRC servers accept any; Python's
        TLS server only those it can verify)."""
        self.context.load_verify_locations(cadata=pem.split("-----BEGIN PRIVATE KEY")[0])

    async def _serve(self, peer: Peer) -> None:
        ssl_object = peer.writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        fingerprint = hashlib.sha256(der).hexdigest() if der else None
        await peer.negotiate("server-time sasl=EXTERNAL,PLAIN")
        mechanism = None
        last = peer.received[-1]
        if last.command == "AUTHENTICATE":
            mechanism = last.params[0]
            peer.send("AUTHENTICATE +")
            await peer.until("AUTHENTICATE")
            if mechanism == "EXTERNAL" and fingerprint is None:
                peer.send(":srv 904 * :SASL authentication failed")
                return
            peer.send(":srv 900 * * acct :You are now logged in", ":srv 903 * :SASL successful")
            await peer.until("CAP")
        self.connections.append((fingerprint, mechanism))
        peer.welcome("CHANTYPES=# NETWORK=Certs")
        while True:
            line = await peer.line(timeout=3600)
            if line.command == "QUIT":
                return
            if line.command == "PING":
                peer.send(f":srv PONG srv :{line.params[0] if line.params else ''}")


async def test_certfp_then_sasl_external(
    tmp_path: Path,
    synapse: SynapseServer,
    irc_setup: BridgeSetup,
    database_url: str,
    matrix_user: Any,
) -> None:
    network = CertNetwork(tmp_path)
    async with network.server:
        overrides = irc_overrides(network)
        overrides["network.networks"][0]["servers"][0]["tls"] = True
        overrides["network.networks"][0]["verify_tls"] = False
        async with run_bridge(IRCConnector(), irc_setup, synapse, database_url, overrides) as b:
            harness = IRCHarness(b, irc_setup, synapse, database_url, network)
            alice = await matrix_user("alice")
            nick = unique("al")
            management = await irc_log_in(alice, harness, nick)
            assert network.connections == [(None, None)]

            await alice.send_text(management, "certfp")
            made = await wait_notice(alice, management, harness.bot, "Made a client certificate")
            told = re.search(r"SHA-256 fingerprint: ([0-9a-f]{64})", made["content"]["body"])
            assert told is not None
            login = b.logins[f"{NETWORK}/{nick}"]  # type: ignore[index]
            network.trust(login.metadata["client_cert"])

            await alice.send_text(management, "reconnect")

            async def presented() -> bool:
                return len(network.connections) >= 2

            await eventually(presented)
            assert network.connections[1] == (told.group(1), None)

            await alice.send_text(management, "certfp external")

            async def external() -> bool:
                return len(network.connections) >= 3

            await eventually(external)
            assert network.connections[2] == (told.group(1), "EXTERNAL")
            assert "password" not in str(login.metadata.get("sasl"))
    assert network.server.errors == []
