"""The handshake of one connection: CAP negotiation, SASL, PASS/NICK/USER, nick fallback.

A small state machine without I/O: the connection feeds it every line (after ircstates
has applied it) and sends the lines it returns; a :class:`FatalConnectionError` means the
attempt failed in a way that retrying cannot fix. CAP NEW after registration is handled
here too, since it is the same negotiation.
"""

from __future__ import annotations

import logging
import random
import re

import ircstates
import irctokens

from .caps import CapNegotiator, authenticate_chunks, sasl_mechanisms, sasl_plain_payload
from .config import ConnectionConfig
from .errors import FatalConnectionError
from .events import FatalReason

log = logging.getLogger("bridgekit.irc.protocol.registration")

Outgoing = tuple[str, list[str]]

_NICK_REFUSED = frozenset({"431", "432", "433", "436", "437"})
_SASL_FAILED = frozenset({"902", "904", "905", "906"})
_USERNAME_RE = re.compile(r"[^A-Za-z0-9_.-]")


def default_username(nick: str) -> str:
    """An ident-safe username derived from ``nick``."""
    return _USERNAME_RE.sub("", nick)[:10] or "bridgekit"


class Registration:
    """Registration state of one connection attempt.

    ``nick`` is the nick being tried (it changes on nick-in-use before registration);
    ``complete`` becomes true on RPL_WELCOME.
    """

    def __init__(
        self,
        config: ConnectionConfig,
        state: ircstates.Server,
        nick: str,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.nick = nick
        self.complete = False
        self._rng = rng or random.Random()
        # The sasl cap is wanted exactly when there are credentials to use it with.
        wanted = config.caps | {"sasl"} if config.sasl else config.caps - {"sasl"}
        self._negotiator = CapNegotiator(wanted)
        self._cap_ended = False
        self._sasl_started = False
        self._sasl_done = False
        self._nick_attempts = 0

    def opening(self) -> list[Outgoing]:
        """The first lines to send once the socket is open."""
        lines: list[Outgoing] = [("CAP", ["LS", "302"])]
        if self.config.password:
            lines.append(("PASS", [self.config.password]))
        username = self.config.username or default_username(self.config.nick)
        realname = self.config.realname or self.config.nick
        lines.append(("NICK", [self.nick]))
        lines.append(("USER", [username, "0", "*", realname]))
        return lines

    def handle(self, line: irctokens.Line) -> list[Outgoing]:
        """Lines to send in answer to ``line``; raises :class:`FatalConnectionError`."""
        command = line.command
        if command == "CAP" and len(line.params) >= 3:
            return self._on_cap(line)
        if command == "AUTHENTICATE" and line.params:
            return self._on_authenticate(line.params[0])
        if command == "001":
            self.complete = True
            if self.config.sasl is not None and not self._sasl_done:
                raise FatalConnectionError(
                    FatalReason.SASL_UNAVAILABLE,
                    "the server registered us without SASL, which this login requires",
                )
            return []
        if command == "464":
            raise FatalConnectionError(FatalReason.BAD_PASSWORD, _text(line, "bad password"))
        if command in ("463", "465"):
            raise FatalConnectionError(FatalReason.BANNED, _text(line, "banned"))
        if command in _SASL_FAILED:
            raise FatalConnectionError(FatalReason.SASL_FAILED, _text(line, "SASL failed"))
        if command in ("903", "907"):
            self._sasl_done = True
            return self._end_cap()
        if command in _NICK_REFUSED and not self.complete:
            return self._next_nick(line)
        return []

    def _on_cap(self, line: irctokens.Line) -> list[Outgoing]:
        subcommand = line.params[1].upper()
        caps = [cap for cap in line.params[-1].split(" ") if cap]
        more = len(line.params) >= 4 and line.params[2] == "*"
        out: list[Outgoing] = []
        if subcommand == "LS" and not more and not self._cap_ended:
            self._check_sasl_offered()
            out += self._request()
            out += self._end_cap()
        elif subcommand == "NEW":
            out += self._request()
        elif subcommand == "ACK":
            self._negotiator.acknowledged(caps)
            out += self._end_cap()
        elif subcommand == "NAK":
            retry = self._negotiator.rejected([cap.partition("=")[0] for cap in caps])
            out += [("CAP", ["REQ", cap]) for cap in retry]
            out += self._end_cap()
        return out

    def _request(self) -> list[Outgoing]:
        payloads = self._negotiator.to_request(self.state.available_caps, self.state.agreed_caps)
        return [("CAP", ["REQ", payload]) for payload in payloads]

    def _check_sasl_offered(self) -> None:
        sasl = self.config.sasl
        if sasl is None:
            return
        if "sasl" not in self.state.available_caps:
            raise FatalConnectionError(
                FatalReason.SASL_UNAVAILABLE, "the server does not offer SASL"
            )
        mechanisms = sasl_mechanisms(self.state.available_caps)
        if mechanisms is not None and sasl.mechanism not in mechanisms:
            offered = ", ".join(sorted(mechanisms))
            raise FatalConnectionError(
                FatalReason.SASL_UNAVAILABLE,
                f"the server offers SASL {offered} but not {sasl.mechanism}",
            )

    def _end_cap(self) -> list[Outgoing]:
        """CAP END once every REQ is answered and SASL (if wanted) has finished."""
        if self._cap_ended or not self._negotiator.settled:
            return []
        sasl = self.config.sasl
        if sasl is not None and not self._sasl_done:
            if "sasl" not in self.state.agreed_caps:
                raise FatalConnectionError(
                    FatalReason.SASL_UNAVAILABLE, "the server refused the sasl capability"
                )
            if not self._sasl_started:
                self._sasl_started = True
                log.debug("starting SASL %s", sasl.mechanism)
                return [("AUTHENTICATE", [sasl.mechanism])]
            return []
        self._cap_ended = True
        return [("CAP", ["END"])]

    def _on_authenticate(self, argument: str) -> list[Outgoing]:
        sasl = self.config.sasl
        if sasl is None or not self._sasl_started or argument != "+":
            return []
        if sasl.mechanism == "PLAIN":
            payload = sasl_plain_payload(sasl.username, sasl.password)
        else:
            payload = sasl.username.encode()
        return [("AUTHENTICATE", [chunk]) for chunk in authenticate_chunks(payload)]

    def _next_nick(self, line: irctokens.Line) -> list[Outgoing]:
        self._nick_attempts += 1
        if self._nick_attempts > self.config.max_nick_attempts:
            raise FatalConnectionError(
                FatalReason.NICK_UNAVAILABLE,
                f"no usable nick after {self._nick_attempts} tries: {_text(line, '')}",
            )
        base = self.config.nick
        if self._nick_attempts <= 2:
            self.nick = base + "_" * self._nick_attempts
        else:
            self.nick = f"{base[:12]}{self._rng.randrange(1000):03d}"
        log.info("nick refused (%s), trying %s", line.command, self.nick)
        return [("NICK", [self.nick])]


def _text(line: irctokens.Line, default: str) -> str:
    return line.params[-1] if line.params else default
