"""Turning parsed lines into :mod:`events` for the consumer.

The :class:`Translator` sees each line *before* ircstates applies it, so it still knows
which channels a quitting user shared with us and whether a nick was ours. Lines that only
matter to the connection itself (PING, CAP, AUTHENTICATE, registration numerics) produce
no event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal, cast

import ircstates
import irctokens

from . import events as ev

log = logging.getLogger("bridgekit.irc.protocol.translate")

# Numerics that the connection consumes itself or that carry nothing for the consumer:
# welcome/ISUPPORT/statistics, MOTD, NAMES body, topic details and SASL replies.
# (324, a channel's modes, is reported: it answers a user's MODE query.)
_QUIET_NUMERICS = frozenset(
    {"001", "002", "003", "004", "005", "042", "396", "353", "333", "329"}
    | {str(code) for code in range(250, 267)}
    | {"372", "375", "376", "422"}
    | {str(code) for code in range(900, 909)}
)
# A server that opens batches and never closes them must not grow our memory forever.
_MAX_OPEN_BATCHES = 256
_CONTROL_COMMANDS = frozenset({"PING", "PONG", "CAP", "AUTHENTICATE", "ERROR"})


def parse_server_time(value: str | None) -> datetime | None:
    """The server-time tag as an aware UTC datetime, ``None`` if absent or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_ctcp(text: str) -> tuple[str, str] | None:
    """``(COMMAND, argument)`` if ``text`` is a CTCP message, else ``None``."""
    if len(text) < 2 or not text.startswith("\x01"):
        return None
    body = text[1:-1] if text.endswith("\x01") else text[1:]
    command, _, argument = body.partition(" ")
    if not command:
        return None
    return command.upper(), argument


