"""mIRC formatting ⇄ Matrix HTML."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridges.irc.formatting import (
    MAX_DEPTH,
    html_to_irc,
    irc_to_matrix,
    nearest_color,
    parse_irc,
    strip_formatting,
)


class _TagBalance(HTMLParser):
    """Checks that generated HTML is well-formed (every tag closed in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.ok = False


def assert_well_formed(markup: str) -> None:
    checker = _TagBalance()
    checker.feed(markup)
    checker.close()
    assert checker.ok and not checker.stack, markup


# IRC → Matrix


def test_plain_text_has_no_html() -> None:
    assert irc_to_matrix("just <text> & stuff").html is None


@pytest.mark.parametrize(
    ("irc", "expected"),
    [
        ("\x02bold\x02 x", "<strong>bold</strong> x"),
        ("\x1ditalic", "<em>italic</em>"),
        ("\x1funder", "<u>under</u>"),
        ("\x1estrike", "<del>strike</del>"),
        ("\x11mono", "<code>mono</code>"),
        ("\x0304red", '<span data-mx-color="#ff0000">red</span>'),
        ("\x034,12rb", '<span data-mx-color="#ff0000" data-mx-bg-color="#0000fc">rb</span>'),
        ("\x0499AA00hex", '<span data-mx-color="#99aa00">hex</span>'),
        ("\x0304,02\x16rev", '<span data-mx-color="#00007f" data-mx-bg-color="#ff0000">rev</span>'),
        ("\x02a\x0fb", "<strong>a</strong>b"),
        ("\x0304r\x03n", '<span data-mx-color="#ff0000">r</span>n'),
        ("\x0399x\x02y", "x<strong>y</strong>"),
        ("\x02<&>", "<strong>&lt;&amp;&gt;</strong>"),
    ],
)
def test_codes_become_html(irc: str, expected: str) -> None:
    result = irc_to_matrix(irc)
    assert result.html == expected
    assert result.body == strip_formatting(irc)


def test_color_comma_without_digit_is_text() -> None:
    runs = parse_irc("\x0304,text")
    assert runs[0][0] == ",text"


def test_spaces_survive_html_collapsing() -> None:
    result = irc_to_matrix("\x02a  b \x02 ")
    assert result.html is not None
    assert html_to_irc(result.html) == "\x02a  b \x0f "


def test_other_control_characters_are_dropped() -> None:
    assert strip_formatting("a\x01b\x07c\x02d") == "abcd"


# Matrix → IRC


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<b>b</b><strong>s</strong>", "\x02bs"),
        ("<i>i</i> <em>e</em>", "\x1di\x0f \x1de"),
        ("<u>u</u><del>d</del><s>s</s>", "\x1fu\x1f\x1eds"),
        ("<code>c</code>", "\x11c"),
        ('<font data-mx-color="#ff0000">red</font>', "\x0304red"),
        ('<span data-mx-color="#ff0000" data-mx-bg-color="#0000fc">x</span>', "\x0304,12x"),
        ('<font color="#f00">3 apples</font>', "\x03043 apples"),
        ('<font data-mx-color="#ff0000">,x</font>', "\x0304,99,x"),
        ("<b>a</b>5", "\x02a\x0f5"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<p>one</p><p>two</p>", "one\ntwo"),
        ("<blockquote>q<br>r</blockquote>s", "> q\n> r\ns"),
        ("<ul><li>a</li><li>b</li></ul>", "• a\n• b"),
        ('<ol start="3"><li>a</li><li>b</li></ol>', "3. a\n4. b"),
        ("<pre><code>x\n  y</code></pre>", "\x11x\n\x11  y"),
        ('<a href="https://e.org">site</a>', "site (https://e.org)"),
        ('<a href="https://e.org">https://e.org</a>', "https://e.org"),
        ("<mx-reply><blockquote>old</blockquote></mx-reply>new", "new"),
        ("<h1>Title</h1>body", "\x02Title\nbody"),
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ('<img alt=":cat:" src="mxc://x/y">', ":cat:"),
        ("<script>alert(1)</script>ok", "ok"),
        ("<b>unclosed", "\x02unclosed"),
        ("</b>stray", "stray"),
        ("text with \x02 code", "text with code"),
        ("<span data-mx-spoiler>secret</span>", "\x0301,01secret"),
    ],
)
def test_html_becomes_irc(markup: str, expected: str) -> None:
    assert html_to_irc(markup) == expected


def test_formatting_is_reapplied_on_each_line() -> None:
    assert html_to_irc("<b>one<br>two</b>") == "\x02one\n\x02two"


def test_link_resolver_replaces_pills() -> None:
    markup = '<a href="https://matrix.to/#/@alice:example.org">Alice</a>: hi'

    def resolve(href: str) -> str | None:
        return "alice_irc" if href.endswith("@alice:example.org") else None

    assert html_to_irc(markup, link_resolver=resolve) == "alice_irc: hi"


