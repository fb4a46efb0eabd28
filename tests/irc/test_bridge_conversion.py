"""The IRC bridge's pure parts: echo matching, message cutting, pills, settings.

The end-to-end tests run against InspIRCd, which has labeled-response; the matching
of echoes without it (Libera's Solanum has none) is proven here, with the events the
protocol client would report.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bridgekit.network import (
    LoginID,
    MatrixMedia,
    MatrixMessage,
    MessageID,
    MessageRecord,
    PartID,
    PortalID,
    PortalKey,
)
from bridges.irc.from_matrix import (
    cut_to_lines,
    paste_line,
    paste_text,
    pill_resolver,
    render_message,
    strip_reply_fallback,
)
from bridges.irc.protocol import (
    BatchEndEvent,
    BatchStartEvent,
    MessageEvent,
    ReplyEvent,
    Source,
    TopicEvent,
)
from bridges.irc.settings import IRCSettings, example_section
from bridges.irc.shared import nick_from_template
from bridges.irc.to_matrix import add_pills
from bridges.irc.tracking import Outbox

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PORTAL = PortalKey(PortalID("net/#chan"), LoginID("net/me"))


def echo(text: str, target: str = "#chan", label: str | None = None, kind: Any = "privmsg") -> Any:
    return MessageEvent(
        time=NOW,
        msgid=f"id-{text}",
        label=label,
        source=Source("me", "u", "h"),
        target=target,
        conversation=target,
        text=text,
        kind=kind,
        is_channel=target.startswith("#"),
        is_echo=True,
    )


# Echoes and answers


async def test_unlabeled_echoes_are_matched_by_target_and_text_in_order() -> None:
    outbox = Outbox(str.lower)
    first = outbox.expect_sent("privmsg", "#Chan", ("one", "two"), (None, None))
    assert outbox.offer(echo("one"), "me") is True
    assert first.result().msgid == "id-one"  # type: ignore[union-attr]
    assert outbox.offer(echo("two"), "me") is True  # later parts are swallowed too
    assert outbox.offer(echo("two"), "me") is False  # a line sent some other way
    assert outbox.offer(echo("one", kind="notice"), "me") is False


async def test_a_rewritten_echo_still_matches_the_oldest_line_to_its_target() -> None:
    outbox = Outbox(str.lower)
    future = outbox.expect_sent("privmsg", "#chan", ("\x02bold\x02",), (None,))
    assert outbox.offer(echo("bold"), "me") is True  # the server stripped the colours
    assert future.done()


async def test_an_unlabeled_error_about_the_target_answers_the_waiting_message() -> None:
    outbox = Outbox(str.lower)
    future = outbox.expect_sent("privmsg", "#chan", ("hi",), (None,))
    refusal = ReplyEvent(
        time=NOW, code="404", params=("#CHAN", "Cannot send to channel"), is_error=True
    )
    assert outbox.offer(refusal, "me") is True
    assert future.result() is refusal


async def test_labeled_echoes_match_by_label() -> None:
    outbox = Outbox(str.lower)
    future = outbox.expect_sent("privmsg", "#chan", ("a", "b"), ("l1", "l2"))
    assert outbox.offer(echo("b", label="l2"), "me") is True
    assert not future.done()
    assert outbox.offer(echo("a", label="l1"), "me") is True
    assert future.result().label == "l1"  # type: ignore[union-attr]
    assert outbox.offer(echo("a", label="l1"), "me") is False


async def test_our_own_topic_is_swallowed_and_a_drop_stops_the_waiting_only() -> None:
    outbox = Outbox(str.lower)
    future = outbox.expect_sent("topic", "#chan", ("new topic",), (None,))
    message = outbox.expect_sent("privmsg", "#chan", ("queued",), (None,))
    topic = TopicEvent(time=NOW, channel="#Chan", topic="new topic", setter="ME")
    assert outbox.offer(topic, "me") is True
    assert future.result() is topic
    outbox.release_waiters()
    assert message.done() and message.result() is None
    # A line queued before the drop goes out after the reconnect: still ours.
    assert outbox.offer(echo("queued"), "me") is True


async def test_a_whois_answer_is_collected_until_its_end() -> None:
    outbox = Outbox(str.lower)

    def about(event: Any) -> bool:
        return isinstance(event, ReplyEvent) and event.params[:1] == ("Bob",)

    def end(event: Any) -> bool:
        return isinstance(event, ReplyEvent) and event.code == "318"

    unlabeled = outbox.collect(None, about, end)
    user = ReplyEvent(time=NOW, code="311", params=("Bob", "b", "h", "*", "Bob B"))
    other = ReplyEvent(time=NOW, code="311", params=("Carol", "c", "h", "*", "C"))
    done = ReplyEvent(time=NOW, code="318", params=("Bob", "End of /WHOIS list."))
    assert outbox.offer(user, "me") is True
    assert outbox.offer(other, "me") is False  # about somebody else
    assert not unlabeled.done()
    assert outbox.offer(done, "me") is True
    assert unlabeled.result() == [user, done]
    # With a label, everything labelled until the batch ends; then nothing more.
    labeled = outbox.collect("l9", about, end)
    start = BatchStartEvent(time=NOW, label="l9", reference="x", type="labeled-response")
    assert outbox.offer(start, "me") is True
    assert outbox.offer(ReplyEvent(time=NOW, label="l9", code="401", params=("Zed", "No")), "me")
    batch_end = BatchEndEvent(time=NOW, label="l9", reference="x", type="labeled-response")
    assert outbox.offer(batch_end, "me") is True
    assert [e.code for e in labeled.result()] == ["401"]  # type: ignore[attr-defined]
    assert outbox.offer(user, "me") is False


async def test_a_watched_answer_is_bridged_but_a_refusal_is_not() -> None:
    outbox = Outbox(str.lower)

    def answer(event: Any) -> bool:
        return isinstance(event, TopicEvent) or (
            isinstance(event, ReplyEvent) and event.code == "482"
        )

    watched = outbox.watch(answer, swallow=False)
    topic = TopicEvent(time=NOW, channel="#c", topic="t", setter="bob")
    assert outbox.offer(topic, "me") is False
    assert watched.result() is topic
    refused = outbox.watch(answer, swallow=False)
    error = ReplyEvent(time=NOW, code="482", params=("#c", "not op"), is_error=True)
    assert outbox.offer(error, "me") is True
    assert refused.result() is error
    forgotten = outbox.watch(answer, swallow=False)
    outbox.forget(forgotten)
    assert outbox.offer(topic, "me") is False and not forgotten.done()


# Matrix → IRC


def test_long_messages_become_their_first_line_and_a_link() -> None:
    link = "https://media.example/_matrix/media/v3/download/x/abc"
    assert paste_line("first\nsecond", link, 400) == f"first (full message: {link})"
    line = paste_line("word " * 200, link, 120)
    assert len(line.encode()) <= 120 and line.endswith(f"(full message: {link})")
    assert line.startswith("word word")
    assert paste_text("\x02bold\x02 one\ntwo\n\n") == b"bold one\ntwo\n"


def test_long_messages_are_cut_to_their_first_line_and_a_note() -> None:
    assert cut_to_lines("a\nb\nc", 400, 3) == ("a\nb\nc", 0)
    text, omitted = cut_to_lines("first\nsecond\nthird\nfourth", 400, 3)
    assert (text, omitted) == ("first (message cut: 3 more lines not shown)", 3)
    long_line = "word " * 200
    text, omitted = cut_to_lines(long_line, 100, 2)
    assert omitted > 1 and len(text.encode()) <= 100
    assert text.startswith("word word") and text.endswith("more lines not shown)")


def test_reply_fallbacks_are_dropped() -> None:
    body = "> <@bob:example.org> the question\n> more of it\n\nthe answer"
    assert strip_reply_fallback(body) == "the answer"
    assert strip_reply_fallback("> just a quote") == "> just a quote"


def _message(**fields: Any) -> MatrixMessage:
    values: dict[str, Any] = {
        "portal": PORTAL,
        "event_id": "$e",
        "sender_mxid": "@me:x",
        "login_id": LoginID("net/me"),
        "msgtype": "m.text",
        "body": "",
    }
    values.update(fields)
    return MatrixMessage(**values)


async def _no_bytes(out: BinaryIO) -> int:
    return 0


def test_media_becomes_a_link_and_replies_name_the_nick() -> None:
    resolve = pill_resolver({})
    media = MatrixMedia(
        "image/png", "cat.png", 10, "mxc://x/abc", _no_bytes, "https://media.example/cat"
    )
    assert render_message(_message(body="cat.png", media=media), resolve) == (
        "cat.png https://media.example/cat"
    )
    no_public = MatrixMedia("image/png", "cat.png", 10, "mxc://x/abc", _no_bytes)
    assert render_message(_message(body="look", media=no_public), resolve) == "look mxc://x/abc"
    record = MessageRecord(
        MessageID("m1"), PartID(""), "$q", "!r", PORTAL, None, 0, {"nick": "Bob"}
    )
    reply = _message(body="> <@bob:x> hi\n\nyes", reply_to=record)
    assert render_message(reply, resolve, "Bob") == "Bob: yes"


def test_pills_of_ghosts_become_nicks() -> None:
    resolve = pill_resolver({"@irc_net_bob:x": "Bob"})
    message = _message(
        body="Bob: hi",
        html='<a href="https://matrix.to/#/%40irc_net_bob%3Ax">Bob (IRC)</a>: hi '
        '<a href="https://example.org">site</a>',
    )
    assert render_message(message, resolve) == "Bob: hi site (https://example.org)"


# IRC → Matrix


def test_pills_replace_nicks_in_text_but_never_inside_tags() -> None:
    targets = {"strong": ("strong", "@s:x"), "bob": ("Bob", "@b:x"), "al": ("al", "@a:x")}
    html, mentioned = add_pills(
        "strong Bob al", "<strong>strong</strong> Bob al", targets, str.lower
    )
    assert html == (
        '<strong><a href="https://matrix.to/#/@s:x">strong</a></strong> '
        '<a href="https://matrix.to/#/@b:x">Bob</a> al'
    )
    assert mentioned == ["@s:x", "@b:x"]
    assert add_pills("nobody here", None, targets, str.lower) == (None, [])
    plain, _ = add_pills("hi <bob>", None, targets, str.lower)
    assert plain == 'hi &lt;<a href="https://matrix.to/#/@b:x">bob</a>&gt;'


# Settings


def test_the_example_config_parses() -> None:
    settings = IRCSettings.parse(YAML(typ="safe").load(example_section()))
    assert list(settings.networks) == ["libera"]
    assert settings.networks["libera"].servers[0].tls
    assert settings.level_of("@+") == 50 and settings.level_of("") == 0
    assert settings.backfill_limit == 100 and settings.max_lines == 5
    assert settings.networks["libera"].reconnect.initial_delay == 2.0


def _shared(values: dict[str, Any]) -> dict[str, Any]:
    """A section with one network in operator mode with ``values``."""
    shared = {"enabled": True, **values}
    return {"networks": [{"id": "x", "servers": [{"host": "h"}], "shared_channels": shared}]}


def test_operator_mode_is_off_unless_enabled_and_has_defaults() -> None:
    example = IRCSettings.parse(YAML(typ="safe").load(example_section()))
    assert example.networks["libera"].shared is None
    shared = IRCSettings.parse(_shared({})).networks["x"].shared
    assert shared is not None
    assert (shared.relay_nick, shared.puppet_nick) == ("matrixbridge", "{displayname}[m]")


@pytest.mark.parametrize(
    ("template", "name", "mxid", "nicklen", "expected"),
    [
        ("{displayname}[m]", "Alice Smith", "@alice:x", 30, "AliceSmith[m]"),
        ("{displayname}[m]", "Ålice 🙂", "@al.ice:x", 30, "lice[m]"),
        ("{displayname}[m]", "🙂", "@al.ice:x", 30, "alice[m]"),
        ("{localpart}|m", "Whoever", "@bob:x", 30, "bob|m"),
        ("{displayname}[m]", "A very long display name indeed", "@a:x", 9, "Averyl[m]"),
        ("{displayname}", "1337", "@a:x", 9, "M1337"),
        ("{displayname}", "-dash", "@a:x", 9, "M-dash"),
    ],
)
def test_puppet_nicks_are_valid_nicks_made_from_the_matrix_name(
    template: str, name: str, mxid: str, nicklen: int, expected: str
) -> None:
    assert nick_from_template(template, name, mxid, nicklen) == expected


@given(st.text(), st.text(min_size=1), st.integers(min_value=3, max_value=40))
def test_puppet_nicks_never_hold_what_irc_forbids(name: str, local: str, nicklen: int) -> None:
    nick = nick_from_template("{displayname}[m]", name, f"@{local}:x", nicklen)
    assert 0 < len(nick) <= nicklen
    assert re.fullmatch(r"[A-Za-z\[\]\\`^{}|_][A-Za-z0-9\[\]\\`^{}|_-]*", nick)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"networks": [{"id": "Bad_ID", "servers": [{"host": "h"}]}]}, r"networks\[0\]\.id"),
        ({"networks": [{"id": "x", "servers": []}]}, r"networks\[0\]\.servers"),
        ({"networks": [{"id": "x", "servers": [{"host": "h", "port": 0}]}]}, r"port"),
        ({"power_levels": {"@": 100}}, r"power_levels\['@'\]"),
        ({"max_lines": 0}, r"max_lines"),
        ({"flood": {"burst": 0}}, r"network\.flood"),
        ({"reconnect": {"initial_delay": 5, "max_delay": 1}}, r"network\.reconnect"),
        ({"networks": [{"id": "x", "servers": [{"host": "h"}], "reconnect": []}]}, r"reconnect"),
        ({"backfill_limit": -1}, r"network\.backfill_limit"),
        (_shared({"relay_nick": "no spaces"}), r"shared_channels\.relay_nick"),
        (_shared({"puppet_nick": "{name}"}), r"shared_channels\.puppet_nick .* not a template"),
        (_shared({"puppet_nick": "fixed"}), r"must contain \{displayname\}"),
        (_shared({"puppet_nick": 5}), r"shared_channels\.puppet_nick must be text"),
        (_shared({"puppet_idle_hours": -1}), r"shared_channels\.puppet_idle_hours is -1"),
    ],
)
def test_bad_settings_name_the_field(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IRCSettings.parse(section)
