"""CAP negotiation, SASL payloads and the registration state machine, fed real lines."""

from __future__ import annotations

import base64
import random
from typing import Any

import ircstates
import irctokens
import pytest

from bridges.irc.protocol import events as ev
from bridges.irc.protocol.caps import CapNegotiator, authenticate_chunks, sasl_plain_payload
from bridges.irc.protocol.config import (
    ClientCertificate,
    ConnectionConfig,
    ReconnectPolicy,
    SaslCredentials,
    ServerAddress,
)
from bridges.irc.protocol.errors import FatalConnectionError
from bridges.irc.protocol.registration import Registration
from bridges.irc.protocol.translate import Translator


def config(**kwargs: Any) -> ConnectionConfig:
    return ConnectionConfig(servers=(ServerAddress("irc.test"),), nick="bk", **kwargs)


class Handshake:
    """A Registration driven the way the connection drives it."""

    def __init__(self, cfg: ConnectionConfig) -> None:
        self.state = ircstates.Server("irc.test")
        self.reg = Registration(cfg, self.state, cfg.nick, random.Random(1))

    def feed(self, raw: str) -> list[str]:
        line = irctokens.tokenise(raw)
        self.state.parse_tokens(line)
        return [irctokens.build(cmd, params).format() for cmd, params in self.reg.handle(line)]


def test_authenticate_chunks_of_400_with_plus_terminator() -> None:
    assert authenticate_chunks(b"") == ["+"]
    payload = b"x" * 300  # 400 bytes of base64: exactly one full chunk
    chunks = authenticate_chunks(payload)
    assert chunks[1:] == ["+"] and len(chunks[0]) == 400
    chunks = authenticate_chunks(b"y" * 500)
    assert [len(c) for c in chunks] == [400, 268]
    assert base64.b64decode("".join(chunks)) == b"y" * 500


def test_sasl_plain_payload() -> None:
    assert sasl_plain_payload("user", "pw") == b"\0user\0pw"


def test_reconnect_policy_backs_off_exponentially_with_jitter() -> None:
    policy = ReconnectPolicy(initial_delay=1, max_delay=20, factor=2, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay(attempt, rng) for attempt in range(8)]
    ceilings = [1, 2, 4, 8, 16, 20, 20, 20]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    assert ReconnectPolicy(jitter=0).delay(1000) == ReconnectPolicy().max_delay


def test_negotiator_retries_a_rejected_multi_cap_request_one_by_one() -> None:
    negotiator = CapNegotiator({"a", "b", "c"})
    assert negotiator.to_request({"a": "", "b": "", "z": ""}, []) == ["a b"]
    assert not negotiator.settled
    assert negotiator.rejected(["a", "b"]) == ["a", "b"]
    negotiator.acknowledged(["a"])
    assert negotiator.rejected(["b"]) == []
    assert negotiator.settled


def test_cap_ls_302_multiline_then_req_ack_end() -> None:
    hs = Handshake(config())
    opening = [irctokens.build(c, p).format() for c, p in hs.reg.opening()]
    assert opening == ["CAP LS 302", "NICK bk", "USER bk 0 * bk"]
    assert hs.feed(":srv CAP * LS * :server-time echo-message unknown-cap") == []
    sent = hs.feed(":srv CAP * LS :batch sasl=PLAIN")
    assert sent == ["CAP REQ :batch echo-message server-time"]
    assert hs.feed(":srv CAP * ACK :batch echo-message server-time") == ["CAP END"]
    assert set(hs.state.agreed_caps) == {"batch", "echo-message", "server-time"}
    # CAP NEW after registration: requested when wanted.
    hs.feed(":srv 001 bk :Welcome")
    assert hs.feed(":srv CAP bk NEW :away-notify other") == ["CAP REQ away-notify"]


