"""The commands a consumer sends through an :class:`IRCConnection`.

Kept apart from the connection's lifecycle code; every method validates its arguments
(through :func:`encode_line`) and queues lines, none waits for an answer. Answers arrive
as events (e.g. :class:`ReplyEvent` for WHOIS lines or a refused JOIN).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .events import MessageKind
from .safety import UnsafeLineError, clean_text, encode_line, has_forbidden, parse_raw
from .split import DEFAULT_LINELEN, DEFAULT_USERLEN, relay_prefix_length, split_text, text_budget

_ACTION_OVERHEAD = len("\x01ACTION \x01")
# A JOIN line with many channels stays well below 512 bytes so that servers with a
# shorter limit or a long prefix still accept it.
_MAX_JOIN_BYTES = 400


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What :meth:`Messaging.send_message` queued: one IRC line per part, and the
    labeled-response label of each (``None`` when the server lacks labeled-response),
    which the echoed :class:`MessageEvent` will carry."""

    parts: tuple[str, ...]
    labels: tuple[str | None, ...]


class Messaging:
    """Sending half of :class:`IRCConnection`; it provides the hooks declared here."""

    _state: Any
    _channels: dict[str, tuple[str, str | None]]

    @property
    def nick(self) -> str:
        raise NotImplementedError

    def casefold(self, name: str) -> str:
        raise NotImplementedError

    def _send(
        self,
        command: str,
        params: list[str],
        *,
        tags: Mapping[str, str] | None = None,
        urgent: bool = False,
    ) -> None:
        raise NotImplementedError

    def _new_label(self) -> str | None:
        raise NotImplementedError

    def _self_hostmask(self) -> tuple[str | None, str | None]:
        raise NotImplementedError

    def _client_tags(self, tags: Mapping[str, str] | None) -> dict[str, str]:
        # Servers without message-tags would misparse a tagged line, so tags are dropped.
        if not tags or "message-tags" not in self._state.agreed_caps:
            return {}
        return dict(tags)

    def _isupport_int(self, key: str, default: int) -> int:
        value = self._state.isupport.raw.get(key)
        return int(value) if value and value.isdigit() else default

    def text_budget(self, target: str, command: str = "PRIVMSG", overhead: int = 0) -> int:
        """Bytes of text one ``command target :text`` line can carry, as relayed by the
        server with our ``nick!user@host`` prefix (estimated high when unknown)."""
        user, host = self._self_hostmask()
        prefix = relay_prefix_length(
            self.nick, user, host, userlen=self._isupport_int("USERLEN", DEFAULT_USERLEN)
        )
        linelen = self._isupport_int("LINELEN", DEFAULT_LINELEN)
        return text_budget(command, target, prefix, linelen=linelen, overhead=overhead)

    @staticmethod
    def _check_target(target: str) -> None:
        if not target or " " in target or target.startswith(":") or has_forbidden(target):
            raise UnsafeLineError(f"invalid target {target!r}")

    def send_message(
        self,
        target: str,
        text: str,
        *,
        kind: MessageKind = "privmsg",
        tags: Mapping[str, str] | None = None,
    ) -> SentMessage:
        """Send ``text`` to a channel or nick as PRIVMSG, NOTICE or CTCP ACTION.

        Each line of ``text`` becomes one or more messages split to fit the server's
        line length; empty lines are skipped. Client ``tags`` (``+draft/reply``...) go on
        the first message only, and only if the server supports message-tags.
        """
        self._check_target(target)
        command = "NOTICE" if kind == "notice" else "PRIVMSG"
        overhead = _ACTION_OVERHEAD if kind == "action" else 0
        budget = max(self.text_budget(target, command, overhead), 16)
        parts = split_text(text, budget)
        labels: list[str | None] = []
        for index, part in enumerate(parts):
            body = f"\x01ACTION {part}\x01" if kind == "action" else part
            line_tags = self._client_tags(tags) if index == 0 else {}
            label = self._new_label()
            if label is not None:
                line_tags["label"] = label
            self._send(command, [target, body], tags=line_tags or None)
            labels.append(label)
        return SentMessage(tuple(parts), tuple(labels))

    def send_relaymsg(self, channel: str, nick: str, text: str) -> SentMessage:
        """Send ``text`` to ``channel`` as ``nick`` with draft/relaymsg (the caller checks
        ``"draft/relaymsg" in caps``; the server decides how the nick is decorated)."""
        self._check_target(channel)
        self._check_target(nick)
        prefix = relay_prefix_length(nick, None, None)
        fixed = len(f"RELAYMSG {channel} {nick} :".encode()) + 2
        budget = max(self._isupport_int("LINELEN", DEFAULT_LINELEN) - prefix - fixed, 16)
        parts = split_text(text, budget)
        labels: list[str | None] = []
        for part in parts:
            label = self._new_label()
            self._send("RELAYMSG", [channel, nick, part], tags={"label": label} if label else None)
            labels.append(label)
        return SentMessage(tuple(parts), tuple(labels))

    def send_tagmsg(self, target: str, tags: Mapping[str, str]) -> str | None:
        """Send a TAGMSG (``+typing``, ``+draft/react``...); returns its label. Does
        nothing (returns ``None``) if the server lacks message-tags."""
        self._check_target(target)
        line_tags = self._client_tags(tags)
        if not line_tags:
            return None
        label = self._new_label()
        if label is not None:
            line_tags["label"] = label
        self._send("TAGMSG", [target], tags=line_tags)
        return label

    def send(self, command: str, *params: str, tags: Mapping[str, str] | None = None) -> None:
        """Queue any command. Raises :class:`UnsafeLineError` for unsafe input."""
        self._send(command, list(params), tags=tags)

    def send_raw(self, text: str) -> None:
        """Queue a line typed by a (trusted) user, e.g. ``MODE #chan +o nick``. Exactly
        one command: CR, LF and NUL are refused."""
        command, params, tags = parse_raw(text)
        self._send(command, params, tags=tags)

    def join(self, channel: str, key: str | None = None) -> None:
        """Join ``channel`` now and after every reconnect (until parted or kicked)."""
        self._check_target(channel)
        if key is not None:
            self._check_target(key)
        self._channels[self.casefold(channel)] = (channel, key)
        for line in self._join_commands([(channel, key)]):
            self._send("JOIN", line)

    def part(self, channel: str, reason: str | None = None) -> None:
        """Leave ``channel`` and stop re-joining it."""
        self._check_target(channel)
        self._channels.pop(self.casefold(channel), None)
        self._send("PART", [channel, clean_text(reason)] if reason else [channel])

    def set_nick(self, nick: str) -> None:
        """Ask for a new nick; a :class:`NickEvent` (or an error reply) follows."""
        self._check_target(nick)
        self._send("NICK", [nick])

    def set_topic(self, channel: str, topic: str) -> None:
        """Set the topic of ``channel`` (line breaks become spaces)."""
        self._check_target(channel)
        self._send("TOPIC", [channel, clean_text(topic)])

    def kick(self, channel: str, nick: str, reason: str | None = None) -> None:
        """Kick ``nick`` from ``channel``."""
        self._check_target(channel)
        self._check_target(nick)
        self._send("KICK", [channel, nick, clean_text(reason)] if reason else [channel, nick])

    def set_mode(self, target: str, modes: str, *params: str) -> None:
        """Change modes, e.g. ``set_mode("#chan", "+o", "nick")``."""
        self._check_target(target)
        self._send("MODE", [target, modes, *params])

    def invite(self, nick: str, channel: str) -> None:
        """Invite ``nick`` to ``channel``."""
        self._check_target(nick)
        self._check_target(channel)
        self._send("INVITE", [nick, channel])

    def set_away(self, message: str | None) -> None:
        """Mark us away with ``message`` (``None``: back)."""
        self._send("AWAY", [clean_text(message)] if message else [])

    def whois(self, nick: str) -> None:
        """Ask for WHOIS of ``nick``; the answer arrives as :class:`ReplyEvent` lines."""
        self._check_target(nick)
        self._send("WHOIS", [nick])

    @staticmethod
    def _join_commands(channels: list[tuple[str, str | None]]) -> list[list[str]]:
        """JOIN parameters for ``channels``: keyed channels first (keys pair up by
        position), several channels per line."""
        ordered = sorted(channels, key=lambda channel: channel[1] is None)
        commands: list[list[str]] = []
        names: list[str] = []
        keys: list[str] = []
        for name, key in ordered:
            size = len(",".join([*names, name, *keys, key or ""]).encode())
            if names and size > _MAX_JOIN_BYTES:
                commands.append([",".join(names), ",".join(keys)] if keys else [",".join(names)])
                names, keys = [], []
            names.append(name)
            if key is not None:
                keys.append(key)
        if names:
            commands.append([",".join(names), ",".join(keys)] if keys else [",".join(names)])
        return commands

    def _join_lines(self, channels: list[tuple[str, str | None]]) -> list[bytes]:
        return [encode_line("JOIN", params) for params in self._join_commands(channels)]
