"""Telegram entities ⇄ Matrix HTML, offsets in UTF-16 code units."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telethon import utils
from telethon.tl import types

from bridges.telegram import waveform
from bridges.telegram.formatting import MentionMapper, html_to_telegram, telegram_to_html

MENTIONS = MentionMapper(
    to_mxid=lambda user_id: f"@telegram_{user_id}:example.org",
    from_mxid=lambda mxid: int(mxid[10:].split(":")[0]) if mxid.startswith("@telegram_") else None,
)


def _plain(entities: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            type(e).__name__,
            e.offset,
            e.length,
            *(getattr(e, f) for f in ("language", "url", "user_id") if hasattr(e, f)),
        )
        for e in entities
    ]


def test_offsets_count_utf16_code_units() -> None:
    # "👩‍💻" is three code points, five UTF-16 units.
    html = telegram_to_html("👩‍💻 code", [types.MessageEntityCode(6, 4)])
    assert html == "👩‍💻 <code>code</code>"


def test_every_entity_kind_to_html() -> None:
    text = "b i u s c pre spoiler quote link mail Bob @bob"
    entities = [
        types.MessageEntityBold(0, 1),
        types.MessageEntityItalic(2, 1),
        types.MessageEntityUnderline(4, 1),
        types.MessageEntityStrike(6, 1),
        types.MessageEntityCode(8, 1),
        types.MessageEntityPre(10, 3, "python"),
        types.MessageEntitySpoiler(14, 7),
        types.MessageEntityBlockquote(22, 5),
        types.MessageEntityTextUrl(28, 4, "https://example.org/?a=1&b=2"),
        types.MessageEntityEmail(33, 4),
        types.MessageEntityMentionName(38, 3, 42),
        types.MessageEntityMention(42, 4),
    ]
    assert telegram_to_html(text, entities, MENTIONS) == (
        "<strong>b</strong> <em>i</em> <u>u</u> <del>s</del> <code>c</code> "
        '<pre><code class="language-python">pre</code></pre> '
        "<span data-mx-spoiler>spoiler</span> <blockquote>quote</blockquote> "
        '<a href="https://example.org/?a=1&amp;b=2">link</a> <a href="mailto:mail">mail</a> '
        '<a href="https://matrix.to/#/@telegram_42:example.org">Bob</a> '
        '<a href="https://t.me/bob">@bob</a>'
    )


def test_overlapping_entities_still_nest() -> None:
    html = telegram_to_html(
        "abcdef", [types.MessageEntityBold(0, 4), types.MessageEntityItalic(2, 4)]
    )
    assert html == "<strong>ab<em>cd</em></strong><em>ef</em>"


def test_text_is_escaped_and_newlines_become_breaks_outside_code() -> None:
    html = telegram_to_html(
        "<b>\nx\ny", [types.MessageEntityItalic(0, 3), types.MessageEntityPre(4, 3, "")]
    )
    assert html == "<em>&lt;b&gt;</em><br/><pre><code>x\ny</code></pre>"
    assert telegram_to_html("plain", []) is None
    assert telegram_to_html("#tag", [types.MessageEntityHashtag(0, 4)]) is None


async def test_matrix_html_to_entities() -> None:
    text, entities = await html_to_telegram(
        "<p>🎉 <strong>bold <em>both</em></strong> "
        '<a href="https://matrix.to/#/@telegram_7:example.org">Bob</a> '
        '<a href="https://matrix.to/#/@alice:example.org">Alice</a></p>'
        '<pre><code class="language-rust">fn main() {}\n</code></pre>'
        "<span data-mx-spoiler>secret</span> <del>gone</del> "
        '<a href="https://example.org">site</a> https://example.org',
        MENTIONS,
    )
    # Paragraphs and code blocks are blocks: a blank line sets them apart.
    assert text == (
        "🎉 bold both Bob Alice\n\nfn main() {}\n\nsecret gone site https://example.org"
    )
    assert _plain(entities) == [
        ("MessageEntityBold", 3, 9),
        ("MessageEntityItalic", 8, 4),
        ("MessageEntityMentionName", 13, 3, 7),
        ("MessageEntityPre", 24, 13, "rust"),
        ("MessageEntitySpoiler", 38, 6),
        ("MessageEntityStrike", 45, 4),
        ("MessageEntityTextUrl", 50, 4, "https://example.org"),
    ]


async def test_reply_fallback_is_dropped() -> None:
    text, entities = await html_to_telegram(
        "<mx-reply><blockquote>quoted</blockquote></mx-reply>answer"
    )
    assert (text, entities) == ("answer", [])


_KINDS = [
    types.MessageEntityBold,
    types.MessageEntityItalic,
    types.MessageEntityUnderline,
    types.MessageEntityStrike,
    types.MessageEntitySpoiler,
]


@st.composite
def _formatted(draw: Any) -> tuple[str, list[Any]]:
    text = draw(st.text(alphabet=st.sampled_from("abé😀\U0001f469"), min_size=1, max_size=12))
    units = len(text.encode("utf-16-le")) // 2
    boundaries = [0]
    for ch in text:
        boundaries.append(boundaries[-1] + (2 if ord(ch) > 0xFFFF else 1))
    entities = []
    for kind in draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=3, unique=True)):
        start = draw(st.sampled_from(boundaries[:-1]))
        end = draw(st.sampled_from([b for b in boundaries if b > start]))
        entities.append(kind(start, end - start))
    assert units == boundaries[-1]
    return text, entities


@given(_formatted())
async def test_formatting_survives_a_round_trip(formatted: tuple[str, list[Any]]) -> None:
    text, entities = formatted
    html = telegram_to_html(text, entities)
    assert html is not None
    back_text, back_entities = await html_to_telegram(html)
    assert back_text == text
    covered = {
        (type(e).__name__, i) for e in entities for i in range(e.offset, e.offset + e.length)
    }
    back = {
        (type(e).__name__, i) for e in back_entities for i in range(e.offset, e.offset + e.length)
    }
    assert back == covered


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"api_id": 0, "api_hash": "x"}, "network.api_id must be at least 1"),
        ({"api_id": 1, "api_hash": ""}, "network.api_hash is empty"),
        (
            {"api_id": 1, "api_hash": "x", "server": {"dc_id": 2, "host": ""}},
            "network.server.host is empty",
        ),
        (
            {
                "api_id": 1,
                "api_hash": "x",
                "server": {"dc_id": 2, "host": "h", "rsa_public_key": "k"},
            },
            "rsa_public_key must be a PEM public key",
        ),
        ({"api_id": "ten", "api_hash": "x"}, "network.api_id must be a whole number"),
    ],
)
def test_config_errors_name_the_field(section: dict[str, Any], message: str) -> None:
    from bridges.telegram.config import TelegramSettings

    with pytest.raises(ValueError, match=message):
        TelegramSettings.parse(section)


@pytest.mark.parametrize("html", ["<![0", "<![CDATA[x", "<!DOCTYPE html><b>hi</b>"])
async def test_markup_declarations_do_not_crash_the_converter(html: str) -> None:
    text, _ = await html_to_telegram(html)
    assert "<!" in text


@given(st.lists(st.integers(0, 31), max_size=120))
def test_waveforms_pack_and_unpack_like_telegram(levels: list[int]) -> None:
    packed = utils.encode_waveform(bytes(levels))
    assert waveform.unpack(packed)[: len(levels)] == levels
    assert all(v == 0 for v in waveform.unpack(packed)[len(levels) :])
    matrix = waveform.to_matrix(packed)[: len(levels)]
    assert all(0 <= v <= 1024 for v in matrix)
    back = waveform.to_telegram(matrix)
    assert waveform.unpack(back or b"")[: min(len(levels), 100)] == levels[:100]