def test_sasl_plain_flow() -> None:
    hs = Handshake(config(sasl=SaslCredentials("PLAIN", "acct", "secret")))
    hs.feed(":srv CAP * LS :sasl=PLAIN,EXTERNAL server-time")
    assert hs.feed(":srv CAP * ACK :sasl server-time") == ["AUTHENTICATE PLAIN"]
    sent = hs.feed("AUTHENTICATE +")
    assert sent == ["AUTHENTICATE " + base64.b64encode(b"\0acct\0secret").decode()]
    assert hs.feed(":srv 900 * * acct :You are now logged in") == []
    assert hs.feed(":srv 903 * :SASL successful") == ["CAP END"]
    assert hs.feed(":srv 001 bk :Welcome") == []


def test_sasl_external_sends_empty_response() -> None:
    cert = ClientCertificate("/nonexistent.pem")
    hs = Handshake(config(sasl=SaslCredentials("EXTERNAL"), client_cert=cert))
    hs.feed(":srv CAP * LS :sasl")
    assert hs.feed(":srv CAP * ACK :sasl") == ["AUTHENTICATE EXTERNAL"]
    assert hs.feed("AUTHENTICATE +") == ["AUTHENTICATE +"]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([":srv CAP * LS :server-time"], ev.FatalReason.SASL_UNAVAILABLE),
        ([":srv CAP * LS :sasl=EXTERNAL"], ev.FatalReason.SASL_UNAVAILABLE),
        (
            [":srv CAP * LS :sasl", ":srv CAP * ACK :sasl", "AUTHENTICATE +", ":srv 904 * :fail"],
            ev.FatalReason.SASL_FAILED,
        ),
        ([":srv CAP * LS :sasl", ":srv CAP * NAK :sasl"], ev.FatalReason.SASL_UNAVAILABLE),
        ([":srv 001 bk :Welcome"], ev.FatalReason.SASL_UNAVAILABLE),
    ],
)
def test_sasl_failures_are_fatal(lines: list[str], reason: ev.FatalReason) -> None:
    hs = Handshake(config(sasl=SaslCredentials("PLAIN", "acct", "pw")))
    with pytest.raises(FatalConnectionError) as info:
        for line in lines:
            hs.feed(line)
    assert info.value.reason is reason


def test_bad_password_and_ban_numerics_are_fatal() -> None:
    for raw, reason in [
        (":srv 464 * :Password incorrect", ev.FatalReason.BAD_PASSWORD),
        (":srv 465 * :You are banned", ev.FatalReason.BANNED),
    ]:
        with pytest.raises(FatalConnectionError) as info:
            Handshake(config(password="pw")).feed(raw)
        assert info.value.reason is reason
        assert info.value.message


def test_nick_in_use_falls_back_then_gives_up() -> None:
    hs = Handshake(config(max_nick_attempts=3))
    assert hs.feed(":srv 433 * bk :in use") == ["NICK bk_"]
    assert hs.feed(":srv 433 * bk_ :in use") == ["NICK bk__"]
    third = hs.feed(":srv 433 * bk__ :in use")
    assert third[0].startswith("NICK bk") and third[0][len("NICK bk") :].isdigit()
    with pytest.raises(FatalConnectionError) as info:
        hs.feed(":srv 433 * x :in use")
    assert info.value.reason is ev.FatalReason.NICK_UNAVAILABLE


def test_nick_in_use_after_registration_is_not_handled_here() -> None:
    hs = Handshake(config())
    hs.feed(":srv 001 bk :Welcome")
    assert hs.feed(":srv 433 bk other :in use") == []


# Translation of lines into events


def translated(lines: list[str]) -> list[ev.IRCEvent]:
    state = ircstates.Server("irc.test")
    translator = Translator(state)
    out: list[ev.IRCEvent] = []
    for raw in [
        ":srv 001 me :Welcome",
        ":srv 005 me PREFIX=(qaohv)~&@%+ CHANMODES=beI,k,l,imnt :are supported",
        *lines,
    ]:
        line = irctokens.tokenise(raw)
        out.extend(translator.translate(line))
        try:
            state.parse_tokens(line)
        except IndexError:
            pass  # ircstates chokes on malformed lines; the connection ignores that too
    return out


