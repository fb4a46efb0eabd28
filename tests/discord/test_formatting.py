"""Discord markdown ⇄ Matrix HTML, each direction on its own (no servers needed)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridges.discord.formatting import Mention, render, to_discord


class Resolver:
    """Discord user 1 is Alice with a ghost; role 7 is "mods"; channel 9 is #general;
    only the emoji "blob" has an uploaded image."""

    def user(self, user_id: str) -> Mention | None:
        return Mention("@discord_1:example.org", "Alice") if user_id == "1" else None

    def role(self, role_id: str) -> str | None:
        return "mods" if role_id == "7" else None

    def channel(self, channel_id: str) -> tuple[str, str | None] | None:
        if channel_id != "9":
            return None
        return "general", "https://discord.com/channels/5/9"

    def emoji(self, name: str, emoji_id: str, animated: bool) -> str | None:
        return f"mxc://example.org/{emoji_id}" if name == "blob" else None


@pytest.mark.parametrize(
    ("markdown", "body", "html"),
    [
        ("plain text", "plain text", None),
        (">not a quote <3", ">not a quote <3", None),
        ("a < b & c", "a < b & c", None),
        ("snake_case_name", "snake_case_name", None),
        (
            "**b** *i* _i_ __u__ ~~s~~",
            "**b** *i* _i_ __u__ ~~s~~",
            "<strong>b</strong> <em>i</em> <em>i</em> <u>u</u> <del>s</del>",
        ),
        ("***both***", "***both***", "<strong><em>both</em></strong>"),
        ("||hidden||", "||hidden||", "<span data-mx-spoiler>hidden</span>"),
        ("`a*b*` and ``x`y``", "`a*b*` and ``x`y``", "<code>a*b*</code> and <code>x`y</code>"),
        (
            "```rust\nfn main() {}\n```",
            "```rust\nfn main() {}\n```",
            '<pre><code class="language-rust">fn main() {}</code></pre>',
        ),
        ("```no language```", "```no language```", "<pre><code>no language</code></pre>"),
        ("> one\n> two\nthree", "> one\n> two\nthree", "<blockquote>one<br>two</blockquote>three"),
        (">>> all\nof this", ">>> all\nof this", "<blockquote>all<br>of this</blockquote>"),
        ("# Title\n- a\n- b", "# Title\n- a\n- b", "<h1>Title</h1><ul><li>a</li><li>b</li></ul>"),
        (
            "[site](https://example.org)",
            "site (https://example.org)",
            '<a href="https://example.org">site</a>',
        ),
        (
            "see https://example.org/a_b.",
            "see https://example.org/a_b.",
            'see <a href="https://example.org/a_b">https://example.org/a_b</a>.',
        ),
        (
            "hi <@1>",
            "hi @Alice",
            'hi <a href="https://matrix.to/#/@discord_1:example.org">Alice</a>',
        ),
        ("<@2> <@&7>", "@2 @mods", None),
        ("in <#9>", "in #general", 'in <a href="https://discord.com/channels/5/9">#general</a>'),
        (
            "<:blob:3> <:other:4>",
            ":blob: :other:",
            '<img data-mx-emoticon src="mxc://example.org/3" alt=":blob:" title=":blob:" '
            'height="32"> :other:',
        ),
        ("<t:0:f>", "01 January 1970 00:00 UTC", None),
        (r"\*not italic\*", "*not italic*", None),
    ],
)
def test_discord_markdown_to_matrix(markdown: str, body: str, html: str | None) -> None:
    rendered = render(markdown, Resolver())
    assert rendered.body == body
    assert rendered.html == html


def _ghosts(mxid: str) -> str | None:
    return mxid.removeprefix("@discord_").split(":")[0] if mxid.startswith("@discord_") else None


@pytest.mark.parametrize(
    ("html", "markdown"),
    [
        ("<b>b</b> <i>i</i> <u>u</u> <del>s</del>", "**b** *i* __u__ ~~s~~"),
        ("<span data-mx-spoiler>x</span>", "||x||"),
        ("literal *stars* and_under", r"literal \*stars\* and\_under"),
        ("see https://example.org/a_b", "see https://example.org/a_b"),
        ("<code>a*b</code>", "`a*b`"),
        ('<pre><code class="language-py">x = 1\n</code></pre>', "```py\nx = 1\n```"),
        ("<blockquote>q</blockquote>after", "> q\nafter"),
        ('<a href="https://example.org">docs</a>', "[docs](https://example.org)"),
        (
            '<a href="https://matrix.to/#/@discord_12:x">A</a> and '
            '<a href="https://matrix.to/#/@carol:x">Carol</a>',
            "<@12> and Carol",
        ),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ("<h5>deep</h5>", "### deep"),
        ("<mx-reply><blockquote>quoted</blockquote></mx-reply>answer", "answer"),
    ],
)
async def test_matrix_html_to_discord(html: str, markdown: str) -> None:
    assert await to_discord(html, _ghosts) == markdown


# Properties over arbitrary input (hypothesis) ----------------------------------------

_ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "img", "li", "ol",
    "p", "pre", "span", "strong", "u", "ul",
}  # fmt: skip


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            # Matrix clients read a code block's language from its class.
            if (tag, name) == ("code", "class") and (value or "").startswith("language-"):
                continue
            self.attributes.add(name)


_MARKDOWNISH = st.lists(
    st.sampled_from([*"ab <>&\"'*_~`|#-:\n@!/.[]()", "<@1>", "<#9>", "```", "||", "**"]),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), _MARKDOWNISH))
def test_any_discord_message_renders_to_safe_html(content: str) -> None:
    rendered = render(content, Resolver())
    assert isinstance(rendered.body, str)
    if rendered.html is None:
        return
    collector = _TagCollector()
    collector.feed(rendered.html)
    collector.close()
    assert collector.tags <= _ALLOWED_TAGS, rendered.html
    assert collector.attributes <= {"href", "src", "alt", "title", "height", "data-mx-spoiler"}


_HTML_PIECES = st.sampled_from(
    [
        "<b>", "</b>", "<i>", "</i>", "<u>", "</u>", "<del>", "</del>", "<code>", "</code>",
        "<pre>", "</pre>", "<blockquote>", "</blockquote>", "<ul>", "<li>", "</li>", "</ul>",
        "<br>", "<p>", "</p>", '<a href="https://example.org">', "</a>",
        '<a href="https://matrix.to/#/@discord_12:x">', "<script>", "</script>",
        "<mx-reply>", "</mx-reply>", "<span data-mx-spoiler>", "</span>", "&amp;", "&lt;",
        "<h1>", "</h1>", "<img src=x>", "**", "@everyone", "<@12>", "\n",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_HTML_PIECES, st.text(max_size=12)), max_size=40))
async def test_any_matrix_html_converts_to_discord(pieces: list[str]) -> None:
    # Never raises, whatever the nesting. (Discord shows text, not HTML: markup that was
    # text in the Matrix message, such as the content of a <script>, stays text.)
    markdown = await to_discord("".join(pieces), _ghosts)
    assert isinstance(markdown, str)


_WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=8)
_STYLED = st.tuples(st.sampled_from(["**", "*", "__", "~~", "`", ""]), _WORD).map(
    lambda pair: f"{pair[0]}{pair[1]}{pair[0][::-1]}"
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_STYLED, min_size=1, max_size=8))
async def test_discord_formatting_survives_a_round_trip_through_matrix(words: list[str]) -> None:
    content = " ".join(words)
    rendered = render(content, Resolver())
    back = await to_discord(rendered.html, _ghosts) if rendered.html else rendered.body
    assert back == content


@pytest.mark.parametrize("html", ["<![0", "<![CDATA[x", "<!DOCTYPE html><b>hi</b>"])
async def test_markup_declarations_do_not_crash_the_converter(html: str) -> None:
    assert "<!" in await to_discord(html, _ghosts)
