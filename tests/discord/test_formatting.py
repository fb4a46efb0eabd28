"""Discord markdown ⇄ Matrix HTML, each direction on its own (no servers needed)."""

from __future__ import annotations

import pytest

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
