"""The outgoing-line choke point: nothing can smuggle a second command onto the wire."""

from __future__ import annotations

import irctokens
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridges.irc.protocol.safety import (
    MAX_CLIENT_TAG_BYTES,
    UnsafeLineError,
    clean_text,
    encode_line,
    parse_raw,
)


def test_formats_a_privmsg_with_trailing_param() -> None:
    assert encode_line("PRIVMSG", ["#chan", "hello world"]) == b"PRIVMSG #chan :hello world\r\n"


@pytest.mark.parametrize("bad", ["a\rb", "a\nQUIT", "a\0b", "\r\n"])
def test_refuses_line_breaks_and_nul_in_any_param(bad: str) -> None:
    with pytest.raises(UnsafeLineError):
        encode_line("PRIVMSG", ["#chan", bad])
    with pytest.raises(UnsafeLineError):
        encode_line("PRIVMSG", [bad, "text"])


@pytest.mark.parametrize("middle", ["", "has space", ":colon"])
def test_refuses_malformed_middle_params(middle: str) -> None:
    with pytest.raises(UnsafeLineError):
        encode_line("MODE", [middle, "+o"])


@pytest.mark.parametrize("command", ["", "PRIV MSG", "QUIT\r\n", "1234", "PRIVMSG:"])
def test_refuses_odd_commands(command: str) -> None:
    with pytest.raises(UnsafeLineError):
        encode_line(command, ["x"])


def test_tag_values_are_escaped_and_parse_back() -> None:
    value = "semi;colon space\\back\r\nbreak"
    data = encode_line("TAGMSG", ["#c"], {"+draft/reply": value, "+typing": "active"})
    assert b"\r" not in data[:-2] and b"\n" not in data[:-2]
    line = irctokens.tokenise(data[:-2])
    assert line.tags == {"+draft/reply": value, "+typing": "active"}


def test_refuses_bad_tag_keys_nul_values_and_oversized_tags() -> None:
    with pytest.raises(UnsafeLineError):
        encode_line("TAGMSG", ["#c"], {"bad key": "x"})
    with pytest.raises(UnsafeLineError):
        encode_line("TAGMSG", ["#c"], {"+a": "nul\0"})
    with pytest.raises(UnsafeLineError):
        encode_line("TAGMSG", ["#c"], {"+a": "x" * MAX_CLIENT_TAG_BYTES})


def test_lone_surrogates_are_replaced_not_fatal() -> None:
    data = encode_line("PRIVMSG", ["#c", "a\ud800b"])
    line = irctokens.tokenise(data.decode("utf-8").rstrip("\r\n"))
    assert line.params[1].startswith("a\ufffd") and line.params[1].endswith("b")


def test_clean_text_makes_one_safe_line() -> None:
    assert clean_text("a\r\nb\nc\0d") == "a b cd"


def test_parse_raw_accepts_one_command_and_refuses_more() -> None:
    assert parse_raw("MODE #chan +o alice") == ("MODE", ["#chan", "+o", "alice"], None)
    with pytest.raises(UnsafeLineError):
        parse_raw("PRIVMSG #c :hi\r\nQUIT")
    with pytest.raises(UnsafeLineError):
        parse_raw(":spoof PRIVMSG #c hi")
    with pytest.raises(UnsafeLineError):
        parse_raw("   ")


@given(
    st.text(min_size=1, max_size=20),
    st.lists(st.text(max_size=40), max_size=4),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
)
def test_arbitrary_input_is_refused_or_exactly_one_safe_line(
    command: str, params: list[str], tags: dict[str, str]
) -> None:
    try:
        data = encode_line(command, params, tags)
    except UnsafeLineError:
        return
    body = data[:-2]
    assert data.endswith(b"\r\n")
    assert b"\r" not in body and b"\n" not in body and b"\0" not in body
    line = irctokens.tokenise(body)
    assert line.command == command.upper()
    assert line.params == params or (params and params[-1] == "" and line.params == params)