def test_nearest_color() -> None:
    assert nearest_color("#ff0000") == 4
    assert nearest_color("#fe0101") == 4
    assert nearest_color("#474700") == 18


def test_deep_nesting_is_flattened_not_fatal() -> None:
    markup = "<b><i>" * 5000 + "deep" + "</i></b>" * 5000
    assert strip_formatting(html_to_irc(markup)) == "deep"
    nested = "<blockquote>" * (MAX_DEPTH * 3) + "q"
    assert html_to_irc(nested).endswith("q")
    assert len(html_to_irc(nested)) <= 2 * MAX_DEPTH + 10


# Properties

_IRC_TEXT = st.text(
    alphabet=st.sampled_from(list("ab ,1\t<&é😀\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f\x01"))
    | st.characters(),
    max_size=200,
)


@given(_IRC_TEXT)
def test_irc_to_matrix_never_crashes_and_emits_well_formed_html(text: str) -> None:
    result = irc_to_matrix(text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.body)
    if result.html is not None:
        assert_well_formed(result.html)


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300).filter(
        lambda t: "\n" not in t and "\r" not in t
    )
)
def test_irc_to_html_to_irc_keeps_the_text(text: str) -> None:
    """The visible text survives, with tabs and no-break spaces read as spaces (HTML
    needs no-break spaces to keep IRC's spacing; IRC has no use for them)."""

    def visible(irc: str) -> str:
        return strip_formatting(irc).replace("\t", " ").replace("\xa0", " ")

    result = irc_to_matrix(text)
    back = html_to_irc(result.html) if result.html else result.body
    assert visible(back) == visible(text)


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_html_to_irc_never_crashes_on_arbitrary_text(text: str) -> None:
    out = html_to_irc(text)
    assert "\r" not in out and "\0" not in out
    assert len(out) <= 4 * len(text) + 16


_TAGS = st.sampled_from(
    [
        "b",
        "i",
        "u",
        "del",
        "s",
        "code",
        "strong",
        "em",
        "blockquote",
        "p",
        "li",
        "ul",
        "a",
        "font",
        "span",
        "pre",
        "mx-reply",
        "br",
        "table",
        "td",
    ]
)
_TAG_SOUP = st.lists(
    st.one_of(
        _TAGS.map(lambda t: f"<{t}>"),
        _TAGS.map(lambda t: f"</{t}>"),
        st.just('<font data-mx-color="#00ff00">'),
        st.just('<a href="https://x.test/?a=1&b=2">'),
        st.just("<!-- c -->"),
        st.just("&amp;&#0;&#x110000;&bogus;"),
        st.text(max_size=8),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300)
@given(_TAG_SOUP)
def test_tag_soup_never_crashes_and_stays_bounded(markup: str) -> None:
    out = html_to_irc(markup)
    assert "\r" not in out and "\0" not in out
    assert len(out) <= 20 * len(markup) + 16
    irc_to_matrix(out)


_LEAF = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs"))
    | st.sampled_from([" ", " ", ",", "1", "9", "<", "&"]),
    max_size=12,
).map(lambda t: html.escape(t, quote=False))
_INLINE_TAGS = st.sampled_from(
    [
        "b",
        "i",
        "u",
        "del",
        "s",
        "code",
        "strong",
        "em",
        'font data-mx-color="#ff0000"',
        'span data-mx-color="#123456" data-mx-bg-color="#00ff00"',
    ]
)
_INLINE_HTML = st.recursive(
    _LEAF,
    lambda children: st.tuples(_INLINE_TAGS, st.lists(children, max_size=4)).map(
        lambda pair: f"<{pair[0]}>{''.join(pair[1])}</{pair[0].split()[0]}>"
    ),
    max_leaves=20,
)


def _visible_text(markup: str) -> str:
    text = html.unescape(re.sub(r"<[^>]*>", "", markup))
    return re.sub(r"[ \t\n\r\f]+", " ", text).strip(" ")


@given(st.lists(_INLINE_HTML, max_size=4).map("".join))
def test_html_to_irc_to_html_keeps_the_plain_text(markup: str) -> None:
    expected = _visible_text(markup)
    irc = html_to_irc(markup)
    result = irc_to_matrix(irc)
    assert result.body == expected
    if result.html is not None:
        assert_well_formed(result.html)
        assert strip_formatting(html_to_irc(result.html)) == expected


@pytest.mark.parametrize("html", ["<![0", "<![CDATA[x", "<!DOCTYPE html><b>hi</b>", "<!x"])
def test_markup_declarations_do_not_crash_the_converter(html: str) -> None:
    # Python's html.parser raises on some malformed declarations (found by hypothesis).
    assert "<!" in html_to_irc(html)