class Translator:
    """Stateful line-to-event translation for one connection attempt."""

    def __init__(self, state: ircstates.Server) -> None:
        self.state = state
        self._batches: dict[str, tuple[str, tuple[str, ...], str | None]] = {}
        self._parent_batch: dict[str, str] = {}

    def translate(self, line: irctokens.Line) -> list[ev.IRCEvent]:
        """Events for ``line``; call before ``state.parse_tokens(line)``."""
        command = line.command
        if command in _CONTROL_COMMANDS:
            return []
        handler = getattr(self, f"_on_{command.lower()}", None)
        if handler is not None:
            result: list[ev.IRCEvent] = handler(line, self._base(line))
            return result
        if command.isdigit():
            return self._on_numeric(line, self._base(line))
        log.debug("no event for %s", command)
        return []

    def _base(self, line: irctokens.Line) -> dict[str, Any]:
        tags = line.tags or {}
        batch = tags.get("batch")
        label = tags.get("label") or self._batch_label(batch)
        return {
            "time": parse_server_time(tags.get("time")) or datetime.now(UTC),
            "tags": dict(tags),
            "msgid": tags.get("msgid"),
            "label": label,
            "batch": batch,
        }

    def _batch_label(self, reference: str | None) -> str | None:
        seen = 0
        while reference is not None and reference in self._batches and seen < 16:
            _, _, label = self._batches[reference]
            if label is not None:
                return label
            reference = self._parent_batch.get(reference)
            seen += 1
        return None

    def source(self, line: irctokens.Line) -> ev.Source:
        """The sender of ``line`` with what the tags and the state know about it."""
        if line.source is None:
            return ev.Source(nick=self.state.server or self.state.name, is_server=True)
        mask = line.hostmask
        account = (line.tags or {}).get("account")
        if account is None:
            user = self.state.users.get(self.state.casefold(mask.nickname))
            if user is not None and user.account:
                account = user.account
        is_server = mask.username is None and mask.hostname is None and "." in mask.nickname
        return ev.Source(
            nick=mask.nickname,
            user=mask.username,
            host=mask.hostname,
            account=account or None,
            is_server=is_server,
        )

    def _is_me(self, nick: str) -> bool:
        return bool(self.state.nickname_lower) and self.state.is_me(nick)

    def _strip_statusmsg(self, target: str) -> str:
        return target.lstrip("".join(self.state.isupport.statusmsg))

    def _shared_channels(self, nick: str) -> tuple[str, ...]:
        user = self.state.users.get(self.state.casefold(nick))
        if user is None:
            return ()
        names = (self.state.channels[c].name for c in user.channels if c in self.state.channels)
        return tuple(sorted(names))

    def _on_privmsg(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 2:
            return []
        source = self.source(line)
        target, text = line.params[0], line.params[1]
        bare_target = self._strip_statusmsg(target)
        is_channel = self.state.is_channel(bare_target)
        # A line we relayed (draft/relaymsg) comes back from the nick we gave it,
        # tagged with ours: it is ours all the same.
        relayer = base["tags"].get("draft/relaymsg")
        relayed_by_us = is_channel and bool(relayer) and self._is_me(relayer)
        is_echo = self._is_me(source.nick) or relayed_by_us
        if is_channel:
            conversation = bare_target
        elif is_echo:
            conversation = target
        else:
            conversation = source.nick
        notice = line.command == "NOTICE"
        ctcp = parse_ctcp(text)
        if ctcp is not None and ctcp[0] != "ACTION":
            return [
                ev.CTCPEvent(
                    **base,
                    source=source,
                    target=target,
                    command=ctcp[0],
                    argument=ctcp[1],
                    is_reply=notice,
                )
            ]
        kind: ev.MessageKind = "notice" if notice else "privmsg"
        if ctcp is not None:
            kind, text = "action", ctcp[1]
        tags = base["tags"]
        return [
            ev.MessageEvent(
                **base,
                source=source,
                target=target,
                conversation=conversation,
                text=text,
                kind=kind,
                is_channel=is_channel,
                is_echo=is_echo,
                reply_to=tags.get("+draft/reply") or tags.get("+reply"),
            )
        ]

    _on_notice = _on_privmsg

    def _on_tagmsg(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params:
            return []
        source = self.source(line)
        target = line.params[0]
        bare_target = self._strip_statusmsg(target)
        is_channel = self.state.is_channel(bare_target)
        is_echo = self._is_me(source.nick)
        conversation = bare_target if is_channel else (target if is_echo else source.nick)
        return [
            ev.TagMessageEvent(
                **base,
                source=source,
                target=target,
                conversation=conversation,
                is_channel=is_channel,
                is_echo=is_echo,
            )
        ]

    def _on_join(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params or line.source is None:
            return []
        source = self.source(line)
        realname: str | None = None
        if len(line.params) >= 3:
            account = line.params[1]
            realname = line.params[2]
            source = ev.Source(
                nick=source.nick,
                user=source.user,
                host=source.host,
                account=None if account == "*" else account,
            )
        return [
            ev.JoinEvent(
                **base,
                source=source,
                channel=line.params[0],
                is_self=self._is_me(source.nick),
                realname=realname,
            )
        ]

    def _on_part(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params or line.source is None:
            return []
        source = self.source(line)
        reason = line.params[1] if len(line.params) > 1 else None
        return [
            ev.PartEvent(
                **base,
                source=source,
                channel=line.params[0],
                reason=reason,
                is_self=self._is_me(source.nick),
            )
        ]

    def _on_kick(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 2 or line.source is None:
            return []
        reason = line.params[2] if len(line.params) > 2 else None
        return [
            ev.KickEvent(
                **base,
                source=self.source(line),
                channel=line.params[0],
                nick=line.params[1],
                reason=reason,
                is_self=self._is_me(line.params[1]),
            )
        ]

    def _on_quit(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if line.source is None:
            return []
        source = self.source(line)
        if self._is_me(source.nick):
            return []
        return [
            ev.QuitEvent(
                **base,
                source=source,
                reason=line.params[0] if line.params else None,
                channels=self._shared_channels(source.nick),
            )
        ]

    def _on_nick(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params or line.source is None:
            return []
        source = self.source(line)
        return [
            ev.NickEvent(
                **base,
                source=source,
                new_nick=line.params[0],
                is_self=self._is_me(source.nick),
                channels=self._shared_channels(source.nick),
            )
        ]

    def _on_mode(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 2:
            return []
        target = line.params[0]
        is_channel = self.state.is_channel(target)
        if is_channel:
            changes = self.channel_mode_changes(line.params[1], line.params[2:])
        else:
            changes = tuple(
                ev.ModeChange(adding=adding, char=char)
                for adding, char in _mode_letters(line.params[1])
            )
        return [
            ev.ModeEvent(
                **base,
                source=self.source(line),
                target=target,
                changes=changes,
                is_channel=is_channel,
            )
        ]

    def channel_mode_changes(self, modes: str, params: list[str]) -> tuple[ev.ModeChange, ...]:
        """Interpret a channel mode string with the server's PREFIX and CHANMODES."""
        isupport = self.state.isupport
        remaining = list(params)
        changes: list[ev.ModeChange] = []
        for adding, char in _mode_letters(modes):
            if char in isupport.prefix.modes:
                nick = remaining.pop(0) if remaining else None
                changes.append(
                    ev.ModeChange(adding, char, nick, "prefix", isupport.prefix.from_mode(char))
                )
            elif char in isupport.chanmodes.a_modes:
                changes.append(ev.ModeChange(adding, char, _pop(remaining), "list"))
            elif char in isupport.chanmodes.b_modes or (
                adding and char in isupport.chanmodes.c_modes
            ):
                changes.append(ev.ModeChange(adding, char, _pop(remaining), "param"))
            elif char in isupport.chanmodes.c_modes:
                changes.append(ev.ModeChange(adding, char, None, "param"))
            else:
                changes.append(ev.ModeChange(adding, char))
        return tuple(changes)

    def _on_topic(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 2:
            return []
        return [
            ev.TopicEvent(
                **base,
                channel=line.params[0],
                topic=line.params[1],
                setter=self.source(line).nick,
            )
        ]

    def _on_away(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if line.source is None:
            return []
        message = line.params[0] if line.params else None
        return [ev.AwayEvent(**base, source=self.source(line), message=message)]

    def _on_chghost(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 2 or line.source is None:
            return []
        return [
            ev.ChghostEvent(
                **base,
                source=self.source(line),
                new_user=line.params[0],
                new_host=line.params[1],
            )
        ]

    def _on_account(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params or line.source is None:
            return []
        account = None if line.params[0] == "*" else line.params[0]
        return [ev.AccountEvent(**base, source=self.source(line), account=account)]

    def _on_setname(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params or line.source is None:
            return []
        return [ev.SetnameEvent(**base, source=self.source(line), realname=line.params[0])]

    def _on_invite(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 2 or line.source is None:
            return []
        return [
            ev.InviteEvent(
                **base,
                source=self.source(line),
                nick=line.params[0],
                channel=line.params[1],
                is_self=self._is_me(line.params[0]),
            )
        ]

    def _on_batch(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if not line.params or len(line.params[0]) < 2:
            return []
        sign, reference = line.params[0][0], line.params[0][1:]
        if sign == "+":
            batch_type = line.params[1] if len(line.params) > 1 else ""
            params = tuple(line.params[2:])
            label = (line.tags or {}).get("label")
            if len(self._batches) >= _MAX_OPEN_BATCHES:
                self._batches.pop(next(iter(self._batches)))
            self._batches[reference] = (batch_type, params, label)
            if base["batch"]:
                self._parent_batch[reference] = base["batch"]
            return [ev.BatchStartEvent(**base, reference=reference, type=batch_type, params=params)]
        if sign == "-":
            batch_type, params, label = self._batches.get(reference, ("", (), None))
            base["label"] = base["label"] or label
            event = ev.BatchEndEvent(**base, reference=reference, type=batch_type, params=params)
            self._batches.pop(reference, None)
            self._parent_batch.pop(reference, None)
            return [event]
        return []

    def batch_type(self, reference: str | None) -> str | None:
        """The type of the open batch ``reference``."""
        if reference is None or reference not in self._batches:
            return None
        return self._batches[reference][0]

    def _standard_reply(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 3:
            return []
        severity = cast(Literal["FAIL", "WARN", "NOTE"], line.command)
        return [
            ev.StandardReplyEvent(
                **base,
                severity=severity,
                command=line.params[0],
                code=line.params[1],
                context=tuple(line.params[2:-1]),
                description=line.params[-1],
            )
        ]

    _on_fail = _on_warn = _on_note = _standard_reply

    def _on_chathistory(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        if len(line.params) < 3 or line.params[0].upper() != "TARGETS":
            return []
        latest = parse_server_time(line.params[2].removeprefix("timestamp="))
        return [ev.ChatHistoryTargetEvent(**base, target=line.params[1], latest=latest)]

    def _on_numeric(self, line: irctokens.Line, base: dict[str, Any]) -> list[ev.IRCEvent]:
        code = line.command
        if code == "366" and len(line.params) >= 2:
            return self._channel_synced(line.params[1], base)
        if code == "332" and len(line.params) >= 3:
            return [
                ev.TopicEvent(**base, channel=line.params[1], topic=line.params[2], initial=True)
            ]
        if code in _QUIET_NUMERICS:
            return []
        return [
            ev.ReplyEvent(
                **base,
                code=code,
                params=tuple(line.params[1:]),
                is_error=code[0] in "45",
            )
        ]

    def _channel_synced(self, name: str, base: dict[str, Any]) -> list[ev.IRCEvent]:
        channel = self.state.get_channel(name)
        if channel is None:
            return []
        return [
            ev.ChannelSyncedEvent(
                **base,
                channel=channel.name,
                members=members_of(self.state, name),
                topic=channel.topic,
                topic_setter=channel.topic_setter,
                prefix_order="".join(self.state.isupport.prefix.prefixes),
            )
        ]


def members_of(state: ircstates.Server, name: str) -> tuple[ev.Member, ...]:
    """The members of channel ``name`` in ``state``, sorted by nick, with their status
    symbols in the server's PREFIX order."""
    channel = state.get_channel(name)
    if channel is None:
        return ()
    prefix = state.isupport.prefix
    members = []
    for folded, channel_user in channel.users.items():
        user = state.users.get(folded)
        symbols = "".join(
            symbol
            for mode, symbol in zip(prefix.modes, prefix.prefixes, strict=False)
            if mode in channel_user.modes
        )
        members.append(
            ev.Member(
                nick=channel_user.nickname,
                prefixes=symbols,
                user=user.username if user else None,
                host=user.hostname if user else None,
                account=(user.account or None) if user else None,
            )
        )
    members.sort(key=lambda member: member.nick.lower())
    return tuple(members)


def _mode_letters(modes: str) -> list[tuple[bool, str]]:
    adding = True
    letters: list[tuple[bool, str]] = []
    for char in modes:
        if char == "+":
            adding = True
        elif char == "-":
            adding = False
        else:
            letters.append((adding, char))
    return letters


def _pop(params: list[str]) -> str | None:
    return params.pop(0) if params else None
