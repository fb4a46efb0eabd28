"""Splitting messages into lines that fit the server's limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridges.irc.protocol.safety import encode_line
from bridges.irc.protocol.split import (
    MAX_HOST_LENGTH,
    normalized_lines,
    relay_prefix_length,
    split_text,
    text_budget,
)


def test_short_text_is_one_part() -> None:
    assert split_text("hello", 100) == ["hello"]


def test_prefers_word_boundaries_and_keeps_the_space_on_the_left() -> None:
    parts = split_text("the quick brown fox jumps", 11)
    assert parts == ["the quick ", "brown fox ", "jumps"]
    assert "".join(parts) == "the quick brown fox jumps"


def test_never_cuts_a_code_point() -> None:
    parts = split_text("ü" * 7 + "€" * 5 + "😀" * 3, 7)
    for part in parts:
        assert len(part.encode()) <= 7
    assert "".join(parts) == "ü" * 7 + "€" * 5 + "😀" * 3


def test_keeps_combining_marks_with_their_base() -> None:
    text = "e\u0301" * 10
    for part in split_text(text, 7):
        assert not part.startswith("\u0301")


def test_does_not_cut_inside_a_colour_code() -> None:
    text = "abcdef\x0304,12colored"
    parts = split_text(text, 9)
    assert parts[0] == "abcdef"
    assert parts[1].startswith("\x0304,12")


def test_newlines_become_separate_messages_and_empty_lines_vanish() -> None:
    assert split_text("one\r\ntwo\n\nthree\rfour\0", 50) == ["one", "two", "three", "four"]


def test_budget_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        split_text("abc", 3)


def test_prefix_estimate_is_conservative_when_host_unknown() -> None:
    known = relay_prefix_length("nick", "user", "host.example")
    unknown = relay_prefix_length("nick")
    assert known == len(":nick!user@host.example ")
    assert unknown >= len(":nick!") + 11 + 1 + MAX_HOST_LENGTH


def test_budget_leaves_room_for_prefix_command_and_crlf() -> None:
    prefix = relay_prefix_length("nick", "user", "host")
    budget = text_budget("PRIVMSG", "#chan", prefix)
    text = ("x " * budget)[:budget]
    relayed = b":nick!user@host " + encode_line("PRIVMSG", ["#chan", text])
    assert len(relayed) == 512


@given(
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=1500),
    nick=st.from_regex(r"[a-zA-Z][a-zA-Z0-9_\-\[\]{}|^`]{0,29}", fullmatch=True),
    target=st.from_regex(r"#[a-z0-9_\-]{1,40}", fullmatch=True),
    linelen=st.sampled_from([512, 1024, 300]),
)
def test_split_invariants(text: str, nick: str, target: str, linelen: int) -> None:
    """Never crashes, never emits CR/LF/NUL, each relayed line fits LINELEN, and the
    parts of each line concatenate back to it (see ``normalized_lines``)."""
    prefix = relay_prefix_length(nick)
    budget = text_budget("PRIVMSG", target, prefix, linelen=linelen)
    parts = split_text(text, budget)
    expected = normalized_lines(text)
    joined: list[str] = []
    for part in parts:
        assert part
        assert not set(part) & {"\r", "\n", "\0"}
        wire = encode_line("PRIVMSG", [target, part])
        assert prefix + len(wire) <= linelen
        joined.append(part)
    # Reassemble line by line: parts never span two input lines.
    rebuilt: list[str] = []
    remaining = list(joined)
    for line in expected:
        acc = ""
        while acc != line:
            assert remaining, "ran out of parts"
            acc += remaining.pop(0)
            assert line.startswith(acc)
        rebuilt.append(acc)
    assert not remaining
    assert rebuilt == expected


@given(st.text(max_size=600), st.integers(min_value=4, max_value=80))
def test_parts_respect_any_budget(text: str, budget: int) -> None:
    for part in split_text(text, budget):
        assert 0 < len(part.encode("utf-8")) <= budget