def test_privmsg_with_server_time_account_and_ctcp_action() -> None:
    events = translated(
        [
            "@time=2024-05-06T07:08:09.123Z;account=alice;msgid=m1 "
            ":alice!a@h PRIVMSG #c :\x01ACTION waves\x01",
            "@time=bad :bob!b@h PRIVMSG me :hi there",
            ":me!m@h PRIVMSG bob :echoed",
            ":bob!b@h PRIVMSG me :\x01VERSION\x01",
        ]
    )
    action, private, echo, ctcp = events
    assert isinstance(action, ev.MessageEvent) and action.kind == "action"
    assert action.text == "waves" and action.msgid == "m1"
    assert action.source.account == "alice" and action.is_channel
    assert action.time.isoformat() == "2024-05-06T07:08:09.123000+00:00"
    assert isinstance(private, ev.MessageEvent) and private.conversation == "bob"
    assert isinstance(echo, ev.MessageEvent) and echo.is_echo and echo.conversation == "bob"
    assert isinstance(ctcp, ev.CTCPEvent) and ctcp.command == "VERSION"


def test_quit_and_nick_report_shared_channels() -> None:
    events = translated(
        [
            ":me!m@h JOIN #a",
            ":me!m@h JOIN #b",
            ":bob!b@h JOIN #a",
            ":bob!b@h JOIN #b",
            ":bob!b@h NICK robert",
            ":robert!b@h QUIT :bye",
        ]
    )
    nick, quit_ = events[-2:]
    assert isinstance(nick, ev.NickEvent) and nick.channels == ("#a", "#b")
    assert isinstance(quit_, ev.QuitEvent) and quit_.channels == ("#a", "#b")
    assert quit_.reason == "bye"


def test_channel_modes_are_interpreted_with_isupport() -> None:
    events = translated([":me!m@h JOIN #a", ":op!o@h MODE #a +ob-v+kl alice *!*@bad bob key 10"])
    mode = events[-1]
    assert isinstance(mode, ev.ModeEvent)
    assert [(c.adding, c.char, c.param, c.kind) for c in mode.changes] == [
        (True, "o", "alice", "prefix"),
        (True, "b", "*!*@bad", "list"),
        (False, "v", "bob", "prefix"),
        (True, "k", "key", "param"),
        (True, "l", "10", "param"),
    ]
    assert mode.changes[0].prefix == "@"


def test_names_end_reports_members_with_prefixes() -> None:
    events = translated(
        [
            ":me!m@h JOIN #a",
            ":srv 332 me #a :the topic",
            ":srv 353 me = #a :~owner @op!o@h +voice me",
            ":srv 366 me #a :End of /NAMES list.",
        ]
    )
    topic, synced = events[-2:]
    assert isinstance(topic, ev.TopicEvent) and topic.initial and topic.topic == "the topic"
    assert isinstance(synced, ev.ChannelSyncedEvent)
    assert {(m.nick, m.prefixes) for m in synced.members} == {
        ("owner", "~"),
        ("op", "@"),
        ("voice", "+"),
        ("me", ""),
    }
    assert synced.topic == "the topic"


def test_labeled_response_batch_gives_inner_lines_the_label() -> None:
    events = translated(
        [
            "@label=L1 :srv BATCH +r1 labeled-response",
            "@batch=r1 :srv 311 me bob b h * :Bob",
            "@batch=r1 :srv 318 me bob :End of WHOIS",
            ":srv BATCH -r1",
        ]
    )
    start, whois, _end_of_whois, end = events[-4:]
    assert isinstance(start, ev.BatchStartEvent) and start.label == "L1"
    assert isinstance(whois, ev.ReplyEvent) and whois.label == "L1" and whois.code == "311"
    assert whois.params == ("bob", "b", "h", "*", "Bob")
    assert isinstance(end, ev.BatchEndEvent) and end.type == "labeled-response"


def test_malformed_lines_produce_nothing() -> None:
    assert translated([":x PRIVMSG", ":x KICK #c", "FAIL", ":x MODE #c"]) == []
